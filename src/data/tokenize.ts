// Segments -> token ids and labels: each segment encoded on its own (so the prompt/reply boundary is exact and the
// prompt's tokens are the ones a model sees at inference), labels -100 outside replies, then truncation.
import type { Tokenizer } from './tokenizer.js';
import type { Segment } from './template.js';

export const IGNORE = -100;

export interface Tokenized {
  inputIds: Int32Array;
  /** aligned with inputIds (the loss shifts); -100 where there is no target */
  labels: Int32Array;
}

export interface TokenizeOptions {
  /** train on every token, prompt included (the paper's unmasked variant) */
  trainOnPrompt?: boolean;
  /** ids put before the first segment (the tokenizer's own BOS, for templates that do not write one) */
  prefix?: readonly number[];
}

/**
 * The ids a tokenizer's post-processor puts in front of text (Llama's BOS; none for GPT-2 and Qwen), found by
 * encoding with and without special tokens. Chat templates write their own BOS, so only paper/plain use this.
 */
export function specialPrefix(tokenizer: Tokenizer): number[] {
  const bare = tokenizer.encode('a', { addSpecialTokens: false });
  const full = tokenizer.encode('a', { addSpecialTokens: true });
  for (let i = 0; i + bare.length <= full.length; i++) {
    if (bare.every((id, j) => full[i + j] === id)) return full.slice(0, i);
  }
  return [];
}

export function tokenizeSegments(segments: readonly Segment[], tokenizer: Tokenizer, opts: TokenizeOptions = {}): Tokenized {
  const ids: number[] = [...(opts.prefix ?? [])];
  const labels: number[] = ids.map(() => IGNORE);
  for (const s of segments) {
    const part = s.ids ?? tokenizer.encode(s.text, { addSpecialTokens: false });
    const learn = s.target || !!opts.trainOnPrompt;
    for (const id of part) {
      ids.push(id);
      labels.push(learn ? id : IGNORE);
    }
  }
  return { inputIds: Int32Array.from(ids), labels: Int32Array.from(labels) };
}

/** Keep the first maxLength tokens; returns whether anything was cut. */
export function truncate(t: Tokenized, maxLength: number): { tokens: Tokenized; cut: boolean } {
  if (t.inputIds.length <= maxLength) return { tokens: t, cut: false };
  return { tokens: { inputIds: t.inputIds.slice(0, maxLength), labels: t.labels.slice(0, maxLength) }, cut: true };
}

/** Targets the loss will see: labels after the causal shift (position 0 is never predicted). */
export function countTargets(labels: Int32Array): number {
  let n = 0;
  for (let t = 1; t < labels.length; t++) if (labels[t] !== IGNORE) n++;
  return n;
}
