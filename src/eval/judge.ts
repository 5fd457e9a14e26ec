// AlpacaEval-style pairwise judging: every (model output, reference output) pair is judged twice, once in each
// order, so a judge's preference for the first (or second) slot cancels out; ties count half; the win rate comes
// with its standard error, the average output lengths and AlpacaEval 2.0's length-controlled win rate (./lc.ts).
import { RowFailure, UalError } from '../errors.js';
import { LC_C, lengthControlledWinRate } from './lc.js';
import { mean, round, sem } from '../util/stats.js';

/** Bump when the prompt or the parsing changes: it is part of every cache key. */
export const JUDGE_PROMPT_ID = 'ual-pairwise-v1';

export type Verdict = 'a' | 'b' | 'tie';

export interface JudgeMessage {
  role: 'system' | 'user';
  content: string;
}

const SYSTEM = 'You are a careful, impartial judge of AI assistant answers.';

export function judgeMessages(instruction: string, outputA: string, outputB: string): JudgeMessage[] {
  return [
    { role: 'system', content: SYSTEM },
    {
      role: 'user',
      content: 'Which of the two outputs below better follows the instruction? Consider helpfulness, correctness, ' +
        'level of detail and harmlessness. The order of the outputs says nothing about their quality, and a longer ' +
        'answer is not better for being longer.\n\n' +
        `## Instruction\n${instruction}\n\n## Output (a)\n${outputA}\n\n## Output (b)\n${outputB}\n\n` +
        'Reply with exactly one of: "Output (a)", "Output (b)" or "Tie".',
    },
  ];
}

/** The judge's verdict: whichever of "Output (a)" / "Output (b)" / "Tie" it names first; null when none. */
export function parseVerdict(reply: string): Verdict | null {
  const out = /output\s*\(?\s*([ab])\s*\)?(?![\w])/i.exec(reply);
  const tie = /\btie\b/i.exec(reply);
  if (out && (!tie || out.index < tie.index)) return out[1].toLowerCase() as Verdict;
  if (tie) return 'tie';
  const bare = /^\s*\(?([ab])\)?\s*\.?\s*$/i.exec(reply); // a bare "a" / "(b)"
  return bare ? (bare[1].toLowerCase() as Verdict) : null;
}

export interface JudgeItem {
  instruction: string;
  /** the evaluated model's output */
  output: string;
  reference: string;
  /** the instruction's difficulty (AlpacaEval's instruction_difficulty), a covariate of the length-controlled fit */
  difficulty?: number;
}

/** 0 = the model's output shown as (a), 1 = shown as (b). */
export type Order = 0 | 1;

/** Ask the judge about one ordering; resolves to a verdict, rejects when it failed for good. */
export type AskJudge = (messages: JudgeMessage[], where: { item: number; order: Order }) => Promise<Verdict>;

export interface ItemJudgement {
  /** [model shown first, model shown second]; null = that judgement failed */
  verdicts: [Verdict | null, Verdict | null];
  /** the model's score in [0, 1]: the mean over both orders of win 1, tie 0.5, loss 0; null if either failed */
  preference: number | null;
  error: string | null;
}

/** The model's score in one ordering. */
export function orderScore(v: Verdict, order: Order): number {
  if (v === 'tie') return 0.5;
  const modelSlot = order === 0 ? 'a' : 'b';
  return v === modelSlot ? 1 : 0;
}

/** Judge every item in both orders (all requests issued at once; the client paces them). */
export async function judgeItems(items: readonly JudgeItem[], ask: AskJudge, onDone?: (done: number, total: number) => void): Promise<ItemJudgement[]> {
  let done = 0;
  const total = items.length * 2;
  const one = async (it: JudgeItem, item: number, order: Order): Promise<Verdict | Error> => {
    const [a, b] = order === 0 ? [it.output, it.reference] : [it.reference, it.output];
    try {
      return await ask(judgeMessages(it.instruction, a, b), { item, order });
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e));
    } finally {
      onDone?.(++done, total);
    }
  };
  return Promise.all(items.map(async (it, i): Promise<ItemJudgement> => {
    const r = await Promise.all([one(it, i, 0), one(it, i, 1)]);
    const verdicts = r.map((x) => (x instanceof Error ? null : x)) as [Verdict | null, Verdict | null];
    const errs = r.filter((x): x is Error => x instanceof Error);
    // a fatal setup error (bad key, nobody listening) must stop the run, not become 805 failed rows
    const fatal = errs.find((e) => e instanceof UalError);
    if (fatal) throw fatal;
    const preference = verdicts[0] !== null && verdicts[1] !== null ? (orderScore(verdicts[0], 0) + orderScore(verdicts[1], 1)) / 2 : null;
    const reason = (e: Error) => (e instanceof RowFailure ? `[${e.code}] ${e.message}` : e.message);
    return { verdicts, preference, error: errs.length ? errs.map(reason).join('; ') : null };
  }));
}

