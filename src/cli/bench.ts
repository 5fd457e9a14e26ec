// `ual bench train|generate|text|elicit|all`: training throughput of our engine beside PyTorch (same machine, same
// run), decoding, text training, elicitation; `all` (what `npm run bench` runs) prints markdown for BENCHMARKS.md.
import { benchAll, textBenchSpec, type BenchAllResult } from '../pipeline/bench-all.js';
import { benchTextTrain, benchTrain } from '../pipeline/bench.js';
import { benchGenerate } from '../eval/speed.js';
import { benchElicit, PUBLISHED_ELICIT_CASES } from '../uncertainty/bench.js';
import { flags } from '../util/options.js';
import { finish, groupCommand, jsonFlag, printJson, tableCommand, type Command } from './command.js';

const QUICK = flags({ quick: { flag: 'quick', kind: 'bool', help: 'fewer steps and rows: a smoke run' } });

const train = tableCommand({
  name: 'bench train',
  summary: 'times full training steps (forward, backward, AdamW) after warm-up',
  head: 'usage: ual bench train --arch gpt2|llama --layers N --d N --heads N [--kv-heads N] --vocab N --seq T --batch-size B\n' +
    '                       --steps S [--warmup W] [--json]',
  options: flags({
    arch: { flag: 'arch', kind: ['gpt2', 'llama'], required: true, help: 'the architecture' },
    layers: { flag: 'layers', kind: 'int', min: 1, required: true, help: 'transformer blocks' },
    d: { flag: 'd', kind: 'int', min: 1, required: true, help: 'hidden size' },
    heads: { flag: 'heads', kind: 'int', min: 1, required: true, help: 'attention heads' },
    kvHeads: { flag: 'kv-heads', kind: 'int', min: 1, help: 'key/value heads (llama)' },
    vocab: { flag: 'vocab', kind: 'int', min: 1, required: true, help: 'vocabulary size' },
    seq: { flag: 'seq', kind: 'int', min: 1, required: true, arg: 'T', help: 'tokens per row' },
    batchSize: { flag: 'batch-size', kind: 'int', min: 1, required: true, arg: 'B', help: 'rows per step' },
    steps: { flag: 'steps', kind: 'int', min: 1, required: true, arg: 'S', help: 'timed steps' },
    warmup: { flag: 'warmup', kind: 'int', min: 1, default: 2, arg: 'W', help: 'untimed steps first' },
    ...jsonFlag('{"tokens_per_s", "step_ms", "peak_rss_mb", ...}'),
  }),
  async run(o) {
    const r = benchTrain({ ...o, ctx: Math.max(o.seq, 64) });
    return finish(`${r.engine}: ${r.tokens_per_s.toFixed(0)} tokens/s, ${r.step_ms.toFixed(1)} ms/step, ${r.achieved_gflops.toFixed(1)} GFLOP/s, peak RSS ${r.peak_rss_mb.toFixed(0)} MB`, r, o.json);
  },
});

const generate = tableCommand({
  name: 'bench generate',
  summary: 'greedy decoding with the KV cache, tokens/s',
  head: 'usage: ual bench generate --model DIR [--prompt-len N] [--new-tokens N] [--batch B] [--json]',
  options: flags({
    model: { flag: 'model', kind: 'string', arg: 'DIR', required: true, help: 'the checkpoint' },
    promptLen: { flag: 'prompt-len', kind: 'int', min: 1, default: 32, help: 'prompt tokens' },
    newTokens: { flag: 'new-tokens', kind: 'int', min: 1, default: 32, help: 'tokens generated' },
    batch: { flag: 'batch', kind: 'int', min: 1, default: 1, arg: 'B', help: 'prompts decoded together' },
    ...jsonFlag('{"tokens_per_s", "prefill_ms", ...}'),
  }),
  async run(o) {
    const r = benchGenerate(o.model, { promptLen: o.promptLen, newTokens: o.newTokens, batch: o.batch });
    return finish(`decoding: ${r.tokens_per_s.toFixed(1)} new tokens/s (batch ${r.batch}), prefill ${r.prefill_ms.toFixed(1)} ms`, r, o.json);
  },
});

const text = tableCommand({
  name: 'bench text',
  summary: 'text training end to end (read, template, tokenize, collate, train) vs the same rows pretokenized',
  head: 'usage: ual bench text [--quick] [--json]',
  options: flags({ ...QUICK, ...jsonFlag('{"text_tokens_per_s", "pretokenized_tokens_per_s", "ratio", ...}') }),
  async run(o) {
    const r = await benchTextTrain(textBenchSpec(o.quick));
    return finish(`text ${r.text_tokens_per_s.toFixed(0)} tokens/s vs pretokenized ${r.pretokenized_tokens_per_s.toFixed(0)} tokens/s: ratio ${r.ratio.toFixed(3)} over ${r.tokens} tokens`, r, o.json);
  },
});

