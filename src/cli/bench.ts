// `ual bench train|generate|text|elicit|all`: training throughput of our engine beside PyTorch at its best thread
// setting (same machine, same run), decoding, text training, elicitation; `all` (what `npm run bench` runs) prints markdown for BENCHMARKS.md.
import { benchAll, compareShape, textBenchSpec, type BenchAllResult, type TrainRow } from '../pipeline/bench-all.js';
import { benchTextTrain, benchTrain, TRAIN_BENCH_FLAGS, trainBenchSpec } from '../pipeline/bench.js';
import { torchUnavailable } from '../pipeline/torchref.js';
import { benchGenerate } from '../eval/speed.js';
import { benchElicit, PUBLISHED_ELICIT_CASES } from '../uncertainty/bench.js';
import { flags } from '../util/options.js';
import { finish, groupCommand, jsonFlag, printJson, tableCommand, type Command } from './command.js';

const QUICK = flags({ quick: { flag: 'quick', kind: 'bool', help: 'fewer steps and rows: a smoke run' } });

const train = tableCommand({
  name: 'bench train',
  summary: 'times training steps (forward, backward, AdamW; LoRA with --lora-r) beside PyTorch at its best setting',
  head: 'usage: ual bench train --arch gpt2|llama --layers N --d N --heads N [--kv-heads N] --vocab N [--ffn N] [--tie]\n' +
    '                       [--bias-qkv] --seq T --batch-size B --steps S [--warmup W] [--lora-r R [--lora-targets LIST]]\n' +
    '                       [--base-dtype fp32|bf16] [--no-torch] [--engine reference|torch] [--json]\n' +
    '       ual bench train --preset qwen2.5-0.5b --seq T --batch-size B --steps S [--lora-r R] ...\n\n' +
    'Ours in a child process, then PyTorch (torch_ref.py bench, or scripts/lora_ref.py bench with --lora-r; with\n' +
    '--engine torch the torch engine\'s worker through torchrun, timed from its step events) at each\n' +
    'torch.set_num_threads setting, the fastest reported; one round (`ual bench all` runs two and takes medians).',
  options: flags({
    ...TRAIN_BENCH_FLAGS,
    noTorch: { flag: 'no-torch', kind: 'bool', help: 'ours only, in this process (what `ual bench all` runs in its children)' },
    engine: { flag: 'engine', kind: ['reference', 'torch'], default: 'reference', help: 'the PyTorch side: reference (torch_ref.py / lora_ref.py) or torch (ual train --engine torch\'s worker, 1 rank)' },
    ...jsonFlag('{"ours": {"tokens_per_s", "first_step_ms", ...}, "torch": {...} | null, ...}; with --no-torch ours alone'),
  }),
  async run(o) {
    const spec = trainBenchSpec(o);
    if (o.noTorch) {
      const r = benchTrain(spec);
      return finish(`${r.engine}: ${r.tokens_per_s.toFixed(0)} tokens/s, ${r.step_ms.toFixed(1)} ms/step (first ${r.first_step_ms.toFixed(1)}; before it optimizer setup ${r.optimizer_setup_ms.toFixed(0)} ms, memory plan ${r.memory_plan_ms.toFixed(0)} ms for ${r.planned_mb.toFixed(0)} MB), ` +
        `${r.achieved_gflops.toFixed(1)} GFLOP/s, peak RSS ${r.peak_rss_mb.toFixed(0)} MB`, r, o.json);
    }
    const why = torchUnavailable();
    if (why) process.stderr.write(`PyTorch side skipped: ${why}\n`);
    const row = await compareShape(`${spec.arch} ${spec.layers} layers, d ${spec.d}, T ${spec.seq}, B ${spec.batchSize}${spec.lora ? `, LoRA r ${spec.lora.r}` : ''}${spec.baseDtype === 'bf16' ? ', bf16 base' : ''}` +
      `${o.engine === 'torch' ? ' (PyTorch: the torch engine)' : ''}`, spec, why ? null : o.steps, 1, (line) => process.stderr.write(line + '\n'), o.engine);
    process.stdout.write(trainMarkdown([row]) + '\n');
    if (spec.baseDtype === 'bf16' && row.torch) process.stdout.write(`\nPyTorch's side: ${row.torch.engine}\n`);
    if (o.json) printJson(row);
    return 0;
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

/** The training table: ours beside PyTorch at its best setting, then every PyTorch setting tried and every run. */
function trainMarkdown(rows: TrainRow[]): string {
  const md = [
    '| model | ours tokens/s | PyTorch tokens/s (best setting) | PyTorch setting | ratio | ours first step / median ms (before step 1: optimizer setup + memory plan) | achieved GFLOP/s | ours peak RSS MB | PyTorch peak RSS MB |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const o = r.ours, t = r.torch;
    md.push(`| ${r.name} | ${o.tokens_per_s.toFixed(0)} | ${t ? t.tokens_per_s.toFixed(0) : 'n/a'} | ${t ? `${t.threads} thread${t.threads > 1 ? 's' : ''}` : 'n/a'} | ` +
      `${r.ratio ? r.ratio.toFixed(2) + '×' : 'n/a'} | ${o.first_step_ms.toFixed(1)} / ${o.step_ms.toFixed(1)} (${o.optimizer_setup_ms.toFixed(0)} + ${o.memory_plan_ms.toFixed(0)}) | ${o.achieved_gflops.toFixed(1)} | ` +
      `${o.peak_rss_mb.toFixed(0)} | ${t ? t.peak_rss_mb.toFixed(0) : 'n/a'} |`);
  }
  const runs = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(', ');
  md.push('', `Medians of ${rows[0]?.ours_runs.length ?? 0} run(s) per side; tokens/s of each run, and every PyTorch setting tried (the best marked):`, '');
  for (const r of rows) {
    const tried = r.torch ? r.torch.tried.map((x) => `${x.setting} ${x.tokens_per_s.toFixed(0)} [${runs(x.runs)}]${x.setting === r.torch!.setting ? ' ← best' : ''}`).join('; ') : 'not run';
    md.push(`- ${r.name}: ours [${runs(r.ours_runs.map((x) => x.tokens_per_s))}]; PyTorch: ${tried}`);
  }
  return md.join('\n');
}

/** The markdown tables of `ual bench all`, to paste into BENCHMARKS.md. */
function markdown(b: BenchAllResult): string {
  const md: string[] = [trainMarkdown(b.train)];
  md.push('', `| GEMM (M x N x K, A·Bᵀ) | GFLOP/s | B a bf16 weight (widened per block) GFLOP/s |`, `|---|---|---|`,
    ...b.gemm.map((g) => `| ${g.shape} | ${g.gflops.toFixed(1)} | ${g.bf16_gflops.toFixed(1)} |`));
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
    'GEMM GFLOP/s, then the tiny GPT/Llama, the GPT-2-124M shape and LoRA r 8 on the Qwen2.5-0.5B shape beside PyTorch\n' +
    'at its best torch.set_num_threads setting (every setting tried is listed), each shape twice with ours and PyTorch\n' +
    'alternating (medians reported, both runs kept), each in its own process; decoding speed; text training; the\n' +
    'elicitation bench. Prints markdown tables (paste them into BENCHMARKS.md).',
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
