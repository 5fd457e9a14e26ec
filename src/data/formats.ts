// The one dataset row parser. Row formats (Alpaca, ShareGPT/Deita, OpenAI, GSM8K, MetaMathQA, LIMA, prompt-completion,
// text, pretokenized): what each looks like (zod), which one a row is, and the one conversation shape every text
// format becomes. Training, elicitation, the self elicitor and evaluation all read rows here, so a row one of them
// accepts the others accept too; the only difference is training's own rule (requireReply).
import { z } from 'zod';
import { DataError, DataFileError } from '../errors.js';
import type { JsonObject } from './jsonl.js';

export const DATA_FORMATS = ['alpaca', 'sharegpt', 'openai', 'gsm8k', 'metamath', 'lima', 'prompt', 'text', 'pretokenized'] as const;
export type DataFormat = (typeof DATA_FORMATS)[number];
type TextFormat = Exclude<DataFormat, 'pretokenized'>;

export function isDataFormat(s: string): s is DataFormat {
  return (DATA_FORMATS as readonly string[]).includes(s);
}

export type Role = 'system' | 'user' | 'assistant' | 'tool';
export interface Message { role: Role; content: string }

/** One sample in any text format, normalised. `raw` is the row as read, every field kept. */
export interface Conversation {
  /** in order; a prompt-only row (no reply field) has no assistant turn, a `text` row is one user turn */
  messages: Message[];
  /** the row's label-smoothing value, when `ual smooth` (or the user) set one */
  epsilon?: number;
  /** the judge's 0–99 rating, when `ual elicit` set one */
  uncertainty?: number;
  raw: JsonObject;
  /** this row's format (rows of one file may differ) */
  format: TextFormat;
  file: string;
  /** 1-based line of the row in its file */
  line: number;
}

/**
 * What a row of each format looks like, for hints. What training learns from each: the assistant replies
 * (`prompt`: the completion, as in TRL's prompt-completion format); `text` (plain language modelling): every token.
 */
export const FORMAT_SHAPES: Readonly<Record<DataFormat, string>> = {
  alpaca: '{"instruction": str, "input"?: str, "output": str}',
  sharegpt: '{"conversations": [{"from": "human"|"gpt"|"system"|"tool", "value": str}, ...]}',
  openai: '{"messages": [{"role": "system"|"user"|"assistant"|"tool", "content": str | [{"type": "text", "text": str}, ...]}, ...]}',
  gsm8k: '{"question": str, "answer": str}',
  metamath: '{"query": str, "response": str}',
  lima: '{"conversations": [user str, assistant str, ...]}',
  prompt: '{"prompt": str, "completion" (or "response", "output"): str} (training learns the completion)',
  text: '{"text": str} (plain language modelling: training learns every token)',
  pretokenized: '{"input_ids": [int, ...], "labels"?: [int | -100, ...]}',
};

const FORMAT_LIST = DATA_FORMATS.join(', ');
const ALL_SHAPES = Object.entries(FORMAT_SHAPES).map(([k, v]) => `${k} ${v}`).join('; ');

// One role table for ShareGPT speakers and OpenAI roles, looked up lowercased. Deita uses human/gpt; raw ShareGPT
// also chatgpt/bing/bard; tool data (Glaive, ToolBench) function_call/observation/function; OpenAI developer/tool.
const ROLES: ReadonlyMap<string, Role> = new Map<string, Role>([
  ['system', 'system'], ['developer', 'system'],
  ['human', 'user'], ['user', 'user'],
  ['gpt', 'assistant'], ['assistant', 'assistant'], ['chatgpt', 'assistant'], ['bing', 'assistant'], ['bard', 'assistant'],
  ['model', 'assistant'], ['function_call', 'assistant'],
  ['tool', 'tool'], ['function', 'tool'], ['observation', 'tool'],
]);
const ROLE_NAMES = [...ROLES.keys()].join(', ');

const text = z.string();
/** A reply field: absent (or null) in a prompt-only row, which elicitation rates and training refuses (requireReply). */
const reply = z.string().nullish();
/** The reply fields of a `prompt` row, the first one present wins. */
const PROMPT_REPLIES = ['response', 'completion', 'output'] as const;

const SCHEMAS = {
  alpaca: z.object({ instruction: text, input: text.nullish(), output: reply }),
  sharegpt: z.object({ conversations: z.array(z.object({ from: text, value: text })) }),
  openai: z.object({ messages: z.array(z.object({ role: text, content: z.unknown().optional(), tool_calls: z.unknown().optional() })) }),
  gsm8k: z.object({ question: text, answer: reply }),
  metamath: z.object({ query: text, response: reply }),
  lima: z.object({ conversations: z.array(text) }),
  prompt: z.object({ prompt: text, response: reply, completion: reply, output: reply }),
  text: z.object({ text }),
} as const;

