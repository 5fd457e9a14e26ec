// Dataset row formats (Alpaca, ShareGPT/Deita, OpenAI, GSM8K, MetaMathQA, LIMA, pretokenized): what each looks
// like (zod), which one a row is, and the one conversation shape every format becomes, original row kept.
import { z } from 'zod';
import { DataError } from '../errors.js';
import type { JsonObject } from './jsonl.js';

export const DATA_FORMATS = ['alpaca', 'sharegpt', 'openai', 'gsm8k', 'metamath', 'lima', 'pretokenized'] as const;
export type DataFormat = (typeof DATA_FORMATS)[number];

export function isDataFormat(s: string): s is DataFormat {
  return (DATA_FORMATS as readonly string[]).includes(s);
}

export type Role = 'system' | 'user' | 'assistant';
export interface Message { role: Role; content: string }

/** One training sample in any text format, normalised. `raw` is the row as read, every field kept. */
export interface Conversation {
  messages: Message[];
  /** the row's label-smoothing value, when `ual smooth` (or the user) set one */
  epsilon?: number;
  /** the judge's 0–99 rating, when `ual elicit` set one */
  uncertainty?: number;
  raw: JsonObject;
  format: DataFormat;
  /** 1-based line of the row in its file */
  line: number;
}

/** What a row of each format looks like, for error hints. */
export const FORMAT_SHAPES: Readonly<Record<DataFormat, string>> = {
  alpaca: '{"instruction": str, "input"?: str, "output": str}',
  sharegpt: '{"conversations": [{"from": "human"|"gpt"|"system", "value": str}, ...]}',
  openai: '{"messages": [{"role": "system"|"user"|"assistant", "content": str}, ...]}',
  gsm8k: '{"question": str, "answer": str}',
  metamath: '{"query": str, "response": str}',
  lima: '{"conversations": [user str, assistant str, ...]}',
  pretokenized: '{"input_ids": [int, ...], "labels"?: [int | -100, ...]}',
};

const FORMAT_LIST = DATA_FORMATS.join(', ');

// ShareGPT/Deita speaker names seen in the wild (Deita uses human/gpt; raw ShareGPT also chatgpt/bing/bard).
const SHAREGPT_ROLES: Readonly<Record<string, Role>> = {
  human: 'user', user: 'user', gpt: 'assistant', assistant: 'assistant', chatgpt: 'assistant', bing: 'assistant',
  bard: 'assistant', model: 'assistant', system: 'system',
};
const OPENAI_ROLES: Readonly<Record<string, Role>> = { system: 'system', developer: 'system', user: 'user', assistant: 'assistant' };

const text = z.string();
const textPart = z.object({ type: z.string().optional(), text: z.string().optional() });

const SCHEMAS = {
  alpaca: z.object({ instruction: text, input: text.nullish(), output: text }),
  sharegpt: z.object({ conversations: z.array(z.object({ from: text, value: text })).min(1) }),
  openai: z.object({ messages: z.array(z.object({ role: text, content: z.union([text, z.array(textPart)]) })).min(1) }),
  gsm8k: z.object({ question: text, answer: text }),
  metamath: z.object({ query: text, response: text }),
  lima: z.object({ conversations: z.array(text).min(2) }),
  pretokenized: z.object({ input_ids: z.array(z.number()).min(1) }),
} as const;

/** The format a single row most plausibly is (by its keys), or null. More specific shapes win. */
export function rowFormat(row: JsonObject): DataFormat | null {
  if ('input_ids' in row) return 'pretokenized';
  if (Array.isArray(row.messages)) return 'openai';
  if (Array.isArray(row.conversations)) {
    return row.conversations.length > 0 && typeof row.conversations[0] === 'string' ? 'lima' : 'sharegpt';
  }
  if ('instruction' in row) return 'alpaca';
  if ('query' in row && 'response' in row) return 'metamath';
  if ('question' in row && 'answer' in row) return 'gsm8k';
  return null;
}

/**
 * The format of a file from its first rows: the most common per-row guess (ties go to the earlier row), so one
 * odd row at the top does not decide for the whole file. Throws a DataError naming the first row when none fits.
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
  if (!first) throw new DataError(file, null, null, 'has no rows', 'the file is empty; check the --data path');
  const keys = Object.keys(first.row).slice(0, 8).join(', ') || 'none';
  throw new DataError(file, first.line, null, `cannot tell the dataset format from the first rows (fields: ${keys})`,
    `pass --format (${FORMAT_LIST}); the shapes are: ${Object.entries(FORMAT_SHAPES).map(([k, v]) => `${k} ${v}`).join('; ')}`);
}

/** zod's path [conversations, 2, from] -> "conversations[2].from" */
function fieldName(path: ReadonlyArray<PropertyKey>): string | null {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : `${s ? '.' : ''}${String(p)}`;
  return s || null;
}

