// Turning a judge's behaviour into a 0–99 uncertainty: disagreement among k sampled answers (exact agreement
// for short answers, lexical diversity for long ones) and the entropy of its first answer tokens from top_logprobs.

/** Answers this short (in words, after normalisation) are compared exactly; longer ones by word overlap. */
export const SHORT_ANSWER_WORDS = 8;

/** Lowercase, unify number formats and drop punctuation, so "The answer is 1,000." and "the answer is 1000" agree. */
export function normalizeAnswer(s: string): string {
  return s.toLowerCase()
    .replace(/(\d),(?=\d{3}\b)/g, '$1')
    .replace(/(\d)\.0+\b/g, '$1')
    .replace(/[^\p{L}\p{N}\s.]/gu, ' ')
    .replace(/\.(?!\d)/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

function words(s: string): string[] {
  return s === '' ? [] : s.split(' ');
}

/** Unigrams and bigrams: unigrams alone call a reordered answer identical; bigrams notice the reorder. */
function shingles(ws: string[]): Set<string> {
  const out = new Set<string>(ws);
  for (let i = 0; i + 1 < ws.length; i++) out.add(ws[i] + ' ' + ws[i + 1]);
  return out;
}

function jaccard(a: Set<string>, b: Set<string>): number {
  if (a.size === 0 && b.size === 0) return 1;
  let inter = 0;
  for (const x of a) if (b.has(x)) inter++;
  return inter / (a.size + b.size - inter);
}

/**
 * Disagreement among sampled answers in [0, 1]. Short answers: entropy of the distribution of distinct
 * normalised answers divided by log k (all equal -> 0, all different -> 1). Long answers: 1 - mean pairwise
 * Jaccard similarity of word uni+bigram sets.
 */
export function disagreement(answers: string[]): { value: number; mode: 'exact' | 'lexical' } {
  const k = answers.length;
  if (k < 2) throw new Error('disagreement needs at least 2 answers');
  const norm = answers.map(normalizeAnswer);
  const short = norm.every((s) => words(s).length <= SHORT_ANSWER_WORDS);
  if (short) {
    const counts = new Map<string, number>();
    for (const s of norm) counts.set(s, (counts.get(s) ?? 0) + 1);
    let h = 0;
    for (const c of counts.values()) h -= (c / k) * Math.log(c / k);
    return { value: h / Math.log(k), mode: 'exact' };
  }
  const sets = norm.map((s) => shingles(words(s)));
  let sum = 0;
  let pairs = 0;
  for (let i = 0; i < k; i++) for (let j = i + 1; j < k; j++) { sum += jaccard(sets[i], sets[j]); pairs++; }
  return { value: 1 - sum / pairs, mode: 'lexical' };
}

export interface TokenTop { logprobs: number[] }

/**
 * Mean normalised entropy of the first answer tokens, in [0, 1]. Each position's top-k probabilities plus one
 * bucket for the remaining mass give a (lower-bound) entropy, divided by log(k + 1), its maximum.
 */
export function firstTokenEntropy(positions: TokenTop[]): number {
  if (positions.length === 0) throw new Error('no token positions');
  let total = 0;
  for (const pos of positions) {
    const ps = pos.logprobs.map((lp) => Math.exp(lp));
    const rest = Math.max(0, 1 - ps.reduce((a, b) => a + b, 0));
    let h = 0;
    for (const p of [...ps, rest]) if (p > 0) h -= p * Math.log(p);
    total += pos.logprobs.length > 0 ? Math.min(1, h / Math.log(pos.logprobs.length + 1)) : 0;
  }
  return total / positions.length;
}

/** [0, 1] -> the 0–99 scale, as a whole number like the verbalized judge's. */
export function toScore(x: number): number {
  return Math.round(99 * Math.min(1, Math.max(0, x)));
}
