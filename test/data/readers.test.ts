// Dataset readers: every format on small inline rows and on the real Alpaca / GSM8K files, detection by shape and
// --format, bad rows named by file:line:field, --skip-bad-rows counts, and empty files.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectFormat, requireReply, rowFormat, toConversation, type Conversation } from '../../src/data/formats.js';
import { readAllConversations, readConversations, newReadStats } from '../../src/data/readers.js';
import { DataError } from '../../src/errors.js';
import { rejection, writeJsonl } from '../helpers/files.js';
import { describeWith, needSharedData } from '../helpers/needs.js';

const ALPACA = needSharedData('alpaca/alpaca_5000.json');
const GSM8K = needSharedData('gsm8k/train.jsonl');

let dir: string;
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-readers-')); });
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const jsonl = (name: string, rows: unknown[]) => writeJsonl(dir, name, rows);
const failure = (p: Promise<unknown>) => rejection(p, DataError);

const turns = (c: Conversation) => c.messages.map((m) => [m.role, m.content]);

describe('each format becomes a conversation, every field kept', () => {
  it('alpaca: instruction and input joined by a blank line; empty input left out', async () => {
    const f = jsonl('alpaca.jsonl', [
      { instruction: 'Add', input: '2 3', output: '5', id: 'row-1' },
      { instruction: 'Say hi', input: '', output: 'hi', uncertainty: 12, epsilon: 0.05 },
      { instruction: 'No input field', output: 'ok' },
    ]);
    const { conversations, stats } = await readAllConversations(f);
    expect(stats).toMatchObject({ format: 'alpaca', read: 3, skipped: 0 });
    expect(conversations.map(turns)).toEqual([
      [['user', 'Add\n\n2 3'], ['assistant', '5']],
      [['user', 'Say hi'], ['assistant', 'hi']],
      [['user', 'No input field'], ['assistant', 'ok']],
    ]);
    expect(conversations[0].raw).toEqual({ instruction: 'Add', input: '2 3', output: '5', id: 'row-1' });
    expect(conversations[1]).toMatchObject({ epsilon: 0.05, uncertainty: 12, line: 2, format: 'alpaca' });
    expect(conversations[0].epsilon).toBeUndefined();
  });

  it('sharegpt / deita: human, user, gpt, assistant, system speakers; multi-turn', async () => {
    const f = jsonl('sharegpt.jsonl', [
      { id: 'deita-1', conversations: [{ from: 'human', value: 'q1' }, { from: 'gpt', value: 'a1' }, { from: 'human', value: 'q2' }, { from: 'gpt', value: 'a2' }] },
      { conversations: [{ from: 'system', value: 's' }, { from: 'user', value: 'q' }, { from: 'assistant', value: 'a' }] },
    ]);
    const { conversations, stats } = await readAllConversations(f);
    expect(stats.format).toBe('sharegpt');
    expect(conversations.map(turns)).toEqual([
      [['user', 'q1'], ['assistant', 'a1'], ['user', 'q2'], ['assistant', 'a2']],
      [['system', 's'], ['user', 'q'], ['assistant', 'a']],
    ]);
    expect(conversations[0].raw.id).toBe('deita-1');
  });

  it('openai messages: developer is system, text parts joined', async () => {
    const f = jsonl('openai.jsonl', [
      { messages: [{ role: 'developer', content: 'd' }, { role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'image_url' }, { type: 'text', text: 'b' }] }, { role: 'assistant', content: 'c' }] },
    ]);
    const { conversations, stats } = await readAllConversations(f);
    expect(stats.format).toBe('openai');
    expect(conversations.map(turns)).toEqual([[['system', 'd'], ['user', 'ab'], ['assistant', 'c']]]);
  });

  it('gsm8k, metamath and lima', async () => {
    const g = await readAllConversations(jsonl('g.jsonl', [{ question: 'Q?', answer: 'A\n#### 4' }]));
    expect(g.stats.format).toBe('gsm8k');
    expect(g.conversations.map(turns)).toEqual([[['user', 'Q?'], ['assistant', 'A\n#### 4']]]);
    const m = await readAllConversations(jsonl('m.jsonl', [{ query: 'Q', response: 'R', type: 'GSM_Rephrased', original_question: 'O' }]));
    expect(m.stats.format).toBe('metamath');
    expect(m.conversations.map(turns)).toEqual([[['user', 'Q'], ['assistant', 'R']]]);
    expect(m.conversations[0].raw.type).toBe('GSM_Rephrased');
    // LIMA (GAIR/lima): "conversations" is a list of strings, alternating user / assistant
    const l = await readAllConversations(jsonl('l.jsonl', [{ conversations: ['u1', 'a1', 'u2', 'a2'], source: 'stackexchange' }]));
    expect(l.stats.format).toBe('lima');
    expect(l.conversations.map(turns)).toEqual([[['user', 'u1'], ['assistant', 'a1'], ['user', 'u2'], ['assistant', 'a2']]]);
  });

  it('a JSON array file reads like JSONL', async () => {
    const f = path.join(dir, 'arr.json');
    fs.writeFileSync(f, JSON.stringify([{ question: 'a', answer: 'b' }, { question: 'c', answer: 'd' }], null, 1));
    const { conversations } = await readAllConversations(f);
    expect(conversations.map((c) => c.messages[1].content)).toEqual(['b', 'd']);
  });
});