export interface JudgeSummary {
  n: number;
  /** percent, 0..100: mean preference over the judged items */
  win_rate: number;
  /** percent: standard error of that mean (pandas .sem(), as AlpacaEval reports) */
  standard_error: number;
  /** items the model won in both orders or won once and tied once, etc.: preference > 0.5 / = 0.5 / < 0.5 */
  wins: number;
  ties: number;
  losses: number;
  failed: number;
  /** fraction of judgements that picked the output shown first: 0.5 = no position bias */
  first_position_rate: number;
  /** judgements that did not change when the outputs swapped places */
  consistent: number;
  avg_length: { model: number; reference: number };
  /** percent: the win rate the judge would give at zero length difference (AlpacaEval 2.0's LC win rate, ./lc.ts) */
  lc_win_rate: number;
  /** percent: its standard error (delta method, sandwich covariance over the instructions) */
  lc_standard_error: number;
  /** the fitted model: coefficients of the model term, tanh(length difference / length_scale) and the difficulty when given */
  lc_fit: { coef: { model: number; length: number; difficulty?: number }; length_scale: number; C: number };
}

/** Characters, as AlpacaEval's avg_length counts them. */
function chars(s: string): number {
  return [...s].length;
}

export function summarizeJudge(items: readonly JudgeItem[], results: readonly ItemJudgement[]): JudgeSummary {
  const ok = results.map((r, i) => ({ r, i })).filter(({ r }) => r.preference !== null);
  const prefs = ok.map(({ r }) => r.preference!);
  let first = 0, decided = 0, consistent = 0;
  for (const { r } of ok) {
    const [v0, v1] = r.verdicts as [Verdict, Verdict];
    for (const v of [v0, v1]) if (v !== 'tie') { decided++; if (v === 'a') first++; }
    if (orderScore(v0, 0) === orderScore(v1, 1)) consistent++;
  }
  const lc = lengthControlledWinRate(ok.map(({ r, i }) => ({
    preference: r.preference!, modelLength: chars(items[i].output), referenceLength: chars(items[i].reference), difficulty: items[i].difficulty,
  })));
  const coef = Object.fromEntries(Object.entries(lc.coef).map(([k, v]) => [k, round(v, 6)])) as JudgeSummary['lc_fit']['coef'];
  return {
    n: prefs.length,
    win_rate: round(100 * mean(prefs), 4),
    standard_error: round(100 * sem(prefs), 4),
    wins: prefs.filter((p) => p > 0.5).length,
    ties: prefs.filter((p) => p === 0.5).length,
    losses: prefs.filter((p) => p < 0.5).length,
    failed: results.length - prefs.length,
    first_position_rate: decided ? round(first / decided, 4) : 0.5,
    consistent,
    avg_length: {
      model: round(mean(ok.map(({ i }) => chars(items[i].output))), 1),
      reference: round(mean(ok.map(({ i }) => chars(items[i].reference))), 1),
    },
    lc_win_rate: round(lc.win_rate, 4),
    lc_standard_error: round(lc.standard_error, 4),
    lc_fit: { coef, length_scale: round(lc.length_scale, 4), C: LC_C },
  };
}

/** What the cache needs to offer (ElicitCache does): answers under a key, committed one by one. */
export interface AnswerStore {
  answers(key: string): Map<number, { text: string }>;
  putAnswer(key: string, idx: number, a: { text: string; value?: number; promptTokens: number; completionTokens: number }): void;
}

export interface CachedAskOptions {
  /** one chat completion (the judge client: pacing, retries, fault handling) */
  chat: (messages: JudgeMessage[]) => Promise<{ text: string; promptTokens: number; completionTokens: number }>;
  store: AnswerStore;
  /** the cache key of a request (hashes prompt id, judge model, parameters and the messages) */
  key: (messages: JudgeMessage[]) => string;
  /** ask again this often when a reply names no verdict (default 1) */
  parseRetries?: number;
  /** counts for the summary */
  stats?: { cached: number; asked: number; unparsed: number };
}

const VERDICT_CODE: Record<Verdict, number> = { a: 0, b: 1, tie: 0.5 };

/** An AskJudge that answers from the cache when it can and commits every new verdict the moment it arrives. */
export function cachedAsk(o: CachedAskOptions): AskJudge {
  return async (messages) => {
    const key = o.key(messages);
    const have = o.store.answers(key).get(0);
    if (have) {
      const v = parseVerdict(have.text);
      if (v) { if (o.stats) o.stats.cached++; return v; }
    }
    let last = '';
    for (let attempt = 0; attempt <= (o.parseRetries ?? 1); attempt++) {
      const r = await o.chat(messages);
      if (o.stats) o.stats.asked++;
      const v = parseVerdict(r.text);
      if (v) {
        o.store.putAnswer(key, 0, { text: r.text, value: VERDICT_CODE[v], promptTokens: r.promptTokens, completionTokens: r.completionTokens });
        return v;
      }
      if (o.stats) o.stats.unparsed++;
      last = r.text;
    }
    throw new RowFailure('UAL_JUDGE_PARSE', `the judge's reply names no verdict: ${JSON.stringify(last.slice(0, 120))}`);
  };
}
