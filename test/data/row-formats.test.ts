// One row parser, two entry points: every supported row format, valid and malformed, goes through what `ual elicit`
// calls (elicit() with --dry-run: every row is read and checked, nothing is sent) and what `ual train` calls
// (loadTextDataset). They accept and refuse the same files with the same error (code, file, line, field, hint), apart
// from two documented differences: training's own rule (a row needs a reply to learn from; elicitation rates
// prompt-only rows), and a file of pretokenized rows (token ids train; there is no text to rate).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTextDataset } from '../../src/data/dataset.js';
import type { DataFormat } from '../../src/data/formats.js';
import { Tokenizer } from '../../src/data/tokenizer.js';
import { UalError } from '../../src/errors.js';
import { elicit } from '../../src/uncertainty/elicit.js';
import { writeGpt2Tokenizer } from '../helpers/gpt2-tokenizer.js';

let dir: string;
let gpt2: Tokenizer;
let n = 0;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-row-formats-'));
  gpt2 = Tokenizer.load(writeGpt2Tokenizer(path.join(dir, 'gpt2')));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

type Outcome = { ok: true; rows: number } | { ok: false; code: string; message: string; hint: string | undefined };

async function outcome(p: Promise<number>): Promise<Outcome> {
  try {
    return { ok: true, rows: await p };
  } catch (e) {
    if (!(e instanceof UalError)) throw e;
    return { ok: false, code: e.code, message: e.message, hint: e.hint };
  }
}

/** What `ual elicit --dry-run` makes of a file: every row read and checked, the cost estimated, nothing sent. */
function viaElicit(file: string, format?: DataFormat): Promise<Outcome> {
  return outcome(elicit({
    input: file, format, dryRun: true, method: 'verbalized', model: 'judge', cache: path.join(dir, 'no-cache.sqlite'),
    baseURL: 'http://127.0.0.1:9/v1', apiKey: 'none', concurrency: 1, timeoutMs: 1000, maxRetries: 0,
    backoff: { baseMs: 1, maxMs: 1 }, samples: 5, topLogprobs: 5, answerTokens: 5, parseRetries: 0,
  }).then((s) => s.rows));
}

/** What `ual train` makes of it: the trainer's dataset reader. */
function viaTrain(file: string, format?: DataFormat): Promise<Outcome> {
  return outcome(loadTextDataset(file, { template: 'paper', tokenizer: gpt2, maxLength: 4096, format }).then((d) => d.summary.read));
}

function write(rows: unknown[]): string {
  const f = path.join(dir, `rows-${n++}.jsonl`);
  fs.writeFileSync(f, rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n');
  return f;
}

/** One valid row of each format: line 1 of every file below, so the row under test is line 2. */
const GOOD: Record<Exclude<DataFormat, 'pretokenized'>, Record<string, unknown>> = {
  alpaca: { instruction: 'Add', input: '2 3', output: '5' },
  sharegpt: { conversations: [{ from: 'human', value: 'Hi' }, { from: 'gpt', value: 'Hello' }] },
  openai: { messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello' }] },
  gsm8k: { question: 'Q?', answer: 'A\n#### 4' },
  metamath: { query: 'Q', response: 'The answer is: 1' },
  lima: { conversations: ['u', 'a'] },
  prompt: { prompt: 'P', completion: 'C' },
  text: { text: 'Some plain text.' },
};

const VALID: Array<[string, keyof typeof GOOD, Record<string, unknown>]> = [
  ['alpaca with input, extra fields kept', 'alpaca', { id: 7, instruction: 'Sum', input: '1 2', output: '3', source: 'x' }],
  ['alpaca without input / null input', 'alpaca', { instruction: 'Say hi', input: null, output: 'hi' }],
  ['alpaca with an empty output (trains EOS only)', 'alpaca', { instruction: 'Be silent', output: '' }],
  ['sharegpt with system and tool speakers', 'sharegpt', { conversations: [{ from: 'system', value: 's' }, { from: 'human', value: 'q' },
    { from: 'function_call', value: '{"name":"f"}' }, { from: 'observation', value: '42' }, { from: 'gpt', value: 'It is 42' }] }],
  ['sharegpt speakers in any case', 'sharegpt', { conversations: [{ from: 'Human', value: 'q' }, { from: 'GPT', value: 'a' }] }],
  ['openai content parts (image parts carry no text)', 'openai', { messages: [{ role: 'developer', content: 'd' },
    { role: 'user', content: [{ type: 'text', text: 'look ' }, { type: 'image_url', image_url: { url: 'u' } }, { text: 'here' }] },
    { role: 'assistant', content: 'ok' }] }],
  ['openai tool call with null content, tool and function results', 'openai', { messages: [{ role: 'user', content: 'time?' },
    { role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'now', arguments: '{}' } }] },
    { role: 'tool', content: '12:00' }, { role: 'function', content: 'noon' }, { role: 'assistant', content: 'Noon.' }] }],
  ['gsm8k', 'gsm8k', { question: 'Tom has 3?', answer: '3\n#### 3', epsilon: 0.1, uncertainty: 12 }],
  ['metamath', 'metamath', { query: 'Solve', response: 'x=1', type: 'MATH_FOBAR' }],
  ['lima', 'lima', { conversations: ['u1', 'a1', 'u2', 'a2'] }],
  ['prompt + completion', 'prompt', { prompt: 'P', completion: 'C' }],
  ['prompt + response', 'prompt', { prompt: 'P', response: 'R' }],
  ['prompt + output', 'prompt', { prompt: 'P', output: 'O' }],
  ['text (every token trained)', 'text', { text: 'Once upon a time.' }],
  ['a row of another format than the first (each row is read by its shape)', 'alpaca', { messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }] }],
];

