// Answer extraction for math evaluations (GSM8K, MetaMath), the way the field does it: `#### N`, "The answer is
// N", \boxed{N}, a final `A: N`, else the last number; numbers normalised before they are compared.

export type MatchMode = 'strict' | 'flexible' | 'lenient';
export const MATCH_MODES: readonly MatchMode[] = ['strict', 'flexible', 'lenient'];

/** Which rule found the answer: the markers first, the last number only in flexible mode. */
export type ExtractedBy = 'hash' | 'answer-is' | 'boxed' | 'a-colon' | 'last-number';

export interface Extracted {
  /** the answer as written (a number's text, or a non-numeric answer such as "(1,2)") */
  raw: string;
  by: ExtractedBy;
}

// A number as written in prose: optional minus (ASCII or U+2212) not glued to a word ("5-3" is 5 and 3, "x2" is
// nothing), an optional "$", digits with proper thousands commas or none, decimals, and an optional "/d" fraction.
const NUM_SRC = String.raw`(?<![\w.])[-\u2212]?\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\/\d+(?:\.\d+)?)?|(?<![\w.])[-\u2212]?\.\d+`;

function numbers(s: string): RegExpMatchArray[] {
  return [...s.matchAll(new RegExp(NUM_SRC, 'g'))];
}

/** LaTeX that hides numbers: \frac{a}{b} -> a/b, \text{..} -> .., \! \, spacing dropped. */
function untex(s: string): string {
  return s
    .replace(/\\[dt]?frac\{\s*(-?[\d.]+)\s*\}\{\s*([\d.]+)\s*\}/g, '$1/$2')
    .replace(/\\text\{([^{}]*)\}/g, '$1')
    .replace(/\\[!,;:]/g, '');
}

/** The value of one number token: "$1,234.50" -> 1234.5, "-3/4" -> -0.75, "−2" -> -2. */
export function parseNumber(token: string): number | null {
  const t = token.replace(/[$,\s]/g, '').replace('\u2212', '-');
  const slash = t.indexOf('/');
  const x = slash < 0 ? Number(t) : Number(t.slice(0, slash)) / Number(t.slice(slash + 1));
  return Number.isFinite(x) ? x : null;
}

/** A number's canonical text: 18.0 -> "18", 0.1 + 0.2 -> "0.3" (12 significant digits, no float noise). */
export function formatNumber(x: number): string {
  if (Number.isInteger(x)) return String(x);
  return String(Number(x.toPrecision(12)));
}

export interface Normalized {
  /** the numeric value when the answer is one number (units, $, %, commas and trailing text aside) */
  num: number | null;
  /** canonical text, used when the answer is not a number */
  text: string;
}

/** Normalise an answer for comparison: one number (with units, "$", "%", commas) -> its value; else cleaned text. */
export function normalizeAnswer(s: string): Normalized {
  const t = untex(s).trim();
  const nums = numbers(t);
  if (nums.length === 1) {
    // exactly one number and no other digits: "18 dollars", "$18.00", "50%", "18." are all 18 / 50
    const rest = t.slice(0, nums[0].index) + t.slice(nums[0].index! + nums[0][0].length);
    if (!/\d/.test(rest)) {
      const v = parseNumber(nums[0][0]);
      if (v !== null) return { num: v, text: formatNumber(v) };
    }
  }
  const text = t.toLowerCase()
    .replace(/\\left|\\right|\\displaystyle/g, '')
    .replace(/\^\{?\\circ\}?/g, '')
    .replace(/\\boxed\{(.*)\}/g, '$1')
    .replace(/\\?\$/g, '')
    .replace(/\s+/g, '')
    .replace(/\.$/, '');
  return { num: null, text };
}

/** Numeric answers compare by value (relative tolerance 1e-9, float noise only: "18.000" is 18, "0.333333" is not 1/3). */
export function answersMatch(pred: string, gold: string): boolean {
  const p = normalizeAnswer(pred);
  const g = normalizeAnswer(gold);
  if (p.num !== null && g.num !== null) return Math.abs(p.num - g.num) <= 1e-9 * Math.max(1, Math.abs(g.num));
  if (p.num !== null || g.num !== null) return false;
  return p.text !== '' && p.text === g.text;
}

/**
 * The answer inside a marker's text: the sentence up to its first full stop; a single number (with units) is
 * that number; "a = b" is read after the last "="; text that opens with a number ("540 meters and ...") is that
 * number; anything else is kept whole (MATH-style answers like "(1, 2)" or "x^2+1").
 */
