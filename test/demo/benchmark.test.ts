// The demo's generated benchmark: deterministic, arithmetic that is right, open answers drawn from the stated
// distributions, no test problem in training, and a tokenizer that round-trips every text it can produce.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  arithmetic, benchmarkWords, OPEN_PROMPTS, pretrainText, taskType, TASK_TYPES, testSplit, trainSplit,
} from '../../src/pipeline/demo/benchmark.js';
import { writeWordTokenizer } from '../../src/pipeline/demo/vocab.js';
import { loadTokenizer } from '../../src/data/tokenizer.js';
import { Rng } from '../../src/util/rng.js';

const SIZES = { arithmetic: 80, open: 60 };

/** Re-derive the answer from the worked steps: every "a op b = c." must hold and chain into the final "#### N". */
function checkWork(output: string): number {
  const m = /^(.*) #### (\d+)$/.exec(output);
  if (!m) throw new Error(`no "#### N" in ${output}`);
  const steps = [...m[1].matchAll(/(\d+) ([-+*]) (\d+) = (\d+)\./g)];
  expect(steps.length).toBeGreaterThan(0);
  let prev: number | null = null;
  for (const [, a, op, b, c] of steps) {
    const x = Number(a), y = Number(b);
    expect(op === '+' ? x + y : op === '-' ? x - y : x * y).toBe(Number(c));
    if (prev !== null) expect(x).toBe(prev);
    prev = Number(c);
  }
  expect(prev).toBe(Number(m[2]));
  return Number(m[2]);
}

describe('demo benchmark', () => {
  it('is deterministic per seed and differs between seeds', () => {
    const ex = new Set<string>();
    expect(trainSplit(3, SIZES, ex)).toEqual(trainSplit(3, SIZES, ex));
    expect(trainSplit(3, SIZES, ex)).not.toEqual(trainSplit(4, SIZES, ex));
    expect(testSplit(0, 20)).toEqual(testSplit(0, 20));
    expect(pretrainText(1, 50)).toEqual(pretrainText(1, 50));
  });

  it('writes arithmetic whose every step is right, 1-3 steps, numbers below 100', () => {
    const rng = new Rng(7);
    for (let i = 0; i < 300; i++) {
      for (const steps of [1, 2, 3] as const) {
        const s = arithmetic(rng, steps);
        expect(s.type).toBe(`arith-${steps}`);
        expect(checkWork(s.output)).toBe(Number(s.gold));
        expect((s.output.match(/=/g) ?? []).length).toBe(steps);
        for (const n of s.output.match(/\d+/g)!) expect(Number(n)).toBeLessThan(100);
        expect(s.gold).toMatch(/^(0|[1-9]\d*)$/); // a plain integer, as "#### N" is parsed
      }
    }
  });

  it('keeps every test problem and every held-out paraphrase out of training', () => {
    const test = testSplit(0, 40);
    expect(test.arithmetic).toHaveLength(120);
    expect(new Set(test.arithmetic.map((s) => s.instruction)).size).toBe(120);
    const exclude = new Set(test.arithmetic.map((s) => s.instruction));
    const train = trainSplit(1, SIZES, exclude);
    expect(train).toHaveLength(3 * SIZES.arithmetic + Object.keys(OPEN_PROMPTS).length * SIZES.open);
    for (const r of train) expect(exclude.has(r.instruction)).toBe(false);
    const heldOut = new Set(test.open.filter((p) => p.heldOut).map((p) => p.instruction));
    expect(heldOut.size).toBe(Object.keys(OPEN_PROMPTS).length);
    for (const r of train) expect(heldOut.has(r.instruction)).toBe(false);
  });

  it('draws open answers from the stated distribution', () => {
    const rows = trainSplit(9, { arithmetic: 0, open: 20000 }, new Set());
    for (const type of ['fruit', 'greeting', 'number']) {
      const t = taskType(type);
      const got = rows.filter((r) => r.type === type);
      expect(got).toHaveLength(20000);
      for (const a of t.answers) {
        const f = got.filter((r) => r.output === a.text).length / got.length;
        // 4.5 standard errors: fails on a wrong distribution, not on sampling noise
        expect(Math.abs(f - a.p)).toBeLessThan(4.5 * Math.sqrt((a.p * (1 - a.p)) / got.length));
      }
      for (const r of got) expect(t.answers.some((a) => a.text === r.output)).toBe(true);
    }
  });

  it('states oracle entropies that match their distributions', () => {
    expect(taskType('number').oracleEntropy).toBeCloseTo(Math.log(21), 12);
    const h = (p: number[]) => -p.reduce((s, x) => s + x * Math.log(x), 0);
    const zipf = (k: number) => { const w = Array.from({ length: k }, (_, i) => 1 / (i + 1)); const z = w.reduce((a, b) => a + b); return w.map((x) => x / z); };
    expect(taskType('fruit').oracleEntropy).toBeCloseTo(h(zipf(10)), 12);
    expect(taskType('colour-animal').oracleEntropy).toBeCloseTo(h(zipf(6)) + Math.log(8), 12);
    for (const t of TASK_TYPES) {
      if (t.entropy === 'low') expect(t.oracleEntropy).toBe(0);
      else expect(t.answers.reduce((s, a) => s + a.p, 0)).toBeCloseTo(1, 12);
    }
  });
});

describe('demo word tokenizer', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-demo-tok-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('encodes every benchmark text without [UNK] and decodes it back exactly', () => {
    const V = writeWordTokenizer(dir, benchmarkWords());
    const tk = loadTokenizer(dir);
    expect(tk.vocabSize).toBe(V);
    expect(V).toBeLessThan(400);
    expect(tk.eosId).toBe(1); // [UNK] 0, <|endoftext|> 1, then the punctuation pieces and the words
    const texts = [
      ...trainSplit(5, SIZES, new Set()).flatMap((r) => [r.instruction, r.output]),
      ...testSplit(3, 30).arithmetic.flatMap((r) => [r.instruction, r.output]),
      ...pretrainText(11, 400),
      ...TASK_TYPES.flatMap((t) => t.answers.map((a) => a.text)),
    ];
    for (const t of texts) {
      const ids = tk.encode(t, { addSpecialTokens: false });
      expect(ids).not.toContain(tk.tokenToId('[UNK]'));
      expect(tk.decode(ids)).toBe(t);
    }
    // the GSM8K answer marker is one token and survives decoding
    expect(tk.encode('#### 12', { addSpecialTokens: false })).toHaveLength(2);
    expect(tk.decode(tk.encode('5 + 7 = 12. #### 12'))).toBe('5 + 7 = 12. #### 12');
  });
});
