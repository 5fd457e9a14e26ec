// Multiple choice, the lm-evaluation-harness way: a hand-computed log-likelihood matches exactly, acc_norm divides
// by the choice's character length (not its tokens), the context/continuation split and left truncation follow
// the harness, and batched right-padded scoring equals one-at-a-time scoring on a real checkpoint.
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { charLength, loglikelihoods, mcContext, scoreMc } from '../../src/eval/mc.js';
import { encodePair } from '../../src/eval/text.js';
import { loadModel } from '../../src/models/index.js';
import { BigramLM, FIXTURES, ToyCodec } from './helpers.js';

const codec = new ToyCodec(['<eot>', ' ', 'Q', 'a', 'b', 'bb', 'c', ':', '\n']);
const [SP, Q, A, BB] = [codec.id(' '), codec.id('Q'), codec.id('a'), codec.id('bb')];
// p(" " | Q) = 1/2, p(a | " ") = 1/4, p(bb | " ") = 1/2, p(bb | bb) = 1/32
const lm = new BigramLM(codec.vocab.length, { [Q]: { [SP]: 0.5 }, [SP]: { [A]: 0.25, [BB]: 0.5 }, [BB]: { [BB]: 1 / 32 } });

describe('hand-computed log-likelihoods', () => {
  test('the harness split: the delimiter space belongs to the continuation', () => {
    expect(encodePair(codec, 'Q', ' bbbb')).toEqual([[Q], [SP, BB, BB]]);
    // a trailing space on the context moves to the continuation before encoding
    expect(encodePair(codec, 'Q ', 'a')).toEqual([[Q], [SP, A]]);
    // an empty context conditions on end-of-text
    expect(encodePair(codec, '', 'a')).toEqual([[codec.id('<eot>')], [A]]);
  });

  test('log p(" a" | Q) = log(1/2 * 1/4) and log p(" bbbb" | Q) = log(1/2 * 1/2 * 1/32), exactly', () => {
    const [a, b] = loglikelihoods(lm, [
      { context: [Q], continuation: [SP, A] },
      { context: [Q], continuation: [SP, BB, BB] },
    ], { maxLength: 64 });
    expect(a.ll).toBeCloseTo(Math.log(1 / 8), 14);
    expect(b.ll).toBeCloseTo(Math.log(1 / 128), 14);
    expect(a.greedy).toBe(false); // after " ", bb (1/2) beats a (1/4)
  });

  test('acc takes the largest sum; acc_norm divides by characters of the choice, so "bbbb" wins it', () => {
    const row = { question: 'Q', choices: ['a', 'bbbb'], answer: 1, line: 1 };
    const r = scoreMc(lm, codec, [row], { template: '{question}', maxLength: 64 });
    expect(r.rows[0].lls[0]).toBeCloseTo(Math.log(1 / 8), 14);
    expect(r.rows[0].lls[1]).toBeCloseTo(Math.log(1 / 128), 14);
    // sums: -2.079 vs -4.852 -> "a"; per character: -2.079 / 1 vs -4.852 / 4 = -1.213 -> "bbbb"
    expect(r.rows[0].pred).toBe(0);
    expect(r.rows[0].pred_norm).toBe(1);
    expect([r.acc, r.acc_norm]).toEqual([0, 1]);
    // per token it would have gone the other way (" a" is 2 tokens, " bbbb" 3: -2.079 / 2 > -4.852 / 3): the divisor
    // really is characters
    expect([encodePair(codec, 'Q', ' a')[1], encodePair(codec, 'Q', ' bbbb')[1]].map((c) => c.length)).toEqual([2, 3]);
  });

  test('character length is Python len(): code points', () => {
    expect(charLength('naïve')).toBe(5);
    expect(charLength('👍🏽')).toBe(2);
  });

  test('few-shot context: solved examples with their gold choice, blank lines between', () => {
    const shot = { question: 'What?', choices: ['x', 'y'], answer: 1, line: 1 };
    const row = { question: 'Why?', choices: ['p', 'q'], answer: 0, line: 2 };
    expect(mcContext(row, { fewshot: [shot, shot] })).toBe('Question: What?\nAnswer: y\n\nQuestion: What?\nAnswer: y\n\nQuestion: Why?\nAnswer:');
  });

  test('inputs longer than the model keep the last maxLength tokens (harness left truncation)', () => {
    const long = Array.from({ length: 10 }, () => Q);
    const [r] = loglikelihoods(lm, [{ context: long, continuation: [SP, A] }], { maxLength: 4 });
    expect(r.ll).toBeCloseTo(Math.log(1 / 8), 14);
    expect(lm.forwards.at(-1)).toEqual({ B: 1, T: 4 });
  });
});

describe('batched scoring on a real checkpoint', () => {
  test.each(['gpt2', 'llama'])('%s: right-padded batches give the same log-likelihoods as one request at a time', (m) => {
    const model = loadModel(path.join(FIXTURES, m));
    const reqs = Array.from({ length: 7 }, (_, i) => ({
      context: Array.from({ length: 3 + ((i * 5) % 11) }, (_, t) => (t * 31 + i * 7 + 1) % 128),
      continuation: Array.from({ length: 1 + (i % 4) }, (_, t) => (t * 17 + i * 3 + 2) % 128),
    }));
    const batched = loglikelihoods(model, reqs, { maxLength: 64, batchSize: 4 });
    const single = reqs.map((r) => loglikelihoods(model, [r], { maxLength: 64 })[0]);
    batched.forEach((b, i) => {
      expect(Math.abs(b.ll - single[i].ll)).toBeLessThan(1e-4);
      expect(b.greedy).toBe(single[i].greedy);
    });
  });
});