describe('format detection', () => {
  it('by shape, the most common guess among the first rows', () => {
    expect(rowFormat({ input_ids: [1] })).toBe('pretokenized');
    expect(rowFormat({ conversations: ['a', 'b'] })).toBe('lima');
    expect(rowFormat({ conversations: [{ from: 'human', value: 'x' }] })).toBe('sharegpt');
    expect(rowFormat({ hello: 1 })).toBeNull();
    const rows = [{ row: { hello: 1 }, line: 1 }, { row: { question: 'q', answer: 'a' }, line: 2 }, { row: { question: 'q', answer: 'a' }, line: 3 }];
    expect(detectFormat(rows, 'f.jsonl')).toBe('gsm8k');
  });

  it('no recognisable row: names the first row and lists --format', async () => {
    const e = await failure(readAllConversations(jsonl('unknown.jsonl', [{ foo: 1, bar: 2 }])));
    expect(e.message).toMatch(/unknown\.jsonl:1: cannot tell the dataset format .*fields: foo, bar/);
    expect(e.code).toBe('UAL_DATA_BAD_FILE');
    expect(e.hint).toMatch(/--format \(alpaca, sharegpt, openai, gsm8k, metamath, lima, prompt, text, pretokenized\)/);
  });

  it('--format overrides detection, and rows of another shape are then errors that say so', async () => {
    const f = jsonl('mixed.jsonl', [{ question: 'q', answer: 'a', instruction: 'i', output: 'o' }]);
    const auto = await readAllConversations(f);
    expect(auto.stats.format).toBe('alpaca');
    const forced = await readAllConversations(f, { format: 'gsm8k' });
    expect(forced.conversations.map(turns)).toEqual([[['user', 'q'], ['assistant', 'a']]]);
    const e = await failure(readAllConversations(jsonl('g2.jsonl', [{ query: 'q', response: 'r' }]), { format: 'gsm8k' }));
    expect(e.message).toMatch(/g2\.jsonl:1 field "question": is missing/);
    expect(e.hint).toMatch(/looks like metamath .* --format metamath/);
  });
});

