// Math evaluation rows come through the one row parser (src/data/formats.ts): GSM8K, MetaMathQA and any other
// format with a question and a worked answer; a row without a gold answer is named by file, line and field.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UalError } from '../../src/errors.js';
import { readMathRows, readMathShots } from '../../src/eval/rows.js';
import { rejection, writeJsonl } from '../helpers/files.js';

let dir: string;
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-eval-rows-')); });
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const write = (name: string, rows: unknown[]) => writeJsonl(dir, name, rows);
const failure = (p: Promise<unknown>) => rejection(p, UalError);

describe('readMathRows', () => {
  it('reads GSM8K, MetaMathQA and chat rows alike: the question asked, the gold of the final reply', async () => {
    const f = write('mixed.jsonl', [
      { question: 'Tom has 3 + 4?', answer: '3 + 4 = 7\n#### 7' },
      { query: 'What is 2 * 6?', response: '2 * 6 = 12. The answer is: 12' },
      { messages: [{ role: 'system', content: 'Solve.' }, { role: 'user', content: 'What is 10 - 1?' }, { role: 'assistant', content: '#### 9' }] },
      { question: 'Bare?', answer: ' 18 ' },
    ]);
    expect(await readMathRows(f)).toEqual([
      { question: 'Tom has 3 + 4?', gold: '7', line: 1 },
      { question: 'What is 2 * 6?', gold: '12', line: 2 },
      { question: 'What is 10 - 1?', gold: '9', line: 3 },
      { question: 'Bare?', gold: '18', line: 4 },
    ]);
    expect(await readMathShots(f, 2)).toEqual([
      { question: 'Tom has 3 + 4?', solution: '3 + 4 = 7\n#### 7' },
      { question: 'What is 2 * 6?', solution: '2 * 6 = 12. The answer is: 12' },
    ]);
  });

  it('a row without a gold answer: file, line and field', async () => {
    const noAnswer = write('noanswer.jsonl', [{ question: 'q', answer: '#### 1' }, { question: 'q2' }]);
    expect((await failure(readMathRows(noAnswer))).message).toBe(`${noAnswer}:2 field "answer": is missing`);
    const noGold = write('nogold.jsonl', [{ query: 'q', response: 'no final answer' }]);
    expect((await failure(readMathRows(noGold))).message).toBe(`${noGold}:1 field "response": has no "The answer is: N" final answer`);
    const text = write('text.jsonl', [{ text: 'just text' }]);
    expect((await failure(readMathRows(text))).message).toBe(`${text}:1 field "text": has no question and answer to score`);
    const empty = write('empty.jsonl', []);
    expect(await failure(readMathRows(empty))).toMatchObject({ code: 'UAL_DATA_BAD_FILE', message: `${empty}: has no rows` });
  });
});
