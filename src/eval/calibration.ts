// Perplexity and calibration of next-token predictions on held-out rows: NLL over the target tokens, and expected
// calibration error over 15 equal-width confidence bins (Guo et al. 2017) with a reliability diagram, the place
// where label smoothing's effect shows most directly.
import type { CausalLM } from '../models/index.js';
import { esc } from '../util/escape.js';
import { round } from '../util/stats.js';
import { forwardSequences, rowStats, type BatchOptions } from './batch.js';
import type { TokenSeq } from './rows.js';
import { f, svgDoc, text } from './svg.js';

export const ECE_BINS = 15;

export interface Bin {
  /** (lo, hi]: a confidence of exactly lo belongs to the bin below */
  lo: number;
  hi: number;
  count: number;
  /** mean max-probability of the bin's tokens */
  confidence: number;
  /** fraction whose argmax was the target */
  accuracy: number;
}

export interface TokenScores {
  rows: number;
  tokens: number;
  /** mean negative log-likelihood per target token (nats) */
  nll: number;
  ppl: number;
  /** top-1 next-token accuracy */
  accuracy: number;
  avg_confidence: number;
  ece: number;
  /** the largest |accuracy - confidence| of a non-empty bin */
  mce: number;
  bins: Bin[];
}

/** The bin of a confidence: (i/n, (i+1)/n], edges as numpy.linspace(0, 1, n + 1) computes them. */
export function binOf(conf: number, n = ECE_BINS): number {
  const edge = (i: number) => i / n;
  let b = Math.min(n - 1, Math.max(0, Math.ceil(conf * n) - 1));
  while (b > 0 && conf <= edge(b)) b--;
  while (b < n - 1 && conf > edge(b + 1)) b++;
  return b;
}

/** Accumulates (confidence, correct) pairs into bins and finishes with ECE: sum_b |B_b|/N * |acc_b - conf_b|. */
export class CalibrationBins {
  readonly count: Float64Array;
  readonly confSum: Float64Array;
  readonly correct: Float64Array;

  constructor(readonly n = ECE_BINS) {
    this.count = new Float64Array(n);
    this.confSum = new Float64Array(n);
    this.correct = new Float64Array(n);
  }

  add(confidence: number, correct: boolean): void {
    const b = binOf(confidence, this.n);
    this.count[b]++;
    this.confSum[b] += confidence;
    if (correct) this.correct[b]++;
  }

  bins(): Bin[] {
    return Array.from({ length: this.n }, (_, b) => ({
      lo: b / this.n, hi: (b + 1) / this.n, count: this.count[b],
      confidence: this.count[b] ? this.confSum[b] / this.count[b] : 0,
      accuracy: this.count[b] ? this.correct[b] / this.count[b] : 0,
    }));
  }

  ece(): { ece: number; mce: number } {
    let N = 0;
    for (const c of this.count) N += c;
    let ece = 0, mce = 0;
    for (const b of this.bins()) {
      if (!b.count) continue;
      const gap = Math.abs(b.accuracy - b.confidence);
      ece += (b.count / N) * gap;
      mce = Math.max(mce, gap);
    }
    return { ece, mce };
  }
}

/**
 * Split a sequence longer than maxLen into windows that overlap by one token, so every target after the first
 * token is predicted exactly once and always with at least one token of context.
 */
export function windows(seq: TokenSeq, maxLen: number): TokenSeq[] {
  if (seq.ids.length <= maxLen) return [seq];
  const out: TokenSeq[] = [];
  for (let s = 0; s + 1 < seq.ids.length; s += maxLen - 1) {
    out.push({ ids: seq.ids.slice(s, s + maxLen), labels: seq.labels.slice(s, s + maxLen), line: seq.line });
  }
  return out;
}

