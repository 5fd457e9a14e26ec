// The verbalized judge's prompt (our own wording of the paper's 0–99 open-endedness scale), the optional
// --prompt-file override, and the follow-up sent when a reply cannot be read. The prompt id goes into the cache key.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { UalError } from '../errors.js';
import type { Message } from '../data/formats.js';
import { renderSample } from './rated.js';

/** Bump when the built-in wording changes: old cached ratings then no longer match. */
export const PROMPT_VERSION = 'verbalized-v1';

const SYSTEM = `You rate samples from a dataset used to fine-tune a language model.
For the sample below, judge how open-ended its final response is: how many substantially different responses would be just as good.

Scale from 0 to 99:
- 70-99: open and diverse. Creative writing, opinions, advice, social conversation, brainstorming: many good responses that differ in content and style.
- 40-69: mixed. Some facts or steps must be right, but content, structure or wording leave real freedom.
- 0-39: precise. Math, code, logic, factual lookups, extraction: one correct answer or very few, with little room for variation.

Rate what the task allows, not the quality of the response shown.
Reply with JSON only, exactly in this form: {"score": N} where N is a whole number from 0 to 99.`;

export const REASK = 'That reply could not be read. Reply with JSON only: {"score": N}, where N is a whole number from 0 to 99.';

export interface JudgePrompt {
  /** goes into the cache key: the built-in version, or the hash of the prompt file */
  id: string;
  build(turns: Message[]): Array<{ role: 'system' | 'user'; content: string }>;
}

const SLOT = '{{sample}}';

export function builtinPrompt(): JudgePrompt {
  return {
    id: PROMPT_VERSION,
    build: (turns) => [{ role: 'system', content: SYSTEM }, { role: 'user', content: `<sample>\n${renderSample(turns)}\n</sample>` }],
  };
}

/**
 * A user prompt file: with a {{sample}} slot it is the whole user message; without one it is the system message
 * and the sample follows as the user message. Its sha256 is the prompt id, so editing it re-rates.
 */
export function filePrompt(file: string): JudgePrompt {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UalError('UAL_USAGE', `cannot read --prompt-file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (text.trim() === '') throw new UalError('UAL_USAGE', `--prompt-file ${file} is empty`);
  const id = 'file:' + crypto.createHash('sha256').update(text).digest('hex');
  return {
    id,
    build: (turns) => text.includes(SLOT)
      ? [{ role: 'user', content: text.split(SLOT).join(renderSample(turns)) }]
      : [{ role: 'system', content: text }, { role: 'user', content: `<sample>\n${renderSample(turns)}\n</sample>` }],
  };
}