function fromSegment(seg: string, which: 'first' | 'last'): string | null {
  const s = untex(seg);
  if (which === 'last') {
    const nums = numbers(s);
    return nums.length ? nums[nums.length - 1][0] : null;
  }
  let t = s.split(/\.(?!\d)\s/)[0].trim().replace(/^[:\s]+/, '').replace(/\.\s*$/, '').replace(/^\$(.*)\$$/, '$1').trim();
  if (t.includes('=')) t = t.slice(t.lastIndexOf('=') + 1).trim();
  if (t === '') return null;
  if (normalizeAnswer(t).num !== null) return t;
  const lead = new RegExp(`^(?:${NUM_SRC})(?=\\s+[A-Za-z]|\\s*$)`).exec(t);
  return lead ? lead[0] : t;
}

/** The text of the last \boxed{...}, nested braces included. */
function lastBoxed(s: string): string | null {
  const at = s.lastIndexOf('\\boxed{');
  if (at < 0) return null;
  let depth = 0;
  for (let i = at + 6; i < s.length; i++) {
    if (s[i] === '{') depth++;
    else if (s[i] === '}' && --depth === 0) return s.slice(at + 7, i);
  }
  return null;
}

/**
 * Extract the answer from a model output. Markers, in order: the first `#### N` (GSM8K's format, as the
 * harness's strict-match), the first "The answer is[:] N" (MetaMath; later text is usually a rambling next
 * question), the last \boxed{N} (MATH), the last line-initial "A:" / "Answer:" (few-shot Q/A). Strict mode stops
 * there; flexible mode falls back to the last number anywhere (the harness's flexible-extract).
 */
export function extractAnswer(output: string, mode: MatchMode = 'flexible'): Extracted | null {
  const hash = /####\s*([^\n]*)/.exec(output);
  if (hash) {
    const v = fromSegment(hash[1], 'first');
    if (v !== null) return { raw: v, by: 'hash' };
  }
  const ans = /answer is\s*:?\s*([^\n]*)/i.exec(output);
  if (ans) {
    const v = fromSegment(ans[1], 'first');
    if (v !== null) return { raw: v, by: 'answer-is' };
  }
  const boxed = lastBoxed(output);
  if (boxed !== null) {
    const v = fromSegment(boxed, 'first');
    if (v !== null) return { raw: v, by: 'boxed' };
  }
  let lastA = -1;
  for (const m of output.matchAll(/(?:^|\n)[ \t]*(?:A|Answer)[ \t]*:/g)) lastA = m.index! + m[0].length;
  if (lastA >= 0) {
    const v = fromSegment(output.slice(lastA), 'last');
    if (v !== null) return { raw: v, by: 'a-colon' };
  }
  if (mode === 'strict') return null;
  const nums = numbers(untex(output));
  return nums.length ? { raw: nums[nums.length - 1][0], by: 'last-number' } : null;
}

/** GSM8K's gold answer: the text after "####" in the reference solution. */
export function goldFromGsm8k(answer: string): string | null {
  const m = /####\s*([^\n]+)/.exec(answer);
  return m ? m[1].trim() : null;
}

/** MetaMathQA's gold answer: what follows the last "The answer is[:]" in the response. */
export function goldFromMetaMath(response: string): string | null {
  let found: string | null = null;
  for (const m of response.matchAll(/answer is\s*:?\s*([^\n]*)/gi)) found = m[1].trim().replace(/\.$/, '').trim();
  return found === '' ? null : found;
}

export interface Scored {
  /** the extracted answer in canonical form (a number's text, or the cleaned answer); null = nothing found */
  extracted: string | null;
  by: ExtractedBy | null;
  correct: boolean;
}

/**
 * Score one output against the gold answer. lenient = the UAL reference code's rule: correct when the gold answer
 * appears anywhere in the output (digit-group commas ignored); the extracted answer is still reported.
 */
export function scoreAnswer(output: string, gold: string, mode: MatchMode): Scored {
  const ex = extractAnswer(output, mode === 'strict' ? 'strict' : 'flexible');
  const extracted = ex === null ? null : (() => {
    const n = normalizeAnswer(ex.raw);
    return n.num !== null ? formatNumber(n.num) : ex.raw.trim();
  })();
  let correct: boolean;
  if (mode === 'lenient') {
    const g = normalizeAnswer(gold);
    const needle = g.num !== null ? formatNumber(g.num) : gold.trim();
    correct = needle !== '' && output.replace(/(\d),(?=\d{3}\b)/g, '$1').includes(needle);
  } else {
    correct = ex !== null && answersMatch(ex.raw, gold);
  }
  return { extracted, by: ex?.by ?? null, correct };
}
