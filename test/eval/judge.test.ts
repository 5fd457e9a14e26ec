// `ual eval judge` against a real local OpenAI-compatible server: both orders asked (a position-biased judge
// cancels out), ties count half, 5xx / 429 retried, an unreadable reply re-asked, failures reported, and a rerun
// answered entirely from the cache. Plus the verdict parser and the win-rate arithmetic by hand.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { orderScore, parseVerdict, summarizeJudge, type ItemJudgement } from '../../src/eval/judge.js';
import { lengthControlledWinRate, LC_C } from '../../src/eval/lc.js';
import { readReferences } from '../../src/eval/rows.js';
import { Tokenizer } from '../../src/data/tokenizer.js';
import { initConfigJson, initModel } from '../../src/models/index.js';
import { buildCli, runCli, type Ran } from '../helpers/cli.js';
import { completion, startJudge, type Judge, type Seen } from '../uncertainty/judge-server.js';
import { QWEN_TOKENIZER, tmpDir } from './helpers.js';
import { fairVerdict, ITEMS, judgeFiles, shownIn } from './judge-fixture.js';
import { describeWith, needSharedData } from '../helpers/needs.js';

describe('verdicts and win rate', () => {
  test.each([
    ['Output (a)', 'a'], ['output (b)', 'b'], ['**Output (B)** is better.', 'b'], ['Tie', 'tie'], ['It is a tie.', 'tie'],
    ['Output (a) and Output (b) tie', 'a'], ['b', 'b'], ['(a)', 'a'], ['I cannot decide', null], ['', null], ['Outputs are both fine', null],
  ])('%j -> %s', (reply, want) => {
    expect(parseVerdict(reply)).toBe(want);
  });

  test('the model scores 1 / 0.5 / 0 per order, by the slot it was shown in', () => {
    expect([orderScore('a', 0), orderScore('b', 0), orderScore('tie', 0)]).toEqual([1, 0, 0.5]);
    expect([orderScore('a', 1), orderScore('b', 1), orderScore('tie', 1)]).toEqual([0, 1, 0.5]);
  });

  test('win rate, standard error (ddof 1), wins/ties/losses, position bias, lengths: by hand', () => {
    const items = [
      { instruction: 'i', output: 'aaaa', reference: 'bb' }, { instruction: 'i', output: 'aa', reference: 'bb' },
      { instruction: 'i', output: 'aa', reference: 'bbbb' }, { instruction: 'i', output: 'aa', reference: 'bb' },
    ];
    const j = (v0: 'a' | 'b' | 'tie', v1: 'a' | 'b' | 'tie'): ItemJudgement =>
      ({ verdicts: [v0, v1], preference: (orderScore(v0, 0) + orderScore(v1, 1)) / 2, error: null });
    const res = [j('a', 'b'), j('a', 'a'), j('tie', 'a'), { verdicts: [null, 'b'], preference: null, error: 'down' } as ItemJudgement];
    // preferences 1, 0.5, 0.25: mean 0.58333; sd = sqrt(((5/12)^2 + (1/12)^2 + (1/3)^2) / 2) = 0.381881
    const s = summarizeJudge(items, res);
    expect(s).toMatchObject({ n: 3, wins: 1, ties: 1, losses: 1, failed: 1, consistent: 1 });
    expect(s.win_rate).toBeCloseTo(58.3333, 3);
    expect(s.standard_error).toBeCloseTo((100 * 0.3818813079) / Math.sqrt(3), 3);
    expect(s.first_position_rate).toBeCloseTo(4 / 5, 6); // decided: a, b | a, a | a -> 4 of 5 chose slot (a)
    expect(s.avg_length).toEqual({ model: 2.7, reference: 2.7 }); // (4 + 2 + 2) / 3 and (2 + 2 + 4) / 3, one decimal
    // the LC win rate: the fit on the three judged pairs (length differences +2, 0, -2), rounded as reported
    const lc = lengthControlledWinRate([
      { preference: 1, modelLength: 4, referenceLength: 2 }, { preference: 0.5, modelLength: 2, referenceLength: 2 },
      { preference: 0.25, modelLength: 2, referenceLength: 4 },
    ]);
    expect(s.lc_win_rate).toBe(Math.round(lc.win_rate * 1e4) / 1e4);
    expect(s.lc_standard_error).toBe(Math.round(lc.standard_error * 1e4) / 1e4);
    expect(s.lc_fit).toEqual({ coef: { model: Math.round(lc.coef.model * 1e6) / 1e6, length: Math.round(lc.coef.length * 1e6) / 1e6 }, length_scale: 2, C: LC_C });
    expect(lc.coef.length).toBeGreaterThan(0); // the longer output won
    expect(s.lc_win_rate).toBeCloseTo(62.6252, 4); // a fit through (+1, 1), (0, 0.5), (-1, 0.25) in tanh units: not the raw 58.3
  });
});

