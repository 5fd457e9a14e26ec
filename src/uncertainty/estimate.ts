// Rough token counts and cost, for --dry-run, the --tpm budget and the progress bar. We do not know the judge's
// tokenizer, so ~4 UTF-8 bytes per token (English prose) stands in; real counts come from the server's usage.

export function approxTokens(text: string): number {
  return Math.ceil(Buffer.byteLength(text, 'utf8') / 4);
}

/** Prompt tokens of a chat request: content plus a few tokens of framing per message. */
export function approxChatTokens(messages: Array<{ content: string }>): number {
  let n = 3;
  for (const m of messages) n += 4 + approxTokens(m.content);
  return n;
}

export interface Prices { inPerM?: number; outPerM?: number }

/** USD for the given token counts, or null when no price was given. */
export function costUsd(promptTokens: number, completionTokens: number, p: Prices): number | null {
  if (p.inPerM === undefined && p.outPerM === undefined) return null;
  return (promptTokens * (p.inPerM ?? 0) + completionTokens * (p.outPerM ?? 0)) / 1e6;
}