// Rows both refuse, with the same error; `error` is the message after "FILE:2" (a field, or ": " and the problem).
const MALFORMED: Array<[string, keyof typeof GOOD, unknown, string]> = [
  ['alpaca: wrong type', 'alpaca', { instruction: 7, output: 'x' }, 'field "instruction": expected string, received number'],
  ['alpaca: input of the wrong type', 'alpaca', { instruction: 'i', input: ['x'], output: 'o' }, 'field "input": expected string, received array'],
  ['alpaca: output of the wrong type', 'alpaca', { instruction: 'i', output: 5 }, 'field "output": expected string, received number'],
  ['alpaca: empty text', 'alpaca', { instruction: '  ', input: '', output: '' }, 'field "instruction": has no text to rate or train on (empty)'],
  ['sharegpt: unknown speaker', 'sharegpt', { conversations: [{ from: 'robot', value: 'x' }, { from: 'gpt', value: 'y' }] },
    'field "conversations[0].from": unknown speaker "robot"'],
  ['sharegpt: missing value', 'sharegpt', { conversations: [{ from: 'human' }, { from: 'gpt', value: 'y' }] }, 'field "conversations[0].value": is missing'],
  ['sharegpt: value of the wrong type', 'sharegpt', { conversations: [{ from: 'human', value: 1 }] }, 'field "conversations[0].value": expected string, received number'],
  ['sharegpt: a turn that is no object', 'sharegpt', { conversations: [{ from: 'human', value: 'q' }, 5] }, 'field "conversations[1]": expected object, received number'],
  ['sharegpt: not a list', 'sharegpt', { conversations: 'hi' }, 'field "conversations": expected array, received string'],
  ['sharegpt: empty', 'sharegpt', { conversations: [] }, 'field "conversations": has no text to rate or train on (empty)'],
  ['openai: unknown role', 'openai', { messages: [{ role: 'robot', content: 'x' }] }, 'field "messages[0].role": unknown role "robot"'],
  ['openai: missing role', 'openai', { messages: [{ content: 'x' }] }, 'field "messages[0].role": is missing'],
  ['openai: content of the wrong type', 'openai', { messages: [{ role: 'user', content: 3 }] },
    'field "messages[0].content": must be a string or a list of content parts, got number'],
  ['openai: null content without tool_calls', 'openai', { messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: null }] },
    'field "messages[1].content": must be a string or a list of content parts, got null'],
  ['openai: a text part without its text', 'openai', { messages: [{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text' }] }] },
    'field "messages[0].content[1].text": is missing'],
  ['openai: a content part that is no object', 'openai', { messages: [{ role: 'user', content: ['a'] }] },
    'field "messages[0].content[0]": must be a content part object, got "a"'],
  ['openai: all turns empty', 'openai', { messages: [{ role: 'user', content: '' }, { role: 'assistant', content: ' ' }] },
    'field "messages": has no text to rate or train on (empty)'],
  ['gsm8k: wrong type', 'gsm8k', { question: ['q'], answer: 'a' }, 'field "question": expected string, received array'],
  ['gsm8k: empty text', 'gsm8k', { question: '', answer: '' }, 'field "question": has no text to rate or train on (empty)'],
  ['metamath: wrong type', 'metamath', { query: 1, response: 'r' }, 'field "query": expected string, received number'],
  ['lima: strings and objects mixed', 'lima', { conversations: ['u', { from: 'gpt', value: 'a' }] }, 'field "conversations[1]": expected string, received object'],
  ['prompt: completion of the wrong type', 'prompt', { prompt: 'p', completion: 3 }, 'field "completion": expected string, received number'],
  ['prompt: empty text', 'prompt', { prompt: '', completion: '' }, 'field "prompt": has no text to rate or train on (empty)'],
  ['text: wrong type', 'text', { text: 5 }, 'field "text": expected string, received number'],
  ['text: empty', 'text', { text: ' \n ' }, 'field "text": has no text to rate or train on (empty)'],
  ['a pretokenized row among text rows', 'alpaca', { input_ids: [1, 2, 3] }, 'field "input_ids": a pretokenized row has no text to rate or template'],
  ['a row of no known shape', 'gsm8k', { id: 3, label: 'x' }, ': cannot tell this row\'s format (fields: id, label)'],
  ['epsilon out of range', 'alpaca', { instruction: 'i', output: 'o', epsilon: 1.5 }, 'field "epsilon": must be a number in [0, 0.99], got 1.5'],
  ['uncertainty of the wrong type', 'gsm8k', { question: 'q', answer: 'a', uncertainty: 'high' }, 'field "uncertainty": must be a number in [0, 99], got "high"'],
  ['a line that is no JSON object', 'text', '["a", "b"]', ': expected a JSON object, got an array'],
];

// Rows without a reply: elicitation rates their prompt; training has nothing to learn from. The one intended difference.
const PROMPT_ONLY: Array<[string, keyof typeof GOOD, Record<string, unknown>, string]> = [
  ['alpaca without output', 'alpaca', { instruction: 'Write a poem' }, 'field "output": is missing'],
  ['alpaca with a null output', 'alpaca', { instruction: 'Write a poem', output: null }, 'field "output": is missing'],
  ['gsm8k without answer', 'gsm8k', { question: 'How many?' }, 'field "answer": is missing'],
  ['metamath without response', 'metamath', { query: 'Solve' }, 'field "response": is missing'],
  ['prompt without completion', 'prompt', { prompt: 'Tell me' }, 'field "completion": is missing'],
  ['openai with no assistant turn', 'openai', { messages: [{ role: 'system', content: 's' }, { role: 'user', content: 'q' }] },
    'field "messages": has no assistant turn: nothing to learn from'],
  ['sharegpt with no assistant turn', 'sharegpt', { conversations: [{ from: 'human', value: 'q' }] },
    'field "conversations": has no assistant turn: nothing to learn from'],
  ['lima with a prompt only', 'lima', { conversations: ['q'] }, 'field "conversations": has no assistant turn: nothing to learn from'],
];

describe('elicit and train read every row format alike', () => {
  it.each(VALID)('accept: %s', async (_name, first, row) => {
    const f = write([GOOD[first], row]);
    const [e, t] = [await viaElicit(f), await viaTrain(f)];
    expect(e).toEqual({ ok: true, rows: 2 });
    expect(t).toEqual(e);
  });

  it.each(MALFORMED)('refuse: %s', async (_name, first, row, error) => {
    const f = write([GOOD[first], row]);
    const e = await viaElicit(f);
    expect(e).toMatchObject({ ok: false, code: 'UAL_DATA_BAD_ROW', message: `${f}:2${error.startsWith(':') ? '' : ' '}${error}` });
    expect(await viaTrain(f)).toEqual(e);
  });

  it('a forced --format reads every row as that format, and says when a row looks like another', async () => {
    const f = write([GOOD.gsm8k, GOOD.metamath]);
    expect(await viaTrain(f)).toEqual({ ok: true, rows: 2 });
    const e = await viaElicit(f, 'gsm8k');
    expect(e).toMatchObject({ ok: false, code: 'UAL_DATA_BAD_ROW', message: `${f}:2 field "question": is missing` });
    expect(e.ok === false && e.hint).toMatch(/looks like metamath but --format gsm8k reads every row as gsm8k/);
    expect(await viaTrain(f, 'gsm8k')).toEqual(e);
  });
});

describe('broken JSON', () => {
  it('a line that does not parse is a bad row for both, named by line', async () => {
    const f = write([GOOD.text, '{"text": "broken']);
    const e = await viaElicit(f);
    expect(e).toMatchObject({ ok: false, code: 'UAL_DATA_BAD_ROW' });
    expect(e.ok === false && e.message.startsWith(`${f}:2: not valid JSON (`)).toBe(true);
    expect(await viaTrain(f)).toEqual(e);
  });
});

describe('bad files: UAL_DATA_BAD_FILE from both', () => {
  const cases: Array<[string, () => string, string]> = [
    ['an empty file', () => write([]), 'has no rows'],
    ['blank lines only', () => { const f = path.join(dir, 'blank.jsonl'); fs.writeFileSync(f, '\n  \n'); return f; }, 'has no rows'],
    ['an empty JSON array', () => { const f = path.join(dir, 'empty.json'); fs.writeFileSync(f, ' [ ]\n'); return f; }, 'has no rows'],
    ['a truncated JSON array', () => { const f = path.join(dir, 'cut.json'); fs.writeFileSync(f, '[{"text": "a"},\n{"text": '); return f; },
      'the JSON array is not closed (truncated file?)'],
    ['a missing file', () => path.join(dir, 'nope.jsonl'), 'cannot read: ENOENT'],
  ];
  it.each(cases)('%s', async (_name, make, problem) => {
    const f = make();
    const e = await viaElicit(f);
    expect(e).toMatchObject({ ok: false, code: 'UAL_DATA_BAD_FILE' });
    expect(e.ok === false && e.message).toMatch(new RegExp(`^${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(:\\d+)?: ${problem.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
    expect(await viaTrain(f)).toEqual(e);
  });

  it('a format that cannot be told from the first rows', async () => {
    const f = write([{ foo: 1, bar: 2 }, { foo: 3 }]);
    const e = await viaElicit(f);
    expect(e).toMatchObject({ ok: false, code: 'UAL_DATA_BAD_FILE', message: `${f}:1: cannot tell the dataset format from the first rows (fields: foo, bar)` });
    expect(await viaTrain(f)).toEqual(e);
  });
});

describe('the documented differences', () => {
  it.each(PROMPT_ONLY)('training only: %s has no reply to learn from; elicitation rates its prompt', async (_name, first, row, error) => {
    const f = write([GOOD[first], row]);
    expect(await viaElicit(f)).toEqual({ ok: true, rows: 2 });
    const t = await viaTrain(f);
    expect(t).toMatchObject({ ok: false, code: 'UAL_DATA_BAD_ROW', message: `${f}:2 ${error}` });
    expect(t.ok === false && t.hint).toMatch(/ual elicit also rates rows without one/);
  });

  it('a file of pretokenized rows trains on its ids; it has no text to rate', async () => {
    const f = write([{ input_ids: [1, 2, 3], labels: [-100, 2, 3] }, { input_ids: [4, 5] }]);
    expect(await viaTrain(f)).toEqual({ ok: true, rows: 2 });
    expect(await viaElicit(f)).toMatchObject({ ok: false, code: 'UAL_DATA_BAD_ROW',
      message: `${f}:1 field "input_ids": a pretokenized row has no text to rate or template` });
  });
});
