// `ual elicit`: rate every training row's open-endedness (0–99) with a stronger LLM, cached and resumable.
// Parses flags, shows progress on stderr and prints the summary; the run is src/pipeline/elicit.ts.
import cliProgress from 'cli-progress';
import { fmtDuration } from './progress.js';
import type { ElicitProgress, ElicitSummary } from '../uncertainty/elicit.js';
import { checkElicited, ELICIT_FLAGS, elicitBatchStatus, elicitScores } from '../pipeline/elicit.js';
import { formatBatchStatus } from '../uncertainty/batch/options.js';
import { flags } from '../util/options.js';
import { finish, jsonFlag, tableCommand, type Command } from './command.js';

const NAME = 'elicit';

const OPTIONS = flags({
  ...ELICIT_FLAGS,
  progressEvery: { flag: 'progress-every', kind: 'number', arg: 'S', min: 0.01, default: 10, group: 'reporting', help: 'seconds between progress lines when stderr is not a terminal' },
  ...jsonFlag('the summary', 'reporting'),
});

const HEAD = `usage: ual elicit --data DATA.jsonl --out SCORED.jsonl --model NAME [options]

Asks a stronger LLM (any OpenAI-compatible server) how open-ended each row is, 0-99, and writes every row,
in order, with "uncertainty" and "uncertainty_method" added. Answers are cached as they arrive: rerunning the
same command after a crash continues where it stopped and never pays for a row twice.`;

function fmtCount(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e4 ? `${(n / 1e3).toFixed(0)}k` : String(n);
}

function stats(p: ElicitProgress): { rps: string; eta: string; tokens: string; cost: string } {
  const secs = p.elapsedMs / 1000;
  const rated = p.done - p.skipped;
  const eta = rated > 0 ? ((p.total - p.done) * secs) / rated : Infinity;
  return {
    rps: secs > 0 ? (p.requests / secs).toFixed(1) : '0.0',
    eta: p.done >= p.total ? '0s' : fmtDuration(eta),
    tokens: fmtCount(p.promptTokens + p.completionTokens),
    cost: p.costUsd === null ? '' : ` | $${p.costUsd.toFixed(4)}`,
  };
}

/** --batch: the batches being polled, one line per poll (polls are seconds to minutes apart). */
function batchLine(p: ElicitProgress): string {
  const b = p.batch!;
  return `elicit: batch ${b.completed + b.failed}/${b.total} requests done, ${b.failed} failed | ${b.batches} batch${b.batches === 1 ? '' : 'es'} ` +
    `${b.status} | ${fmtDuration(b.elapsedMs / 1000)} | ETA ${fmtDuration(b.etaS)}\n`;
}

/** A bar on a terminal; on a pipe or file, one plain line every few seconds instead of control characters. */
function progressReporter(everyS: number): { update(p: ElicitProgress): void; stop(p: ElicitProgress | null): void } {
  let last: ElicitProgress | null = null;
  let lastBatch = '';
  const batch = (p: ElicitProgress): boolean => {
    if (p.phase !== 'batch') return false;
    const line = batchLine(p);
    if (line !== lastBatch) process.stderr.write(line);
    lastBatch = line;
    return true;
  };
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar({
      stream: process.stderr, hideCursor: true, fps: 5,
      format: 'elicit {bar} {value}/{total} rows | {rps} req/s | retries {retries} | tokens {tokens}{cost} | ETA {etaText}',
    }, cliProgress.Presets.shades_classic);
    let started = false;
    return {
      update(p) {
        if (batch(p) || p.phase !== 'rate') return;
        const s = stats(p);
        const payload = { rps: s.rps, tokens: s.tokens, cost: s.cost, etaText: s.eta, retries: p.retries };
        if (!started) { bar.start(p.total, p.done, payload); started = true; } else bar.update(p.done, payload);
      },
      stop() { if (started) bar.stop(); },
    };
  }
  const line = (p: ElicitProgress) => {
    const s = stats(p);
    const pct = p.total ? ((100 * p.done) / p.total).toFixed(1) : '100.0';
    process.stderr.write(`elicit: ${p.done}/${p.total} rows (${pct}%) | ${s.rps} req/s | retries ${p.retries} | ` +
      `failed ${p.failed} | tokens ${s.tokens}${s.cost} | ETA ${s.eta}\n`);
  };
  const timer = setInterval(() => { if (last && last.phase === 'rate') line(last); }, everyS * 1000);
  timer.unref();
  return {
    update(p) { if (!batch(p)) last = p; },
    stop(p) { clearInterval(timer); if (p && p.phase !== 'check' && p.total > 0) line(p); },
  };
}

function report(s: ElicitSummary): string {
  if (s.dry_run) {
    const e = s.estimate!;
    const cost = e.cost_usd === null ? 'pass --price-in/--price-out for a cost estimate' : `estimated cost $${e.cost_usd.toFixed(4)}`;
    return `elicit (dry run, nothing sent): ${s.rows} rows, ${s.cached} already cached; ${e.rows} to rate with ` +
      `${s.method}: ~${e.requests} requests, ~${fmtCount(e.prompt_tokens)} prompt + ~${fmtCount(e.completion_tokens)} completion tokens; ${cost}`;
  }
  const cost = s.cost_usd === null ? '' : `, $${s.cost_usd.toFixed(4)}${s.batch ? ' (batch price on batched tokens)' : ''}`;
  const batched = s.batch ? `${s.batch.requests} requests in ${s.batch.batches} new batches (${s.batch.failed} unanswered), ` : '';
  return `elicit: ${s.rows} rows: ${s.cached} cached, ${s.scored} scored, ${s.failed} failed; ${batched}${s.requests} ${s.batch ? 'online ' : ''}requests, ` +
    `${s.retries} retries, ${s.reasks} re-asks; ${fmtCount(s.prompt_tokens + s.completion_tokens)} tokens${cost}; ` +
    `${s.elapsed_s.toFixed(1)} s` + (s.out ? `; wrote ${s.out}` : '') + (s.failed_file && s.failed ? `; failed rows in ${s.failed_file}` : '');
}

export const command: Command = tableCommand({
  name: NAME,
  summary: 'rate each row\'s uncertainty (0-99) with a stronger LLM; cached, resumable',
  head: HEAD,
  options: OPTIONS,
  async run(o) {
    if (o.batchStatus) {
      const r = await elicitBatchStatus(o);
      return finish(formatBatchStatus(r), r, o.json);
    }
    const progress = progressReporter(o.progressEvery);
    let lastProgress: ElicitProgress | null = null;
    let summary: ElicitSummary;
    try {
      summary = await elicitScores(o, (p) => { lastProgress = p; progress.update(p); });
    } finally {
      progress.stop(lastProgress);
    }
    finish(report(summary), summary, o.json);
    checkElicited(summary, o);
    return 0;
  },
});
