// Multiple choice by log-likelihood, the lm-evaluation-harness way: each choice is scored as the continuation
// " <choice>" of the prompt; acc takes the largest summed log-probability, acc_norm the largest per character of
// the choice text (harness: `lls / [len(choice) for choice in choices]`, the delimiter space not counted).
import type { CausalLM } from '../models/index.js';
import { round, wilson } from '../util/stats.js';
import { forwardSequences, rowStats, type BatchOptions } from './batch.js';
import type { McRow } from './rows.js';
import { encodePair, type TextCodec } from './text.js';

export interface McOptions extends BatchOptions {
  /** how a row becomes the context, with {question} (harness ARC format by default) */
  template?: string;
  /** solved examples put first: "<context> <gold choice>" joined by blank lines (harness fewshot_delimiter) */
  fewshot?: McRow[];
  /** between context and choice (harness target_delimiter) */
  delimiter?: string;
  /** longest input the model takes; longer requests lose context from the left, as in the harness */
  maxLength: number;
}

export const MC_TEMPLATE = 'Question: {question}\nAnswer:';

export interface LoglikelihoodRequest {
  context: number[];
  continuation: number[];
}

export interface Loglikelihood {
  /** sum of log p(continuation token | everything before it) */
  ll: number;
  /** every continuation token is the argmax (the harness's is_greedy) */
  greedy: boolean;
}

/** Log-likelihood of each continuation given its context; batched, right-padded, left-truncated to maxLength. */
export function loglikelihoods(model: CausalLM, reqs: readonly LoglikelihoodRequest[], o: BatchOptions & { maxLength: number }): Loglikelihood[] {
  const inputs: number[][] = [];
  const n: number[] = [];
  reqs.forEach((r, i) => {
    if (r.continuation.length === 0) throw new Error(`loglikelihood request ${i} has an empty continuation`);
    if (r.continuation.length > o.maxLength) {
      throw new Error(`loglikelihood request ${i}: the continuation alone (${r.continuation.length} tokens) exceeds the model's ${o.maxLength} positions`);
    }
    // harness: (context + continuation)[-(max_length + 1):][:-1]
    const whole = [...r.context, ...r.continuation].slice(-(o.maxLength + 1));
    inputs.push(whole.slice(0, -1));
    n.push(r.continuation.length);
  });
  const out: Loglikelihood[] = new Array(reqs.length);
  forwardSequences(model, inputs, o, (s) => {
    const cont = reqs[s.index].continuation;
    const k = n[s.index];
    let ll = 0;
    let greedy = true;
    for (let j = 0; j < k; j++) {
      const pos = s.T - k + j; // this position's logits predict continuation token j
      const st = rowStats(s.logits, s.off + pos * s.V, s.V);
      ll += s.logits[s.off + pos * s.V + cont[j]] - st.lse;
      if (st.argmax !== cont[j]) greedy = false;
    }
    out[s.index] = { ll, greedy };
  });
  return out;
}

export interface McRowResult {
  line: number;
  gold: number;
  lls: number[];
  pred: number;
  pred_norm: number;
  acc: number;
  acc_norm: number;
}

export interface McResult {
  n: number;
  acc: number;
  acc_norm: number;
  acc_ci95: [number, number];
  acc_norm_ci95: [number, number];
  rows: McRowResult[];
}

/** np.argmax: the first maximum. */
function argmax(xs: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}

/** Python's len(): code points, not UTF-16 units, so "é" and emoji count once as in the harness. */
export function charLength(s: string): number {
  return [...s].length;
}

export function mcContext(row: McRow, o: Pick<McOptions, 'template' | 'fewshot' | 'delimiter'>): string {
  const fmt = (r: McRow) => (o.template ?? MC_TEMPLATE).replace(/\{question\}/g, r.question);
  const d = o.delimiter ?? ' ';
  const shots = (o.fewshot ?? []).map((s) => fmt(s) + d + s.choices[s.answer]);
  return shots.length ? shots.join('\n\n') + '\n\n' + fmt(row) : fmt(row);
}

export function scoreMc(model: CausalLM, codec: TextCodec, rows: readonly McRow[], o: McOptions): McResult {
  const d = o.delimiter ?? ' ';
  const reqs: LoglikelihoodRequest[] = [];
  for (const row of rows) {
    const ctx = mcContext(row, o);
    for (const c of row.choices) {
      const [context, continuation] = encodePair(codec, ctx, d + c);
      reqs.push({ context, continuation });
    }
  }
  const lls = loglikelihoods(model, reqs, o);
  let k = 0;
  const results = rows.map((row): McRowResult => {
    const ll = row.choices.map(() => lls[k++].ll);
    const pred = argmax(ll);
    const predNorm = argmax(ll.map((x, i) => x / charLength(row.choices[i])));
    return { line: row.line, gold: row.answer, lls: ll, pred, pred_norm: predNorm, acc: pred === row.answer ? 1 : 0, acc_norm: predNorm === row.answer ? 1 : 0 };
  });
  const n = results.length;
  const acc = results.reduce((s, r) => s + r.acc, 0);
  const accNorm = results.reduce((s, r) => s + r.acc_norm, 0);
  const ci = (x: number): [number, number] => wilson(x, n).map((v) => round(v)) as [number, number];
  return { n, acc: round(acc / n), acc_norm: round(accNorm / n), acc_ci95: ci(acc), acc_norm_ci95: ci(accNorm), rows: results };
}
