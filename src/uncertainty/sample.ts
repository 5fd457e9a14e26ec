// Which text of a dataset row the judge rates: every DESIGN.md row format turned into one list of turns, plus
// the canonical form of those turns that the cache key hashes (so unrelated fields like ids never bust the cache).
import { DataError } from '../errors.js';
import type { JsonObject } from '../data/jsonl.js';

export type Role = 'system' | 'user' | 'assistant' | 'tool';
export interface Turn { role: Role; content: string }

const FORMATS_HINT = 'a row needs text in one of: messages[{role,content}], conversations[{from,value}] (or LIMA strings), ' +
  'instruction(+input,output), question+answer, query+response, prompt+response/completion/output, or text';

// ShareGPT/Deita speaker names seen in the wild, mapped onto chat roles.
const SHAREGPT_ROLES: Record<string, Role> = {
  human: 'user', user: 'user', gpt: 'assistant', assistant: 'assistant', chatgpt: 'assistant', bard: 'assistant',
  bing: 'assistant', model: 'assistant', system: 'system', tool: 'tool', function: 'tool', observation: 'tool',
  function_call: 'assistant',
};
const OPENAI_ROLES: Record<string, Role> = {
  system: 'system', developer: 'system', user: 'user', assistant: 'assistant', tool: 'tool', function: 'tool',
};

type Where = { file: string; line: number };

function str(row: JsonObject, field: string, w: Where, required: boolean): string {
  const v = row[field];
  if (v === undefined || v === null) {
    if (required) throw new DataError(w.file, w.line, field, 'is missing', FORMATS_HINT);
    return '';
  }
  if (typeof v !== 'string') throw new DataError(w.file, w.line, field, `must be a string, got ${typeof v}`, FORMATS_HINT);
  return v;
}

/** OpenAI content: a string, or an array of parts whose text parts are joined. */
function messageContent(m: JsonObject, field: string, w: Where): string {
  const c = m.content;
  if (typeof c === 'string') return c;
  if (Array.isArray(c)) {
    return c.map((p, j) => {
      if (p && typeof p === 'object' && typeof (p as JsonObject).text === 'string') return (p as JsonObject).text as string;
      if (p && typeof p === 'object' && (p as JsonObject).type !== 'text') return ''; // images etc.: nothing to read
      throw new DataError(w.file, w.line, `${field}.content[${j}]`, 'content part has no text', FORMATS_HINT);
    }).join('');
  }
  if ((c === null || c === undefined) && m.tool_calls !== undefined) return JSON.stringify(m.tool_calls);
  throw new DataError(w.file, w.line, `${field}.content`, `must be a string or a list of text parts, got ${c === null ? 'null' : typeof c}`, FORMATS_HINT);
}

function turnList(row: JsonObject, field: 'messages' | 'conversations', w: Where): Turn[] {
  const list = row[field];
  if (!Array.isArray(list)) throw new DataError(w.file, w.line, field, 'must be a list of turns', FORMATS_HINT);
  // LIMA: conversations as plain strings, alternating user and assistant
  if (field === 'conversations' && list.length > 0 && list.every((m) => typeof m === 'string')) {
    return (list as string[]).map((content, i) => ({ role: i % 2 === 0 ? 'user' : 'assistant', content }));
  }
  return list.map((m, i): Turn => {
    const at = `${field}[${i}]`;
    if (!m || typeof m !== 'object' || Array.isArray(m)) throw new DataError(w.file, w.line, at, 'must be an object', FORMATS_HINT);
    const o = m as JsonObject;
    if (field === 'messages') {
      const role = OPENAI_ROLES[String(o.role)];
      if (!role) throw new DataError(w.file, w.line, `${at}.role`, `unknown role "${String(o.role)}"`, 'roles: system, developer, user, assistant, tool');
      return { role, content: messageContent(o, at, w) };
    }
    const role = SHAREGPT_ROLES[String(o.from).toLowerCase()];
    if (!role) throw new DataError(w.file, w.line, `${at}.from`, `unknown speaker "${String(o.from)}"`, 'speakers: human/user, gpt/assistant, system, tool');
    if (typeof o.value !== 'string') throw new DataError(w.file, w.line, `${at}.value`, 'must be a string', FORMATS_HINT);
    return { role, content: o.value };
  });
}

/** The turns to rate, from any supported row format. A row with no text is a DataError naming the field. */
export function sampleTurns(row: JsonObject, file: string, line: number): Turn[] {
  const w = { file, line };
  let turns: Turn[];
  let field: string;
  if ('messages' in row) {
    field = 'messages';
    turns = turnList(row, 'messages', w);
  } else if ('conversations' in row) {
    field = 'conversations';
    turns = turnList(row, 'conversations', w);
  } else if ('instruction' in row) {
    field = 'instruction';
    const instruction = str(row, 'instruction', w, true);
    const input = str(row, 'input', w, false);
    turns = [{ role: 'user', content: input.trim() ? `${instruction}\n\n${input}` : instruction },
      { role: 'assistant', content: str(row, 'output', w, false) }];
  } else if ('question' in row) {
    field = 'question';
    turns = [{ role: 'user', content: str(row, 'question', w, true) }, { role: 'assistant', content: str(row, 'answer', w, false) }];
  } else if ('query' in row) {
    field = 'query';
    turns = [{ role: 'user', content: str(row, 'query', w, true) }, { role: 'assistant', content: str(row, 'response', w, false) }];
  } else if ('prompt' in row) {
    field = 'prompt';
    const answerField = ['response', 'completion', 'output'].find((f) => f in row);
    turns = [{ role: 'user', content: str(row, 'prompt', w, true) },
      { role: 'assistant', content: answerField ? str(row, answerField, w, false) : '' }];
  } else if ('text' in row) {
    field = 'text';
    turns = [{ role: 'user', content: str(row, 'text', w, true) }];
  } else if ('input_ids' in row) {
    throw new DataError(file, line, 'input_ids', 'a pretokenized row has no text for the judge to read',
      'run elicit on the text dataset before tokenizing');
  } else {
    const keys = Object.keys(row).slice(0, 8).join(', ') || 'none';
    throw new DataError(file, line, null, `no text to rate (fields: ${keys})`, FORMATS_HINT);
  }
  if (!turns.some((t) => t.content.trim() !== '')) throw new DataError(file, line, field, 'has no text to rate (empty)', FORMATS_HINT);
  // An empty trailing answer says nothing; drop it so "prompt only" and "prompt + empty answer" rate alike.
  while (turns.length && turns[turns.length - 1].content.trim() === '') turns.pop();
  return turns;
}

/** The exact text identity of a sample, hashed into the cache key. */
export function canonicalSample(turns: Turn[]): string {
  return JSON.stringify(turns.map((t) => [t.role, t.content]));
}

/** The sample as the verbalized judge reads it: every turn, labelled by speaker. */
export function renderSample(turns: Turn[]): string {
  return turns.map((t) => `[${t.role}]\n${t.content}`).join('\n\n');
}

/**
 * The conversation the judge itself should answer (sampling, logprobs): everything before the final assistant
 * turn. Tool turns become user turns because the API only accepts tool messages right after tool calls.
 */
export function promptTurns(turns: Turn[]): Array<{ role: 'system' | 'user' | 'assistant'; content: string }> {
  let end = turns.length;
  if (end > 1 && turns[end - 1].role === 'assistant') end--;
  return turns.slice(0, end).map((t) => t.role === 'tool'
    ? { role: 'user' as const, content: `[tool output]\n${t.content}` }
    : { role: t.role, content: t.content });
}
