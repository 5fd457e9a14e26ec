// What the judge rates of a row, once src/data/formats.ts has parsed it: its turns without an empty trailing answer,
// their canonical text (hashed into the cache key, so unrelated fields like ids never bust the cache), the
// verbalized judge's rendering of them, and the conversation the judge itself answers (sampling, logprobs).
import type { Message } from '../data/formats.js';

/** The turns to rate: an empty trailing answer says nothing, so "prompt only" and "prompt + empty answer" rate alike. */
export function ratedTurns(messages: readonly Message[]): Message[] {
  let end = messages.length;
  while (end > 0 && messages[end - 1].content.trim() === '') end--;
  return messages.slice(0, end);
}

/** The exact text identity of a sample, hashed into the cache key. Changing it invalidates every cached answer. */
export function canonicalSample(turns: readonly Message[]): string {
  return JSON.stringify(turns.map((t) => [t.role, t.content]));
}

/** The sample as the verbalized judge reads it: every turn, labelled by speaker. */
export function renderSample(turns: readonly Message[]): string {
  return turns.map((t) => `[${t.role}]\n${t.content}`).join('\n\n');
}

/**
 * The conversation the judge itself should answer (sampling, logprobs): everything before the final assistant
 * turn. Tool turns become user turns because the API only accepts tool messages right after tool calls.
 */
export function promptTurns(turns: readonly Message[]): Array<{ role: 'system' | 'user' | 'assistant'; content: string }> {
  let end = turns.length;
  if (end > 1 && turns[end - 1].role === 'assistant') end--;
  return turns.slice(0, end).map((t) => t.role === 'tool'
    ? { role: 'user' as const, content: `[tool output]\n${t.content}` }
    : { role: t.role, content: t.content });
}