/** The field that holds a row's text (named when it has none) and, for training, its reply. */
const TEXT_FIELD: Readonly<Record<TextFormat, string>> = {
  alpaca: 'instruction', sharegpt: 'conversations', openai: 'messages', gsm8k: 'question', metamath: 'query',
  lima: 'conversations', prompt: 'prompt', text: 'text',
};
const REPLY_FIELD: Readonly<Record<TextFormat, string>> = {
  alpaca: 'output', sharegpt: 'conversations', openai: 'messages', gsm8k: 'answer', metamath: 'response',
  lima: 'conversations', prompt: 'completion', text: 'text',
};

/** The format a single row is, by its keys, or null. The order decides rows that carry several shapes. */
export function rowFormat(row: JsonObject): DataFormat | null {
  if ('input_ids' in row) return 'pretokenized';
  if ('messages' in row) return 'openai';
  if ('conversations' in row) {
    return Array.isArray(row.conversations) && typeof row.conversations[0] === 'string' ? 'lima' : 'sharegpt';
  }
  if ('instruction' in row) return 'alpaca';
  if ('question' in row) return 'gsm8k';
  if ('query' in row) return 'metamath';
  if ('prompt' in row) return 'prompt';
  if ('text' in row) return 'text';
  return null;
}

/**
 * The format of a file from its first rows (at least one): the most common per-row guess (ties go to the earlier
 * row). Pretokenized files are read as token ids; in any other file each row is read by its own shape. Throws a
 * DataFileError naming the first row when no row fits.
 */
export function detectFormat(rows: ReadonlyArray<{ row: JsonObject; line: number }>, file: string): DataFormat {
  const votes = new Map<DataFormat, number>();
  for (const r of rows) {
    const f = rowFormat(r.row);
    if (f) votes.set(f, (votes.get(f) ?? 0) + 1);
  }
  let best: DataFormat | null = null;
  for (const [f, n] of votes) if (best === null || n > votes.get(best)!) best = f;
  if (best) return best;
  const first = rows[0];
  throw new DataFileError(file, `cannot tell the dataset format from the first rows (fields: ${fieldList(first.row)})`,
    `pass --format (${FORMAT_LIST}); the shapes are: ${ALL_SHAPES}`, first.line);
}

function fieldList(row: JsonObject): string {
  return Object.keys(row).slice(0, 8).join(', ') || 'none';
}

/** zod's path [conversations, 2, from] -> "conversations[2].from" */
function fieldName(path: ReadonlyArray<PropertyKey>): string | null {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : `${s ? '.' : ''}${String(p)}`;
  return s || null;
}

function badShape(file: string, line: number, format: TextFormat, row: JsonObject, issue: z.core.$ZodIssue): DataError {
  const field = fieldName(issue.path);
  const value = issue.path.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined), row);
  const problem = value === undefined ? 'is missing' : `${issue.message.replace(/^Invalid input: /, '')}`;
  // only a --format can read a row as another format than its own shape
  const other = rowFormat(row);
  const hint = other && other !== format
    ? `this row looks like ${other} but --format ${format} reads every row as ${format}: fix the row, or pass --format ${other} (or no --format, to read each row by its shape)`
    : `a ${format} row is ${FORMAT_SHAPES[format]}`;
  return new DataError(file, line, field, problem, hint);
}

function numberField(row: JsonObject, name: 'epsilon' | 'uncertainty', max: number, file: string, line: number): number | undefined {
  const v = row[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > max) {
    throw new DataError(file, line, name, `must be a number in [0, ${max}], got ${JSON.stringify(v)}`,
      name === 'epsilon' ? 'rerun "ual smooth" to write epsilon from the uncertainty scores' : 'rerun "ual elicit" for this row, or fix the score');
  }
  return v;
}

/** Alpaca joins instruction and input with a blank line: the Alpaca/FastChat convention, for training and the judge alike. */
export function alpacaPrompt(instruction: string, input: string | null | undefined): string {
  return input && input.trim() !== '' ? `${instruction}\n\n${input}` : instruction;
}

type Where = { file: string; line: number };

/** A user turn, then the reply when the row has one (prompt-only rows have none). */
function exchange(prompt: string, answer: string | null | undefined): Message[] {
  return answer === null || answer === undefined ? [{ role: 'user', content: prompt }] : [{ role: 'user', content: prompt }, { role: 'assistant', content: answer }];
}

function role(name: string, field: string, what: 'role' | 'speaker', w: Where): Role {
  const r = ROLES.get(name.toLowerCase());
  if (!r) throw new DataError(w.file, w.line, field, `unknown ${what} "${name}"`, `${what}s: ${ROLE_NAMES}`);
  return r;
}

const CONTENT_HINT = 'content is a string, or a list of parts ({"type": "text", "text": str}; image and other parts carry no text), ' +
  'or null beside "tool_calls"';

/** One content part: a text part gives its text; image, audio and other parts carry no text to rate or train on. */
function partText(p: unknown, at: string, w: Where): string {
  if (!p || typeof p !== 'object') throw new DataError(w.file, w.line, at, `must be a content part object, got ${JSON.stringify(p)}`, CONTENT_HINT);
  const part = p as JsonObject;
  if (typeof part.text === 'string') return part.text;
  if (part.type === 'text') {
    throw new DataError(w.file, w.line, `${at}.text`, part.text === undefined ? 'is missing' : `must be a string, got ${JSON.stringify(part.text)}`, CONTENT_HINT);
  }
  return '';
}

