// Answer extraction over tricky real-world outputs (units, commas, negatives, decimals, several numbers, "A:"
// endings, no number), the three match modes, and GSM8K's own solutions scoring 100%.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { answersMatch, extractAnswer, goldFromGsm8k, goldFromMetaMath, normalizeAnswer, scoreAnswer, type ExtractedBy } from '../../src/eval/extract.js';
import { evalMath } from '../../src/eval/math.js';
import { describeWith, needSharedData } from '../helpers/needs.js';

// [model output, extracted canonical answer (flexible mode), rule that found it]
const CASES: Array<[string, string | null, ExtractedBy | null]> = [
  ['Janet sells 16 - 3 - 4 = 9 eggs.\nShe makes 9 * 2 = $18 every day.\n#### 18', '18', 'hash'],
  ['#### 1,080', '1080', 'hash'],
  ['The total is 5 + 7 = 12.\n#### 12 dollars', '12', 'hash'],
  ['So she paid $1,234.50 in total.\nThe answer is: 1234.5', '1234.5', 'answer-is'],
  ['The answer is $18.00.', '18', 'answer-is'],
  ['The temperature dropped to -7 degrees. The answer is -7', '-7', 'answer-is'],
  ['The difference is −15 (a loss).\nThe answer is −15.', '-15', 'answer-is'],
  ['He runs 3 sprints 3 times a week, 60 meters each: 3*3*60 = 540. The answer is 540 meters.\n\nQuestion: Every day', '540', 'answer-is'],
  ['The answer is 3/4', '0.75', 'answer-is'],
  ['Half of it is \\frac{1}{2}. The final answer is $\\frac{1}{2}$.', '0.5', 'answer-is'],
  ['So the area is \\boxed{42} square units.', '42', 'boxed'],
  ['We get \\boxed{\\frac{3}{8}}', '0.375', 'boxed'],
  ['Q: How many?\nA: She has 3 + 4 = 7 apples', '7', 'a-colon'],
  ['Let me think.\nAnswer: 25%', '25', 'a-colon'],
  ['She had 5 apples, bought 12 more and gave away 3, so she has 14 apples left.', '14', 'last-number'],
  ['It costs 0.5 dollars per pen, 10 pens cost 5.', '5', 'last-number'],
  ['The ratio is .25 of the total.', '0.25', 'last-number'],
  ['In 2,3 and 4 cases it fails.', '4', 'last-number'],
  ['From 5-3 we get two.', '3', 'last-number'],
  ['The machine makes 12,000,000 units', '12000000', 'last-number'],
  ['I do not know how to solve this.', null, null],
  ['', null, null],
  ['The answer is: (1, 2)', '(1, 2)', 'answer-is'],
];

describe('extractAnswer', () => {
  test.each(CASES)('%j -> %s', (output, want, by) => {
    const s = scoreAnswer(output, want ?? '0', 'flexible');
    expect(s.extracted).toBe(want);
    expect(s.by).toBe(by);
  });

  test('strict mode takes markers only, never the last number', () => {
    expect(extractAnswer('She has 14 apples left.', 'strict')).toBeNull();
    expect(extractAnswer('She has 14 apples left.\n#### 14', 'strict')).toEqual({ raw: '14', by: 'hash' });
    expect(scoreAnswer('She has 14 apples left.', '14', 'strict').correct).toBe(false);
    expect(scoreAnswer('She has 14 apples left.', '14', 'flexible').correct).toBe(true);
  });

  test('the first #### wins over later rambling; "The answer is" outranks a later last number', () => {
    expect(scoreAnswer('#### 5\nQuestion: what is 6?', '5', 'strict').correct).toBe(true);
    expect(scoreAnswer('The answer is 8. Next, 9 apples', '8', 'flexible').correct).toBe(true);
  });

  test('lenient = the gold string anywhere in the output (digit-group commas ignored)', () => {
    expect(scoreAnswer('we computed 1,000 then stopped at 7', '1000', 'lenient').correct).toBe(true);
    expect(scoreAnswer('we computed 1,000 then stopped at 7', '1000', 'flexible').correct).toBe(false);
    expect(scoreAnswer('nothing here', '12', 'lenient')).toEqual({ extracted: null, by: null, correct: false });
  });
});

describe('normalisation and matching', () => {
  test.each([
    ['18', '18.0', true], ['$1,000', '1000', true], ['50%', '50', true], ['18 dollars', '18', true],
    ['0.75', '3/4', true], ['-3', '3', false], ['0.333333', '1/3', false], ['12', '120', false],
    ['\\frac{1}{2}', '0.5', true], ['(1,2)', '(1, 2)', true], ['x+1', 'x + 1', true], ['abc', '', false],
  ])('%s vs %s -> %s', (a, b, same) => {
    expect(answersMatch(a, b)).toBe(same);
  });

  test('normalizeAnswer keeps non-numeric answers as cleaned text', () => {
    expect(normalizeAnswer('$\\left( 3, \\frac{\\pi}{2} \\right)$')).toEqual({ num: null, text: '(3,\\frac{\\pi}{2})' });
    expect(normalizeAnswer('$18.')).toEqual({ num: 18, text: '18' });
  });

  test('gold answers: GSM8K after ####, MetaMathQA after the last "The answer is"', () => {
    expect(goldFromGsm8k('She makes 9 * 2 = $<<9*2=18>>18 every day.\n#### 18')).toBe('18');
    expect(goldFromGsm8k('no final answer')).toBeNull();
    expect(goldFromMetaMath('... so the answer is 3.\nThe answer is: 36')).toBe('36');
    expect(goldFromMetaMath('no marker')).toBeNull();
  });
});

const GSM8K_TEST = needSharedData('gsm8k/test.jsonl');

describeWith(GSM8K_TEST, 'GSM8K reference solutions as predictions', () => {
  test('score 100% in every match mode', async () => {
    const dir = fs.mkdtempSync(path.join(import.meta.dirname, '.tmp-gsm8k-'));
    try {
      const preds = path.join(dir, 'preds.jsonl');
      const lines = fs.readFileSync(GSM8K_TEST.file, 'utf8').split('\n').filter((l) => l.trim());
      fs.writeFileSync(preds, lines.map((l) => {
        const r = JSON.parse(l) as { question: string; answer: string };
        return JSON.stringify({ question: r.question, output: r.answer });
      }).join('\n') + '\n');
      for (const match of ['strict', 'flexible', 'lenient'] as const) {
        const out = path.join(dir, `rows-${match}.jsonl`);
        const r = await evalMath({ task: 'gsm8k', data: GSM8K_TEST.file, predictions: preds, match, out });
        expect(r.n).toBe(1319);
        expect(r.accuracy).toBe(1);
        expect(r.ci95[1]).toBe(1);
        expect(r.ci95[0]).toBeCloseTo(1319 / (1319 + 1.959963984540054 ** 2), 6); // Wilson at k = n: n / (n + z²)
        const rows = fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
        expect(rows).toHaveLength(1319);
        expect(Object.keys(rows[0])).toEqual(['question', 'output', 'extracted', 'gold', 'correct']);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
