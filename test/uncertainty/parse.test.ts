// Reading a 0–99 score from judge replies: every accepted form, and the replies we must refuse rather than guess.
import { describe, expect, it } from 'vitest';
import { parseScore } from '../../src/uncertainty/parse.js';

describe('parseScore', () => {
  it.each([
    ['{"score": 85}', 85],
    ['{"Score":"12"}', 12],
    ['{"uncertainty": 40}', 40],
    ['  {"score": 0}\n', 0],
    ['42', 42],
    ['42.', 42],
    ['99', 99],
    ['7.5', 7.5],
    ['Score: 73', 73],
    ['score = 15', 15],
    ['**Score:** 64', 64],
    ['The score is 30.', 30],
    ['Rating: 55/99', 55],
    ['```json\n{"score": 91}\n```', 91],
    ['```\n{"score": 3}\n```', 3],
    ['Sure! Here is my rating: {"score": 77} because it is creative.', 77],
    ['<think>maybe 20, maybe 80... it is a poem</think>\n{"score": 88}', 88],
    ['{"score": 60}\nScore: 60', 60],
  ])('reads %j as %d', (reply, want) => {
    expect(parseScore(reply)).toBe(want);
  });

  it.each([
    [''],
    ['I think this is fairly open-ended.'],
    ['{"score": 100}'],
    ['{"score": -3}'],
    ['150'],
    ['Score: 85/100'],
    ['{"score": "high"}'],
    ['{"score": 40} ... on reflection {"score": 60}'],
    ['Score: 20. Actually, Score: 70'],
    ['between 40 and 60'],
    ['<think>still thinking about 50'],
    ['{"reason": "math"}'],
    ['[50]'],
  ])('refuses %j', (reply) => {
    expect(parseScore(reply)).toBeNull();
  });
});
