// Disagreement and entropy measures behind the sampling and logprobs methods, on hand-checkable cases.
import { describe, expect, it } from 'vitest';
import { disagreement, firstTokenEntropy, normalizeAnswer, toScore } from '../../src/uncertainty/measures.js';

describe('normalizeAnswer', () => {
  it('unifies case, punctuation and number formats', () => {
    expect(normalizeAnswer('The answer is 1,000.')).toBe('the answer is 1000');
    expect(normalizeAnswer('the answer is 1000.00')).toBe('the answer is 1000');
    expect(normalizeAnswer('  **42** ')).toBe('42');
    expect(normalizeAnswer('3.14')).toBe('3.14');
  });
});

describe('disagreement', () => {
  it('short answers: exact agreement after normalisation', () => {
    expect(disagreement(['42', '42.', ' 42 ', '**42**'])).toEqual({ value: 0, mode: 'exact' });
    expect(disagreement(['a', 'b', 'c', 'd']).value).toBeCloseTo(1);
    // two groups of two out of four: entropy log 2 over log 4
    expect(disagreement(['x', 'x', 'y', 'y']).value).toBeCloseTo(0.5);
  });
  it('long answers: word-overlap diversity', () => {
    const s = 'the cat sat on the mat and looked out of the window for a while';
    const same = disagreement([s, s, s]);
    expect(same.mode).toBe('lexical');
    expect(same.value).toBeCloseTo(0);
    const varied = disagreement([s, 'a dog ran across the park chasing a red ball all afternoon long',
      'rain fell softly over the quiet village while everyone slept until morning came']);
    expect(varied.value).toBeGreaterThan(0.8);
    // one word swapped: 27 uni+bigrams each, 24 shared -> Jaccard 24/30 twice and 1 once -> 1 - 2.6/3 = 2/15
    const close = disagreement([s, s.replace('cat', 'kitten'), s]);
    expect(close.value).toBeCloseTo(2 / 15, 12);
    expect(close.value).toBeLessThan(varied.value);
  });
});

describe('firstTokenEntropy', () => {
  it('is 0 for certain tokens and near 1 for uniform top-k covering all mass', () => {
    expect(firstTokenEntropy([{ logprobs: [0] }, { logprobs: [0, -Infinity] }])).toBeCloseTo(0);
    const uniform = Array(5).fill(Math.log(1 / 6));
    // five tokens of 1/6 plus a remainder bucket of 1/6: the maximum, log 6
    expect(firstTokenEntropy([{ logprobs: uniform }])).toBeCloseTo(1);
    expect(firstTokenEntropy([{ logprobs: [Math.log(0.5), Math.log(0.5)] }])).toBeCloseTo(Math.log(2) / Math.log(3));
  });
  it('averages over positions and maps onto 0..99', () => {
    const h = firstTokenEntropy([{ logprobs: [0] }, { logprobs: Array(5).fill(Math.log(1 / 6)) }]);
    expect(h).toBeCloseTo(0.5);
    expect(toScore(h)).toBe(50);
    expect(toScore(1.2)).toBe(99);
    expect(toScore(-1)).toBe(0);
  });
});