const KEY = 'sk-judge-test-0123456789';
let bin: string;
let cleanup: () => void;
let dir: string;
let judge: Judge | null = null;

beforeAll(() => {
  ({ bin, cleanup } = buildCli('judge'));
  dir = tmpDir('judge');
});
afterAll(() => {
  cleanup?.();
  fs.rmSync(dir, { recursive: true, force: true });
});
afterEach(async () => { await judge?.close(); judge = null; });

const ual = (args: string[]) => runCli(bin, ['eval', 'judge', ...args], { OPENAI_API_KEY: KEY, OPENAI_BASE_URL: undefined });
const lastJson = (r: Ran) => JSON.parse(r.stdout.trim().split('\n').pop()!);

const shown = (s: Seen) => shownIn(s.body);

/**
 * A judge that prefers the output saying GOOD, calls TIE pairs a tie, always picks (a) when the instruction says
 * BIAS, fails item 2's first two attempts (500, then 429) and gives item 3 one unreadable reply first.
 */
function script(s: Seen) {
  if (s.item === 2 && s.attempt === 0) return { status: 500, json: { error: { message: 'overloaded' } } };
  if (s.item === 2 && s.attempt === 1) return { status: 429, headers: { 'retry-after': '0' }, json: { error: { message: 'slow down' } } };
  if (s.item === 3 && s.attempt === 0) return { json: completion('Hmm, both have merits.') };
  if (s.item === 9) return { status: 503, json: { error: { message: 'gone' } } };
  return { json: completion(fairVerdict(s.body)) };
}

const files = (items: typeof ITEMS, tag: string) => judgeFiles(dir, items, tag);