function badShape(file: string, line: number, format: DataFormat, row: JsonObject, issue: z.core.$ZodIssue): DataError {
  const field = fieldName(issue.path);
  const value = issue.path.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined), row);
  const problem = value === undefined ? 'is missing' : `${issue.message.replace(/^Invalid input: /, '')}`;
  const other = rowFormat(row);
  const hint = other && other !== format
    ? `this row looks like ${other} but the file is read as ${format}: fix the row, or pass --format ${other} if the whole file is ${other}`
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

/** Alpaca joins instruction and input with a blank line (the judge in src/uncertainty/sample.ts reads them the same way). */
export function alpacaPrompt(instruction: string, input: string | null | undefined): string {
  return input && input.trim() !== '' ? `${instruction}\n\n${input}` : instruction;
}

/**
 * Turn one row of `format` into a conversation. A row that does not fit is a DataError naming file, line and
 * field. Pretokenized rows have no text: use toTokenRow (src/data/pretokenized.ts) for them.
 */
export function toConversation(row: JsonObject, format: DataFormat, file: string, line: number): Conversation {
  if (format === 'pretokenized') {
    throw new DataError(file, line, 'input_ids', 'a pretokenized row has no text to template', 'read it with the pretokenized reader');
  }
  const parsed = SCHEMAS[format].safeParse(row);
  if (!parsed.success) throw badShape(file, line, format, row, parsed.error.issues[0]);
  let messages: Message[];
  switch (format) {
    case 'alpaca': {
      const r = parsed.data as z.infer<typeof SCHEMAS.alpaca>;
      messages = [{ role: 'user', content: alpacaPrompt(r.instruction, r.input) }, { role: 'assistant', content: r.output }];
      break;
    }
    case 'gsm8k': {
      const r = parsed.data as z.infer<typeof SCHEMAS.gsm8k>;
      messages = [{ role: 'user', content: r.question }, { role: 'assistant', content: r.answer }];
      break;
    }
    case 'metamath': {
      const r = parsed.data as z.infer<typeof SCHEMAS.metamath>;
      messages = [{ role: 'user', content: r.query }, { role: 'assistant', content: r.response }];
      break;
    }
    case 'lima': {
      const r = parsed.data as z.infer<typeof SCHEMAS.lima>;
      messages = r.conversations.map((c, i) => ({ role: i % 2 === 0 ? 'user' : 'assistant', content: c }));
      break;
    }
    case 'sharegpt': {
      const r = parsed.data as z.infer<typeof SCHEMAS.sharegpt>;
      messages = r.conversations.map((t, i) => {
        const role = SHAREGPT_ROLES[t.from.toLowerCase()];
        if (!role) {
          throw new DataError(file, line, `conversations[${i}].from`, `unknown speaker "${t.from}"`,
            `speakers: ${Object.keys(SHAREGPT_ROLES).join(', ')}; drop tool turns or use --skip-bad-rows`);
        }
        return { role, content: t.value };
      });
      break;
    }
    case 'openai': {
      const r = parsed.data as z.infer<typeof SCHEMAS.openai>;
      messages = r.messages.map((m, i) => {
        const role = OPENAI_ROLES[m.role];
        if (!role) {
          throw new DataError(file, line, `messages[${i}].role`, `unsupported role "${m.role}"`,
            'roles: system, developer, user, assistant; drop tool turns or use --skip-bad-rows');
        }
        // content parts: text parts joined, images and other parts carry no text to train on
        const content = typeof m.content === 'string' ? m.content : m.content.map((p) => p.text ?? '').join('');
        return { role, content };
      });
      break;
    }
  }
  if (!messages.some((m) => m.role === 'assistant')) {
    const field = format === 'openai' ? 'messages' : 'conversations';
    throw new DataError(file, line, field, 'has no assistant turn: nothing to learn from', 'every training row needs at least one assistant reply');
  }
  const conv: Conversation = { messages, raw: row, format, line };
  const epsilon = numberField(row, 'epsilon', 0.99, file, line);
  const uncertainty = numberField(row, 'uncertainty', 99, file, line);
  if (epsilon !== undefined) conv.epsilon = epsilon;
  if (uncertainty !== undefined) conv.uncertainty = uncertainty;
  return conv;
}