describe('bad rows', () => {
  const rows = [
    { instruction: 'ok', input: '', output: 'fine' },
    { instruction: 'no output' },
    { instruction: 7, output: 'x' },
    { instruction: 'bad eps', output: 'x', epsilon: 1.5 },
    { instruction: 'ok2', output: 'fine2' },
  ];

  it('stop the read naming file, line and field', async () => {
    const f = jsonl('bad.jsonl', rows);
    const e = await failure(readAllConversations(f));
    expect(e.code).toBe('UAL_DATA_BAD_ROW');
    expect(e.message).toBe(`${f}:2 field "output": is missing`);
    expect(e.hint).toContain('{"instruction": str, "input"?: str, "output": str}');
  });

  it('a wrong type and an out-of-range epsilon are named too', () => {
    expect(() => toConversation(rows[2] as never, 'alpaca', 'x.jsonl', 3)).toThrow(/x\.jsonl:3 field "instruction": expected string, received number/);
    expect(() => toConversation(rows[3] as never, 'alpaca', 'x.jsonl', 4)).toThrow(/x\.jsonl:4 field "epsilon": must be a number in \[0, 0\.99\], got 1\.5/);
    // tool speakers are read (as tool turns); a speaker outside the role table is named
    expect(toConversation({ conversations: [{ from: 'tool', value: 'x' }, { from: 'gpt', value: 'y' }] }, 'sharegpt', 's', 5).messages)
      .toEqual([{ role: 'tool', content: 'x' }, { role: 'assistant', content: 'y' }]);
    expect(() => toConversation({ conversations: [{ from: 'robot', value: 'x' }, { from: 'gpt', value: 'y' }] }, 'sharegpt', 's', 5))
      .toThrow(/^s:5 field "conversations\[0\]\.from": unknown speaker "robot"$/);
    // a prompt-only row parses (elicitation rates it); training's own rule refuses it
    const promptOnly = toConversation({ messages: [{ role: 'user', content: 'q' }] }, 'openai', 'o', 6);
    expect(promptOnly.messages).toEqual([{ role: 'user', content: 'q' }]);
    expect(() => requireReply(promptOnly)).toThrow(/^o:6 field "messages": has no assistant turn/);
    expect(() => toConversation({ conversations: [{ from: 'human', value: 1 }] }, 'sharegpt', 's', 7))
      .toThrow(/s:7 field "conversations\[0\]\.value": expected string/);
  });

  it('--skip-bad-rows skips and counts them, keeping the reasons', async () => {
    const f = jsonl('bad2.jsonl', rows);
    const { conversations, stats } = await readAllConversations(f, { skipBadRows: true });
    expect(conversations.map((c) => c.line)).toEqual([1, 5]);
    expect(stats).toMatchObject({ read: 5, skipped: 3 });
    expect(stats.skippedReasons).toEqual([
      `${f}:2 field "output": is missing`,
      `${f}:3 field "instruction": expected string, received number`,
      `${f}:4 field "epsilon": must be a number in [0, 0.99], got 1.5`,
    ]);
  });

  it('every row skipped, or no row at all: a clear error', async () => {
    const all = await failure(readAllConversations(jsonl('allbad.jsonl', [{ instruction: 'x' }]), { skipBadRows: true }));
    expect(all.message).toMatch(/allbad\.jsonl: no usable rows: all 1 rows were skipped/);
    expect(all.code).toBe('UAL_DATA_BAD_FILE');
    expect(all.hint).toMatch(/field "output": is missing/);
    const empty = path.join(dir, 'empty.jsonl');
    fs.writeFileSync(empty, '\n\n');
    expect((await failure(readAllConversations(empty))).message).toBe(`${empty}: has no rows`);
    expect((await failure(readAllConversations(empty))).code).toBe('UAL_DATA_BAD_FILE');
    expect((await failure(readAllConversations(empty, { format: 'alpaca' }))).message).toBe(`${empty}: has no rows`);
  });

  it('malformed JSON is fatal even with --skip-bad-rows (the file itself is broken)', async () => {
    const f = path.join(dir, 'broken.jsonl');
    fs.writeFileSync(f, '{"question":"q","answer":"a"}\n{"question": \n');
    const e = await failure(readAllConversations(f, { skipBadRows: true }));
    expect(e.message).toMatch(/broken\.jsonl:2: not valid JSON/);
    expect(e.code).toBe('UAL_DATA_BAD_ROW');
  });
});

describeWith(ALPACA, 'real Alpaca rows (../shared/data/alpaca/alpaca_5000.json)', () => {
  it('reads all 5000 as alpaca conversations', async () => {
    const { conversations, stats } = await readAllConversations(ALPACA.file);
    expect(stats).toMatchObject({ format: 'alpaca', read: 5000, skipped: 0 });
    expect(conversations[0].messages).toEqual([
      { role: 'user', content: 'Are the two sentences below grammatically correct? Output yes or no.\n\nSentence 1: I am going to the store.\nSentence 2: I goes to the store.' },
      { role: 'assistant', content: 'No' },
    ]);
    expect(conversations.every((c) => c.messages.length === 2)).toBe(true);
  });
});

describeWith(GSM8K, 'real GSM8K rows (../shared/data/gsm8k/train.jsonl)', () => {
  it('streams all 7473 as gsm8k conversations', async () => {
    const stats = newReadStats();
    let n = 0;
    let last: Conversation | null = null;
    for await (const c of readConversations(GSM8K.file, {}, stats)) { n++; last = c; }
    expect(n).toBe(7473);
    expect(stats.format).toBe('gsm8k');
    expect(last!.line).toBe(7473);
    expect(last!.messages[1].content).toMatch(/#### \d+$/);
  });
});
