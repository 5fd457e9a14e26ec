// Benchmarks: full training steps (forward, backward, AdamW) of our engine, timed after warm-up, beside PyTorch on
// the same checkpoint and the same machine; plus the raw GEMM ceiling. `npm run bench` runs them all.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AdamW, backward, activeKernels, backendName, smoothedCrossEntropy } from '../engine/index.js';
import { initConfigJson, initModel, type InitSpec } from '../models/index.js';
import { nativeInfo } from '../engine/backends/native.js';
import { Rng } from '../util/rng.js';

export interface TrainBenchSpec extends InitSpec {
  seq: number;
  batchSize: number;
  steps: number;
  warmup?: number;
}

export interface TrainBenchResult {
  engine: string;
  tokens_per_s: number;
  step_ms: number;
  peak_rss_mb: number;
  params: number;
  gflop_per_step: number;
  achieved_gflops: number;
}

/** Training FLOPs per step: 6 per parameter-token in the matmuls (incl. the lm_head) + causal attention scores. */
export function trainFlopsPerStep(s: TrainBenchSpec, matmulParams: number): number {
  const tokens = s.batchSize * s.seq;
  const attn = 6 * 2 * s.layers * s.seq * s.d * tokens; // QK^T and PV, forward (2) + backward (4), full T x T
  return 6 * matmulParams * tokens + attn;
}

function peakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/** Time `steps` training steps after `warmup` untimed ones; median step time. */
export function benchTrain(s: TrainBenchSpec): TrainBenchResult {
  const model = initModel(initConfigJson(s), 0);
  const params = model.parameters();
  const V = s.vocab;
  const rng = new Rng(1);
  const ids = new Int32Array(s.batchSize * s.seq);
  for (let i = 0; i < ids.length; i++) ids[i] = Math.floor(rng.next() * V);
  const eps = new Float32Array(s.batchSize).fill(0.1);
  const opt = new AdamW(params, { lr: 1e-4 });
  const step = () => {
    opt.zeroGrad();
    const { logits } = model.forward(ids, s.batchSize, s.seq);
    const loss = smoothedCrossEntropy(logits, ids, eps, 'paper');
    backward(loss);
    opt.step();
  };
  for (let i = 0; i < (s.warmup ?? 2); i++) step();
  const times: number[] = [];
  for (let i = 0; i < s.steps; i++) {
    const t = performance.now();
    step();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const med = times[Math.floor(times.length / 2)];
  let total = 0;
  let matmul = 0; // parameters used in matmuls: 2-D tensors but the embedding tables, plus a tied lm_head
  for (const [name, p] of model.namedParameters()) {
    total += p.size;
    if (p.shape.length === 2 && !/wpe|wte|embed_tokens/.test(name)) matmul += p.size;
  }
  if (model.config.tieWordEmbeddings) matmul += V * s.d;
  const gflop = trainFlopsPerStep(s, matmul) / 1e9;
  const info = nativeInfo();
  return {
    engine: `ual ${backendName()}${info ? ` (${info.openblas ? 'OpenBLAS' : 'portable GEMM'}, ${info.threads} threads)` : ''}`,
    tokens_per_s: (s.batchSize * s.seq) / (med / 1000),
    step_ms: med,
    peak_rss_mb: peakRssMb(),
    params: total,
    gflop_per_step: gflop,
    achieved_gflops: gflop / (med / 1000),
  };
}

/** Write a fresh checkpoint for PyTorch to load (the same architecture; weights need not match for timing). */
export function writeBenchCheckpoint(s: InitSpec): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-bench-'));
  initModel(initConfigJson(s), 0).save(dir);
  return dir;
}

/** GEMM GFLOP/s of the active kernels for C(M,N) = A(M,K) B(K,N)^T, as the linear layers call it. */
export function benchGemm(M: number, N: number, K: number, reps = 5): number {
  const k = activeKernels();
  const A = new Float32Array(M * K).fill(0.01);
  const B = new Float32Array(N * K).fill(0.02);
  const C = new Float32Array(M * N);
  k.gemm(false, true, M, N, K, 1, A, 0, B, 0, 0, C, 0, 1, 0, 0, 0);
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    k.gemm(false, true, M, N, K, 1, A, 0, B, 0, 0, C, 0, 1, 0, 0, 0);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return (2 * M * N * K) / (times[Math.floor(reps / 2)] / 1000) / 1e9;
}
