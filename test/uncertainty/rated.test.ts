// What the judge rates of a row: every DESIGN.md row format read by the one row parser (src/data/formats.ts), the
// turns rated, rows with no text named by file, line and field, and the cache identity of rows pinned byte for byte.
import { describe, expect, it } from 'vitest';
import { toConversation } from '../../src/data/formats.js';
import { DataError } from '../../src/errors.js';
import { rowCacheKey, type ElicitOptions } from '../../src/uncertainty/elicit.js';
import { canonicalSample, promptTurns, ratedTurns, renderSample } from '../../src/uncertainty/rated.js';

const turns = (row: Record<string, unknown>) => ratedTurns(toConversation(row, undefined, 'd.jsonl', 7).messages);

function dataError(row: Record<string, unknown>): DataError {
  try {
    turns(row);
  } catch (e) {
    return e as DataError;
  }
  throw new Error('expected a DataError');
}

describe('the turns rated', () => {
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
    expect(turns({ prompt: 'P', response: '' })).toEqual([{ role: 'user', content: 'P' }]);
    // only trailing ones: an empty turn in the middle is part of the conversation
    expect(ratedTurns([{ role: 'user', content: 'q' }, { role: 'assistant', content: '' }, { role: 'user', content: 'q2' }, { role: 'assistant', content: ' ' }]))
      .toEqual([{ role: 'user', content: 'q' }, { role: 'assistant', content: '' }, { role: 'user', content: 'q2' }]);
  });

  it('ignores fields that are not text (ids do not change the cache identity)', () => {
    expect(canonicalSample(turns({ id: 1, question: 'Q', answer: 'A' }))).toBe(canonicalSample(turns({ id: 2, question: 'Q', answer: 'A' })));
  });

  it('names file, line and field when there is no text to rate', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ id: 3, label: 'x' }, 'd.jsonl:7: cannot tell this row\'s format (fields: id, label)'],
      [{ instruction: '', output: '' }, 'd.jsonl:7 field "instruction": has no text to rate or train on (empty)'],
      [{ instruction: 5 }, 'd.jsonl:7 field "instruction": expected string, received number'],
      [{ messages: [] }, 'd.jsonl:7 field "messages": has no text to rate or train on (empty)'],
      [{ messages: 'hi' }, 'd.jsonl:7 field "messages": expected array, received string'],
      [{ messages: [{ role: 'user', content: 3 }] }, 'd.jsonl:7 field "messages[0].content": must be a string or a list of content parts, got number'],
      [{ messages: [{ role: 'robot', content: 'x' }] }, 'd.jsonl:7 field "messages[0].role": unknown role "robot"'],
      [{ conversations: [{ from: 'human', value: null }] }, 'd.jsonl:7 field "conversations[0].value": expected string, received null'],
      [{ question: '   ', answer: '' }, 'd.jsonl:7 field "question": has no text to rate or train on (empty)'],
      [{ input_ids: [1, 2] }, 'd.jsonl:7 field "input_ids": a pretokenized row has no text to rate or template'],
    ];
    for (const [row, message] of cases) {
      const e = dataError(row);
      expect(e).toBeInstanceOf(DataError);
      expect(e.code).toBe('UAL_DATA_BAD_ROW');
      expect(e.message).toBe(message);
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

// The canonical strings (and cache keys) the former elicitation parser (src/uncertainty/sample.ts) gave these rows:
// existing SQLite caches stay valid only while they stay byte for byte the same.
describe('cache identity of rows accepted before', () => {
  const TOOL_CALLS = [{ id: 'c1', type: 'function', function: { name: 'get', arguments: '{"a":1}' } }];
  const PINNED: Array<[Record<string, unknown>, string, string?]> = [
    [{ id: 1, instruction: 'Add two numbers', input: '2 3', output: '5' }, '[["user","Add two numbers\\n\\n2 3"],["assistant","5"]]',
      'ed1e647b52627be082c71b536ca77e515b4499ae17d37658de67567482d95729'],
    [{ instruction: 'Say hi', input: '', output: '' }, '[["user","Say hi"]]', '08bbe2c6e6c1ffc21f85169bdd8710d0c70fd00b4d7476921680ae714a7e1175'],
    [{ instruction: 'No output here' }, '[["user","No output here"]]'],
    [{ conversations: [{ from: 'system', value: 'Be kind.' }, { from: 'human', value: 'Hi "there"' }, { from: 'gpt', value: 'Hello\nfriend' },
      { from: 'function_call', value: '{"name":"f"}' }, { from: 'observation', value: 'ok' }, { from: 'gpt', value: 'Done' }] },
    '[["system","Be kind."],["user","Hi \\"there\\""],["assistant","Hello\\nfriend"],["assistant","{\\"name\\":\\"f\\"}"],["tool","ok"],["assistant","Done"]]',
    '100bb555eccf4cae88728822e9c5639dc9fda097d5a5a6160a65b55c60fbb3f1'],
    [{ conversations: ['u1', 'a1', 'u2', 'a2'], source: 'lima' }, '[["user","u1"],["assistant","a1"],["user","u2"],["assistant","a2"]]'],
    [{ messages: [{ role: 'developer', content: 'dev' },
      { role: 'user', content: [{ type: 'text', text: 'look: ' }, { type: 'image_url', image_url: { url: 'x' } }, { text: 'here' }] },
      { role: 'assistant', content: null, tool_calls: TOOL_CALLS }, { role: 'tool', content: '42' }, { role: 'function', content: 'f' },
      { role: 'assistant', content: 'It is 42. ünïcödé 🎉' }] },
    '[["system","dev"],["user","look: here"],["assistant","[{\\"id\\":\\"c1\\",\\"type\\":\\"function\\",\\"function\\":{\\"name\\":\\"get\\",\\"arguments\\":\\"{\\\\\\"a\\\\\\":1}\\"}}]"],' +
      '["tool","42"],["tool","f"],["assistant","It is 42. ünïcödé 🎉"]]', '63c9ba5a298f8cf1f5f7a128c8200e14a6212d1a00987eaa1ac25f583c9f51cb'],
    [{ messages: [{ role: 'user', content: 'only a question' }] }, '[["user","only a question"]]'],
    [{ question: 'Tom has 3 apples?', answer: 'He has 3.\n#### 3' }, '[["user","Tom has 3 apples?"],["assistant","He has 3.\\n#### 3"]]',
      '75fbebdc56923b0295e655d58767b93c79744df9c6f962ba1273cd768c6e644f'],
    [{ question: 'Prompt only?' }, '[["user","Prompt only?"]]', 'f9ecfc44ea4847daaf0a84ec3d31d710aee27f170d4e51fc7c38eddc033ee145'],
    [{ query: 'Solve x', response: 'x = 1', type: 'MATH_FOBAR' }, '[["user","Solve x"],["assistant","x = 1"]]'],
    [{ prompt: 'P', completion: 'C' }, '[["user","P"],["assistant","C"]]', '1828ddc38e416d5965c78a5cc598968463971747712c4fec3e2be5092ba22698'],
    [{ prompt: 'P2', response: 'R2', completion: 'ignored' }, '[["user","P2"],["assistant","R2"]]'],
    [{ prompt: 'P3', output: '' }, '[["user","P3"]]'],
    [{ text: 'just some text' }, '[["user","just some text"]]', '2e6cbea323ac58fef5dac524d055faf87a7e238d9d86e612d39fec247a66d2e1'],
  ];
  const o = { method: 'verbalized', model: 'judge-large' } as ElicitOptions;

  it('canonical strings and cache keys are unchanged', () => {
    for (const [row, canonical, key] of PINNED) {
      expect(canonicalSample(turns(row))).toBe(canonical);
      if (key) expect(rowCacheKey(o, { row, line: 1, file: 'f', raw: JSON.stringify(row) })).toBe(key);
    }
  });
});
