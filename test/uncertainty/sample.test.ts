// Which text of a row gets rated: every DESIGN.md row format, and rows with no text named by file, line, field.
import { describe, expect, it } from 'vitest';
import { DataError } from '../../src/errors.js';
import { canonicalSample, promptTurns, renderSample, sampleTurns } from '../../src/uncertainty/sample.js';

const turns = (row: Record<string, unknown>) => sampleTurns(row, 'd.jsonl', 7);

function dataError(row: Record<string, unknown>): DataError {
  try {
    turns(row);
  } catch (e) {
    return e as DataError;
  }
  throw new Error('expected a DataError');
}

describe('sampleTurns', () => {
  it('reads every row format, all turns', () => {
    expect(turns({ instruction: 'Sum', input: '2 3', output: '5' })).toEqual([
      { role: 'user', content: 'Sum\n\n2 3' }, { role: 'assistant', content: '5' }]);
    expect(turns({ instruction: 'Hi', input: '', output: 'Hello' })[0].content).toBe('Hi');
    expect(turns({ conversations: [{ from: 'system', value: 's' }, { from: 'human', value: 'q' }, { from: 'gpt', value: 'a' },
      { from: 'human', value: 'q2' }, { from: 'gpt', value: 'a2' }] }).map((t) => t.role))
      .toEqual(['system', 'user', 'assistant', 'user', 'assistant']);
    expect(turns({ messages: [{ role: 'developer', content: 'd' }, { role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'image_url', image_url: {} }, { type: 'text', text: 'b' }] },
      { role: 'assistant', content: 'c' }] })).toEqual([{ role: 'system', content: 'd' }, { role: 'user', content: 'ab' }, { role: 'assistant', content: 'c' }]);
    expect(turns({ question: 'Q?', answer: 'A #### 4' })).toEqual([{ role: 'user', content: 'Q?' }, { role: 'assistant', content: 'A #### 4' }]);
    expect(turns({ query: 'Q', response: 'R', type: 'GSM_Rephrased' })).toEqual([{ role: 'user', content: 'Q' }, { role: 'assistant', content: 'R' }]);
    expect(turns({ prompt: 'P', completion: 'C' })).toEqual([{ role: 'user', content: 'P' }, { role: 'assistant', content: 'C' }]);
    expect(turns({ text: 'just text' })).toEqual([{ role: 'user', content: 'just text' }]);
    expect(turns({ conversations: ['q', 'a', 'q2', 'a2'] }).map((t) => t.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
  });

  it('drops an empty trailing answer, so prompt-only and prompt+empty rate alike', () => {
    expect(canonicalSample(turns({ prompt: 'P', response: '' }))).toBe(canonicalSample(turns({ text: 'P' })));
  });

  it('ignores fields that are not text (ids do not change the cache identity)', () => {
    expect(canonicalSample(turns({ id: 1, question: 'Q', answer: 'A' }))).toBe(canonicalSample(turns({ id: 2, question: 'Q', answer: 'A' })));
  });

  it('names file, line and field when there is no text to rate', () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ id: 3, label: 'x' }, /^d\.jsonl:7: no text to rate \(fields: id, label\)/],
      [{ instruction: '', output: '' }, /^d\.jsonl:7 field "instruction": has no text/],
      [{ instruction: 5 }, /field "instruction": must be a string/],
      [{ messages: [] }, /field "messages": has no text/],
      [{ messages: 'hi' }, /field "messages": must be a list/],
      [{ messages: [{ role: 'user', content: 3 }] }, /field "messages\[0\]\.content"/],
      [{ messages: [{ role: 'robot', content: 'x' }] }, /field "messages\[0\]\.role": unknown role/],
      [{ conversations: [{ from: 'human', value: null }] }, /field "conversations\[0\]\.value"/],
      [{ question: '   ', answer: '' }, /field "question": has no text/],
      [{ input_ids: [1, 2] }, /field "input_ids": a pretokenized row/],
    ];
    for (const [row, re] of cases) {
      const e = dataError(row);
      expect(e).toBeInstanceOf(DataError);
      expect(e.message).toMatch(re);
    }
  });
});

describe('rendering', () => {
  it('labels every turn for the verbalized judge', () => {
    expect(renderSample([{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }])).toBe('[user]\nq\n\n[assistant]\na');
  });
  it('gives the judge the conversation up to the final answer', () => {
    expect(promptTurns([{ role: 'user', content: 'q' }, { role: 'tool', content: 't' }, { role: 'assistant', content: 'a' }]))
      .toEqual([{ role: 'user', content: 'q' }, { role: 'user', content: '[tool output]\nt' }]);
    expect(promptTurns([{ role: 'user', content: 'only' }])).toEqual([{ role: 'user', content: 'only' }]);
  });
});