describe('ual eval judge against a local server', () => {
  test('both orders, ties half, retries, re-ask; the rerun sends nothing and gives the same numbers', async () => {
    judge = await startJudge(script);
    const { refs, preds } = files(ITEMS, 'main');
    const out = path.join(dir, 'verdicts.jsonl');
    const args = ['--predictions', preds, '--references', refs, '--judge', 'judge-model', '--base-url', judge.url,
      '--concurrency', '1', '--retry-base', '0.01', '--out', out, '--json'];
    const r = await ual(args);
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r);
    // preferences: 1, 0, 1, 0.5 (tie both ways), 0.5 (biased judge cancelled by the swap)
    expect(j).toMatchObject({ n: 5, wins: 2, ties: 2, losses: 1, failed: 0, consistent: 4, judge: 'judge-model', generator: 'preds-main' });
    expect(j.win_rate).toBeCloseTo(60, 6);
    expect(j.standard_error).toBeCloseTo((100 * Math.sqrt(0.7 / 4)) / Math.sqrt(5), 3);
    expect(j.first_position_rate).toBeCloseTo(5 / 8, 6);
    expect(j.avg_length.model).toBeCloseTo(ITEMS.reduce((s, i) => s + i.output.length, 0) / 5, 1);
    expect(j).toMatchObject({ requests: 13, retries: 2, cached: 0 });
    const lc = lengthControlledWinRate(ITEMS.map((it, i) => ({ preference: [1, 0, 1, 0.5, 0.5][i], modelLength: it.output.length, referenceLength: it.reference.length })));
    expect(j.lc_win_rate).toBe(Math.round(lc.win_rate * 1e4) / 1e4);
    expect(j.lc_standard_error).toBe(Math.round(lc.standard_error * 1e4) / 1e4);
    expect(r.stderr).toContain(`judge: win rate 60.00% ± ${j.standard_error.toFixed(2)} (SE), length-controlled ${j.lc_win_rate.toFixed(2)}% ± ${j.lc_standard_error.toFixed(2)} over 5 instructions`);

    // every item was asked in both orders, the model's output once as (a) and once as (b)
    for (let i = 0; i < 5; i++) {
      const seen = judge.log.filter((s) => s.item === i).map(shown);
      expect(seen.some((x) => x.a === ITEMS[i].output && x.b === ITEMS[i].reference)).toBe(true);
      expect(seen.some((x) => x.a === ITEMS[i].reference && x.b === ITEMS[i].output)).toBe(true);
    }
    expect(judge.log.every((s) => s.auth === `Bearer ${KEY}` && s.body.model === 'judge-model' && s.body.temperature === 0)).toBe(true);
    const rows = fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((x) => x.preference)).toEqual([1, 0, 1, 0.5, 0.5]);
    expect(rows[4]).toMatchObject({ verdict_model_first: 'a', verdict_model_second: 'a' });

    const before = judge.log.length;
    const again = await ual(args);
    expect(again.code, again.stderr).toBe(0);
    expect(judge.log.length).toBe(before); // everything from the cache
    expect(lastJson(again)).toMatchObject({ win_rate: j.win_rate, standard_error: j.standard_error, lc_win_rate: j.lc_win_rate, requests: 0, cached: 10 });
  });

  test('--difficulty: the fit gains the instruction difficulty term, the rows carry each difficulty', async () => {
    judge = await startJudge(script);
    const { refs, preds } = files(ITEMS, 'difficulty');
    const diff = path.join(dir, 'instruction_difficulty.csv');
    const d = [0.5, -1.25, 0.75, 0, 2];
    fs.writeFileSync(diff, 'index,instruction_difficulty\n' + d.map((v, i) => `${i},${v}`).join('\n') + '\n');
    const out = path.join(dir, 'difficulty.jsonl');
    const r = await ual(['--predictions', preds, '--references', refs, '--judge', 'judge-model', '--base-url', judge.url, '--retry-base', '0.01',
      '--difficulty', diff, '--out', out, '--cache', path.join(dir, 'difficulty-cache.sqlite'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r);
    const lc = lengthControlledWinRate(ITEMS.map((it, i) => ({
      preference: [1, 0, 1, 0.5, 0.5][i], modelLength: it.output.length, referenceLength: it.reference.length, difficulty: d[i],
    })));
    expect(j.lc_win_rate).toBe(Math.round(lc.win_rate * 1e4) / 1e4);
    expect(j.lc_fit.coef.difficulty).toBe(Math.round(lc.coef.difficulty! * 1e6) / 1e6);
    expect(j.lc_fit.coef.difficulty).not.toBe(0);
    expect(fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l).difficulty)).toEqual(d);
    // a file that does not cover the references stops before anything is asked
    fs.writeFileSync(diff, 'index,instruction_difficulty\n0,1\n');
    const before = judge.log.length;
    const bad = await ual(['--predictions', preds, '--references', refs, '--judge', 'judge-model', '--base-url', judge.url, '--difficulty', diff]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`${diff}: has no difficulty for reference 1 (of 5)`);
    expect(judge.log.length).toBe(before);
  });

  test('an instruction that keeps failing: exit 1 naming it, the rest reported; --allow-failures exits 0', async () => {
    judge = await startJudge(script);
    const items = [ITEMS[0], { instruction: 'Task item-9: never answered', output: 'GOOD', reference: 'meh' }];
    const { refs, preds } = files(items, 'fail');
    const args = ['--predictions', preds, '--references', refs, '--judge', 'judge-model', '--base-url', judge.url,
      '--max-retries', '1', '--retry-base', '0.01', '--cache', path.join(dir, 'fail-cache.sqlite'), '--json'];
    const r = await ual(args);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('[UAL_JUDGE_FAILED] 1 of 2 instructions could not be judged');
    expect(r.stderr).toContain('(first: [UAL_JUDGE_HTTP] gave up after 2 attempts; last: HTTP 503 gone; [UAL_JUDGE_HTTP] gave up');
    expect(lastJson(r)).toMatchObject({ n: 1, failed: 1, win_rate: 100, lc_standard_error: null });
    expect(r.stderr).toMatch(/length-controlled 9\d\.\d\d% ± n\/a over 1 instructions/); // one instruction: no SE for the fit
    const ok = await ual([...args, '--allow-failures']);
    expect(ok.code).toBe(0);
    expect(lastJson(ok)).toMatchObject({ n: 1, failed: 1, cached: 2 }); // item 0's two verdicts came from the cache
  });

  test('predictions out of step with the references, and a wrong key, stop before judging', async () => {
    judge = await startJudge((s) => (s.auth === `Bearer ${KEY}` ? script(s) : { status: 401, json: { error: { message: 'bad key' } } }));
    const { refs } = files(ITEMS, 'mismatch');
    const preds = path.join(dir, 'short-preds.json');
    fs.writeFileSync(preds, JSON.stringify(ITEMS.slice(0, 3).map((i) => ({ instruction: i.instruction, output: i.output }))));
    let r = await ual(['--predictions', preds, '--references', refs, '--judge', 'j', '--base-url', judge.url]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${preds} has 3 prediction rows but ${refs} has 5 rows`);
    expect(judge.log).toHaveLength(0);
    const { preds: good } = files(ITEMS, 'key');
    r = await runCli(bin, ['eval', 'judge', '--predictions', good, '--references', refs, '--judge', 'j', '--base-url', judge.url,
      '--cache', path.join(dir, 'key-cache.sqlite')], { OPENAI_API_KEY: 'sk-wrong-0000' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('[UAL_JUDGE_AUTH]');
    expect(r.stderr).not.toContain('sk-wrong-0000');
  });
});

const REFERENCES = needSharedData('alpaca_eval/reference_text_davinci_003.json');

describeWith(REFERENCES, 'AlpacaEval references', () => {
  test('the 805 reference outputs read as they are shipped', async () => {
    const refs = await readReferences(REFERENCES.file);
    expect(refs).toHaveLength(805);
    expect(refs[0]).toMatchObject({
      generator: 'text_davinci_003',
      instruction: 'What are the names of some famous actors that started their careers on Broadway?',
      output: 'Some famous actors that started their careers on Broadway are Tom Hanks, Meryl Streep, and Christopher Walken.',
    });
    // every instruction is there; two references are empty strings as shipped
    expect(refs.filter((r) => r.instruction === '')).toEqual([]);
    expect(refs.flatMap((r, i) => (r.output === '' ? [i] : []))).toEqual([247, 504]);
  });
});

test('--model: outputs generated with the training template, saved in AlpacaEval format, then judged', async () => {
  judge = await startJudge(() => ({ json: completion('Tie') }));
  const model = path.join(dir, 'tiny');
  initModel(initConfigJson({ arch: 'gpt2', layers: 1, d: 16, heads: 2, vocab: Tokenizer.load(QWEN_TOKENIZER).vocabSize, ctx: 256 }), 0).save(model);
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(QWEN_TOKENIZER, f), path.join(model, f));
  const { refs } = files(ITEMS.slice(0, 2), 'gen');
  const outputs = path.join(dir, 'model-outputs.json');
  const r = await ual(['--model', model, '--references', refs, '--judge', 'j', '--base-url', judge.url, '--max-new-tokens', '5',
    '--outputs', outputs, '--cache', path.join(dir, 'gen-cache.sqlite'), '--json']);
  expect(r.code, r.stderr).toBe(0);
  expect(lastJson(r)).toMatchObject({ n: 2, ties: 2, win_rate: 50, generator: 'tiny' });
  const saved = JSON.parse(fs.readFileSync(outputs, 'utf8'));
  expect(saved.map((x: { instruction: string }) => x.instruction)).toEqual([ITEMS[0].instruction, ITEMS[1].instruction]);
  // the model's outputs are what the judge saw, in both slots
  expect(judge.log.some((s) => shown(s).a === saved[0].output && shown(s).b === ITEMS[0].reference)).toBe(true);
  expect(judge.log[0].body.messages[1].content).toContain('## Instruction\nTask item-');
});