/** OpenAI message content: a string, text parts joined, or (an assistant's tool call) the JSON of its tool_calls. */
function messageContent(m: JsonObject, at: string, w: Where): string {
  const c = m.content;
  if (typeof c === 'string') return c;
  if (Array.isArray(c)) return c.map((p, j) => partText(p, `${at}.content[${j}]`, w)).join('');
  if ((c === null || c === undefined) && m.tool_calls !== undefined) return JSON.stringify(m.tool_calls);
  throw new DataError(w.file, w.line, `${at}.content`, `must be a string or a list of content parts, got ${c === null ? 'null' : typeof c}`, CONTENT_HINT);
}

/** The turns of a row that fits its format's schema (checked before). */
function messagesOf(format: TextFormat, row: JsonObject, w: Where): Message[] {
  switch (format) {
    case 'alpaca': return exchange(alpacaPrompt(row.instruction as string, row.input as string | null | undefined), row.output as string | null | undefined);
    case 'gsm8k': return exchange(row.question as string, row.answer as string | null | undefined);
    case 'metamath': return exchange(row.query as string, row.response as string | null | undefined);
    case 'prompt': {
      const field = PROMPT_REPLIES.find((f) => f in row);
      return exchange(row.prompt as string, field ? (row[field] as string | null) : null);
    }
    case 'text': return [{ role: 'user', content: row.text as string }];
    case 'lima': return (row.conversations as string[]).map((content, i) => ({ role: i % 2 === 0 ? 'user' : 'assistant', content }));
    case 'sharegpt': return (row.conversations as Array<{ from: string; value: string }>).map((t, i) =>
      ({ role: role(t.from, `conversations[${i}].from`, 'speaker', w), content: t.value }));
    case 'openai': return (row.messages as JsonObject[]).map((m, i) =>
      ({ role: role(m.role as string, `messages[${i}].role`, 'role', w), content: messageContent(m, `messages[${i}]`, w) }));
  }
}

/**
 * Turn one row into a conversation. `format` is --format when given; otherwise the row is read by its own shape.
 * A row that does not fit, has no text at all, or is pretokenized is a DataError naming file, line and field.
 * Prompt-only rows are conversations without an assistant turn: training refuses them with requireReply.
 */
export function toConversation(row: JsonObject, format: DataFormat | undefined, file: string, line: number): Conversation {
  const f = format ?? rowFormat(row);
  if (f === null) {
    throw new DataError(file, line, null, `cannot tell this row's format (fields: ${fieldList(row)})`,
      `a row is one of: ${ALL_SHAPES}; fix the row, or pass --format (${FORMAT_LIST})`);
  }
  if (f === 'pretokenized') {
    throw new DataError(file, line, 'input_ids', 'a pretokenized row has no text to rate or template',
      'elicit the text rows the ids were made from; ual train reads pretokenized rows from a file of pretokenized rows only');
  }
  const parsed = SCHEMAS[f].safeParse(row);
  if (!parsed.success) throw badShape(file, line, f, row, parsed.error.issues[0]);
  const messages = messagesOf(f, row, { file, line });
  if (!messages.some((m) => m.content.trim() !== '')) {
    throw new DataError(file, line, TEXT_FIELD[f], 'has no text to rate or train on (empty)', `a ${f} row is ${FORMAT_SHAPES[f]}`);
  }
  const conv: Conversation = { messages, raw: row, format: f, file, line };
  const epsilon = numberField(row, 'epsilon', 0.99, file, line);
  const uncertainty = numberField(row, 'uncertainty', 99, file, line);
  if (epsilon !== undefined) conv.epsilon = epsilon;
  if (uncertainty !== undefined) conv.uncertainty = uncertainty;
  return conv;
}

/** The field holding a row's reply: named when training (or scoring) finds none, or a reply it cannot use. */
export function replyField(conv: Conversation): string {
  if (conv.format === 'prompt') return PROMPT_REPLIES.find((f) => f in conv.raw) ?? REPLY_FIELD.prompt;
  return REPLY_FIELD[conv.format];
}

/**
 * Training's own rule, the one place it reads rows differently from elicitation (which rates prompt-only rows):
 * a row needs an assistant reply to learn from. A `text` row learns every token and needs none.
 */
export function requireReply(conv: Conversation): Conversation {
  if (conv.format === 'text' || conv.messages.some((m) => m.role === 'assistant')) return conv;
  const field = replyField(conv);
  if (field === 'messages' || field === 'conversations') {
    throw new DataError(conv.file, conv.line, field, 'has no assistant turn: nothing to learn from',
      'every training row needs at least one assistant reply (ual elicit also rates rows without one)');
  }
  throw new DataError(conv.file, conv.line, field, 'is missing',
    `training learns the reply: a ${conv.format} row to train on is ${FORMAT_SHAPES[conv.format]} (ual elicit also rates rows without one)`);
}