const elicit = tableCommand({
  name: 'bench elicit',
  summary: 'elicitation against a local judge: throughput vs the concurrency bound, RSS over many streamed rows',
  head: 'usage: ual bench elicit [--rows N [--concurrency C] [--latency-ms L]] [--json]\n\n' +
    'Without --rows: the two published cases (3,200 rows at concurrency 32 and 200 ms; 100k rows at 64 and 0 ms).',
  options: flags({
    rows: { flag: 'rows', kind: 'int', min: 1, help: 'rows of one custom case' },
    concurrency: { flag: 'concurrency', kind: 'int', min: 1, default: 32, arg: 'C', help: 'requests in flight' },
    latencyMs: { flag: 'latency-ms', kind: 'number', min: 0, default: 200, arg: 'L', help: 'the judge\'s reply time' },
    ...jsonFlag('{"cases": [...]}'),
  }),
  async run(o) {
    const cases = o.rows !== undefined ? [{ rows: o.rows, concurrency: o.concurrency, latencyMs: o.latencyMs }] : PUBLISHED_ELICIT_CASES;
    const results = [];
    for (const c of cases) {
      const r = await benchElicit(c);
      const bound = Number.isFinite(r.boundRps) ? `, bound ${r.boundRps.toFixed(0)} req/s, ${(100 * r.ratio).toFixed(1)}% of bound ` +
        `(bare SDK loop on this machine now: ${r.baselineRps.toFixed(1)} req/s, ${r.baselineCpuMsPerRequest} ms CPU/request)` : '';
      process.stderr.write(`elicit bench: ${c.rows} rows, concurrency ${c.concurrency}, latency ${c.latencyMs} ms: ` +
        `${r.rps.toFixed(1)} req/s${bound}; RSS start ${r.rssMbStart} MB, peak ${r.rssMbPeak} MB, end ${r.rssMbEnd} MB ` +
        `(heap peak ${r.heapMbPeak} MB); client CPU ${r.cpuMsPerRequest} ms/request; ${r.elapsedS.toFixed(1)} s\n`);
      results.push({ ...c, ...r, boundRps: Number.isFinite(r.boundRps) ? r.boundRps : null });
    }
    if (o.json) printJson({ bench: 'elicit', cases: results });
    return 0;
  },
});

/** The markdown tables of `ual bench all`, to paste into BENCHMARKS.md. */
function markdown(b: BenchAllResult): string {
  const md: string[] = [
    `| model | ours tokens/s | PyTorch tokens/s (1 thread) | ratio | ours ms/step | achieved GFLOP/s | ours peak RSS MB | PyTorch peak RSS MB |`,
    `|---|---|---|---|---|---|---|---|`,
  ];
  for (const r of b.train) {
    md.push(`| ${r.name} | ${r.ours.tokens_per_s.toFixed(0)} | ${r.torch ? r.torch.tokens_per_s.toFixed(0) : 'n/a'} | ` +
      `${r.ratio ? r.ratio.toFixed(2) + '×' : 'n/a'} | ${r.ours.step_ms.toFixed(1)} | ${r.ours.achieved_gflops.toFixed(1)} | ` +
      `${r.ours.peak_rss_mb.toFixed(0)} | ${r.torch ? r.torch.peak_rss_mb.toFixed(0) : 'n/a'} |`);
  }
  md.push('', `| GEMM (M x N x K, A·Bᵀ) | GFLOP/s |`, `|---|---|`, ...b.gemm.map((g) => `| ${g.shape} | ${g.gflops.toFixed(1)} |`));
  md.push('', '| decoding | batch | ours new tokens/s (KV cache) | prefill ms | PyTorch new tokens/s (torch_ref greedy, no cache, 1 thread) |',
    '|---|---|---|---|---|',
    ...b.generate.map((g) => `| ${g.name} | ${g.batch} | ${g.tokens_per_s.toFixed(1)} | ${g.prefill_ms.toFixed(1)} | ${g.torch_tokens_per_s ? g.torch_tokens_per_s.toFixed(1) : '—'} |`));
  const t = b.text;
  md.push('', '| text training (llama 2 layers d 128, Qwen vocab, paper template, batch 8) | rows | tokens | text tokens/s | pretokenized tokens/s | ratio |',
    '|---|---|---|---|---|---|',
    `| read + tokenize + collate + train, one pass | ${t.rows} | ${t.tokens} | ${t.text_tokens_per_s.toFixed(0)} | ${t.pretokenized_tokens_per_s.toFixed(0)} | ${t.ratio.toFixed(3)} |`);
  const e = b.elicit;
  md.push('', '| elicitation (local judge, 200 ms latency, concurrency 32) | req/s | bound | % of bound | RSS start / peak / end MB |',
    '|---|---|---|---|---|',
    `| ${e.rows} rows | ${e.rps.toFixed(1)} | ${e.boundRps.toFixed(0)} | ${(100 * e.ratio).toFixed(1)}% | ${e.rssMbStart} / ${e.rssMbPeak} / ${e.rssMbEnd} |`);
  return md.join('\n');
}

const all = tableCommand({
  name: 'bench all',
  summary: 'every bench above, beside PyTorch where it runs; markdown tables for BENCHMARKS.md',
  head: 'usage: ual bench all [--quick] [--json]\n\n' +
    'GEMM GFLOP/s, then the tiny GPT/Llama and the GPT-2-124M shape beside PyTorch (1 torch thread), each in its\n' +
    'own process; decoding speed; text training; the elicitation bench. Prints markdown tables (paste them into BENCHMARKS.md).',
  options: flags({ ...QUICK, ...jsonFlag('every measurement') }),
  async run(o) {
    const b = await benchAll(o.quick, (line) => process.stderr.write(line + '\n'));
    process.stdout.write(markdown(b) + '\n');
    if (o.json) printJson(b);
    return 0;
  },
});

export const command: Command = groupCommand('bench', 'time training steps beside PyTorch; GEMM GFLOP/s', ['benchmark', 'benchmarks'],
  'usage: ual bench <benchmark> [options]', { train, generate, text, elicit, all });