/** Score every target token: NLL, top-1 correctness and confidence (max probability). */
export function scoreTokens(model: CausalLM, seqs: readonly TokenSeq[], o: BatchOptions & { maxLen: number }): TokenScores {
  if (o.maxLen < 2) throw new Error(`scoreTokens: maxLen must be at least 2, got ${o.maxLen}`);
  const parts = seqs.flatMap((s) => windows(s, o.maxLen));
  const cal = new CalibrationBins();
  let nll = 0, tokens = 0, correct = 0, confSum = 0;
  forwardSequences(model, parts.map((p) => p.ids), o, (s) => {
    const { labels } = parts[s.index];
    for (let t = 1; t < s.T; t++) {
      const target = labels[t];
      if (target === -100) continue;
      const off = s.off + (t - 1) * s.V; // position t-1 predicts token t
      const st = rowStats(s.logits, off, s.V);
      nll += st.lse - s.logits[off + target];
      const conf = Math.exp(st.max - st.lse);
      const ok = st.argmax === target;
      cal.add(conf, ok);
      tokens++;
      confSum += conf;
      if (ok) correct++;
    }
  });
  const { ece, mce } = cal.ece();
  const mean = tokens ? nll / tokens : NaN;
  return {
    rows: seqs.length, tokens, nll: round(mean), ppl: round(Math.exp(mean), 4), accuracy: round(correct / tokens),
    avg_confidence: round(confSum / tokens), ece: round(ece), mce: round(mce),
    bins: cal.bins().map((b) => ({ ...b, confidence: round(b.confidence), accuracy: round(b.accuracy) })),
  };
}

/** Reliability diagram: accuracy per confidence bin against the diagonal, the gap to it shaded, counts beneath. */
export function reliabilitySvg(s: Pick<TokenScores, 'bins' | 'ece' | 'tokens'>, title: string): string {
  const W = 420, H = 470, L = 56, T = 40, P = 320; // plot square P x P at (L, T)
  const x = (v: number) => L + v * P;
  const y = (v: number) => T + (1 - v) * P;
  const body: string[] = [text(W / 2, 22, title, 'text-anchor="middle" font-size="14" font-weight="bold"')];
  body.push(`<rect x="${L}" y="${T}" width="${P}" height="${P}" fill="none" stroke="#999"/>`);
  for (const v of [0, 0.2, 0.4, 0.6, 0.8, 1]) {
    body.push(`<line x1="${f(x(v))}" y1="${T + P}" x2="${f(x(v))}" y2="${T + P + 4}" stroke="#333"/>`, text(x(v), T + P + 16, v.toFixed(1), 'text-anchor="middle"'));
    body.push(`<line x1="${L - 4}" y1="${f(y(v))}" x2="${L}" y2="${f(y(v))}" stroke="#333"/>`, text(L - 7, y(v) + 4, v.toFixed(1), 'text-anchor="end"'));
  }
  const maxCount = Math.max(1, ...s.bins.map((b) => b.count));
  for (const b of s.bins) {
    const bw = (b.hi - b.lo) * P;
    if (b.count) {
      body.push(`<rect x="${f(x(b.lo))}" y="${f(y(b.accuracy))}" width="${f(bw)}" height="${f(b.accuracy * P)}" fill="#0072B2" stroke="white"><title>${esc(
        `(${b.lo.toFixed(3)}, ${b.hi.toFixed(3)}]: ${b.count} tokens, accuracy ${b.accuracy.toFixed(3)}, confidence ${b.confidence.toFixed(3)}`)}</title></rect>`);
      const top = Math.max(b.accuracy, b.confidence), bottom = Math.min(b.accuracy, b.confidence);
      body.push(`<rect x="${f(x(b.lo))}" y="${f(y(top))}" width="${f(bw)}" height="${f((top - bottom) * P)}" fill="#D55E00" fill-opacity="0.35" stroke="#D55E00" stroke-width="0.5"/>`);
    }
    const ch = (b.count / maxCount) * 50; // token counts, a strip under the axis
    body.push(`<rect x="${f(x(b.lo))}" y="${f(T + P + 75 - ch)}" width="${f(bw)}" height="${f(ch)}" fill="#999" stroke="white"/>`);
  }
  body.push(`<line x1="${x(0)}" y1="${y(0)}" x2="${x(1)}" y2="${y(1)}" stroke="#333" stroke-dasharray="4 3"/>`);
  body.push(text(L + P / 2, T + P + 32, 'confidence (max next-token probability)', 'text-anchor="middle"'));
  body.push(text(14, T + P / 2, 'accuracy', `text-anchor="middle" transform="rotate(-90 14 ${T + P / 2})"`));
  body.push(text(L + 8, T + 18, `ECE (${s.bins.length} bins) = ${s.ece.toFixed(4)}`, 'font-weight="bold"'));
  body.push(text(L + 8, T + 34, `${s.tokens} tokens`));
  body.push(text(L + P, T + P + 92, 'tokens per bin', 'text-anchor="end" fill="#666" font-size="10"'));
  return svgDoc(W, H, body);
}
