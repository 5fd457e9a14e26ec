// Prompt templates: a conversation -> text segments, each marked target (assistant reply, trained on) or not.
// `paper` (the UAL reference's "### User:/### Assistant:"), `chat` (the tokenizer's own Jinja chat_template), `plain`;
// and the untemplated text of a `text` row (plain language modelling), every token a target.
import { Template } from '@huggingface/jinja';
import { DataError, UalError } from '../errors.js';
import type { Message } from './formats.js';
import type { Tokenizer } from './tokenizer.js';

export const TEMPLATES = ['paper', 'chat', 'plain'] as const;
export type TemplateName = (typeof TEMPLATES)[number];

export function isTemplateName(s: string): s is TemplateName {
  return (TEMPLATES as readonly string[]).includes(s);
}

/**
 * A piece of the rendered sample. `ids` (when set) are used as they are instead of encoding `text`: that is how
 * an EOS the template itself does not write gets in without depending on how the tokenizer spells it.
 */
export interface Segment { text: string; target: boolean; ids?: number[] }

/**
 * The UAL reference prompt: "\n### User: {instruction}\n\n### Assistant: " followed by the response. An Alpaca
 * row's instruction and input are joined with a blank line before they get here (formats.ts alpacaPrompt). The
 * reference (UAL4Alignment's scripts/prepare_deita.py, prepare_lima.py) applies this template to conversations
 * only; for Alpaca rows it uses the stock Alpaca prompt, so the join is ours: the Alpaca/FastChat convention, and
 * what the judge reads.
 */
export const PAPER_USER = '\n### User: ';
export const PAPER_ASSISTANT = '\n\n### Assistant: ';

/** Where a template's output goes to be encoded: one compiled chat template per tokenizer. */
export class Templater {
  readonly name: TemplateName;
  readonly tokenizer: Tokenizer;
  private readonly chat: Template | null = null;
  /** special-token texts that can close an assistant turn (EOS first), longest first for matching */
  private readonly endMarkers: string[] = [];

  constructor(name: TemplateName, tokenizer: Tokenizer) {
    this.name = name;
    this.tokenizer = tokenizer;
    if (name === 'chat') {
      if (!tokenizer.chatTemplate) {
        throw new UalError('UAL_TOKENIZER', `${tokenizer.dir}: tokenizer_config.json has no chat_template, so --template chat has nothing to render`,
          'use --template paper or --template plain, or copy "chat_template" from the instruct model\'s tokenizer_config.json');
      }
      try {
        this.chat = new Template(tokenizer.chatTemplate);
      } catch (e) {
        throw new UalError('UAL_TOKENIZER', `${tokenizer.dir}: the chat_template does not parse (${(e as Error).message})`,
          'fix "chat_template" in tokenizer_config.json, or use --template paper');
      }
      this.endMarkers = specialTokenTexts(tokenizer);
    }
  }

  /** The conversation as segments; `file`/`line` name the row in errors. */
  segments(messages: Message[], file: string, line: number): Segment[] {
    if (this.name === 'chat') return this.chatSegments(messages, file, line);
    return this.name === 'paper' ? paperSegments(messages, this.eos()) : plainSegments(messages, this.eos());
  }

  /** A `text` row: no template applies; every token is a target, and EOS follows so the model learns to stop. */
  textSegments(text: string): Segment[] {
    const eos = this.eos();
    return eos ? [{ text, target: true }, eos] : [{ text, target: true }];
  }

  /** The text a model is given at inference to answer `messages` (which end with a user turn): up to where its reply starts. */
  prompt(messages: Message[]): string {
    if (this.name === 'chat') return this.renderChat(messages, true, '<prompt>', 0);
    const text = (this.name === 'paper' ? paperSegments(messages, this.eos()) : plainSegments(messages, this.eos())).map((s) => s.text).join('');
    return this.name === 'plain' ? `${text}\n` : text; // the paper's user turn already ends with "### Assistant: "
  }

  private eos(): Segment | null {
    const { eosId, eosToken } = this.tokenizer;
    return eosId === null ? null : { text: eosToken ?? '', target: true, ids: [eosId] };
  }

  /** Tool turns go to the template as role "tool" (Qwen, Llama 3, Mistral render them); one that refuses them is a DataError. */
  private renderChat(messages: Message[], addGenerationPrompt: boolean, file: string, line: number): string {
    const t = this.tokenizer;
    try {
      return this.chat!.render({
        messages,
        add_generation_prompt: addGenerationPrompt,
        bos_token: t.bosToken ?? '',
        eos_token: t.eosToken ?? '',
        pad_token: t.padToken ?? '',
        unk_token: typeof t.config.unk_token === 'string' ? t.config.unk_token : '',
      });
    } catch (e) {
      throw new DataError(file, line, null, `the chat template refused this conversation: ${(e as Error).message}`,
        'chat templates often require alternating user/assistant turns; fix the row, use --skip-bad-rows, or use --template paper');
    }
  }

  /**
   * The chat template renders whole conversations, so the targets are found by rendering prefixes: the text up
   * to an assistant turn rendered with add_generation_prompt must be a prefix of the full rendering; the reply
   * runs from there to the end of its content plus the special token closing it (<|im_end|>, <|eot_id|>, </s>).
   * Everything else (headers, the newline after <|im_end|>, a system prompt the template adds) is prompt.
   */
  private chatSegments(messages: Message[], file: string, line: number): Segment[] {
    const full = this.renderChat(messages, false, file, line);
    const out: Segment[] = [];
    let pos = 0;
    messages.forEach((m, i) => {
      if (m.role !== 'assistant') return;
      const prefix = this.renderChat(messages.slice(0, i), true, file, line);
      if (!full.startsWith(prefix) || prefix.length < pos) {
        throw new DataError(file, line, null, `the chat template renders turn ${i} differently once later turns follow, so its reply cannot be located`,
          'use --template paper or --template plain with this tokenizer');
      }
      const start = prefix.length;
      const content = m.content.trim(); // templates commonly strip replies
      let end: number; // end of the reply text
      let closed: number | null = null; // end of the special token closing it, if the template writes one
      if (content === '') {
        // an empty reply: its target is just the closing token, wherever that first comes after the cue
        end = start;
        const [tok, at] = this.firstMarkerFrom(full, start);
        if (tok !== undefined) closed = at + tok.length;
      } else {
        // The reply text may also occur inside the header (a reply "think" in "<think>"): take the first
        // occurrence that a closing special token follows, else the first occurrence.
        const first = full.indexOf(content, start);
        if (first < 0) {
          throw new DataError(file, line, null, `the chat template rewrites the text of assistant turn ${i}, so it cannot be masked`,
            'use --template paper or --template plain with this tokenizer');
        }
        end = first + content.length;
        for (let at = first; at >= 0; at = full.indexOf(content, at + 1)) {
          const close = this.closing(full, at + content.length);
          if (close !== null) {
            end = at + content.length;
            closed = close;
            break;
          }
        }
      }
      out.push({ text: full.slice(pos, start), target: false });
      if (closed !== null) {
        out.push({ text: full.slice(start, closed), target: true });
        pos = closed;
      } else {
        // the template closes replies with no special token: EOS is added so the model learns to stop
        out.push({ text: full.slice(start, end), target: true });
        const eos = this.eos();
        if (eos) out.push(eos);
        pos = end;
      }
    });
    out.push({ text: full.slice(pos), target: false });
    return out.filter((s) => s.text !== '' || s.ids);
  }

  /** The end of the special token closing a reply that ends at `end`, after optional whitespace (Llama-2 writes " </s>"). */
  private closing(full: string, end: number): number | null {
    const ws = /^[ \t\r\n]*/.exec(full.slice(end, end + 64))![0].length;
    const tok = this.endMarkers.find((t) => full.startsWith(t, end + ws));
    return tok === undefined ? null : end + ws + tok.length;
  }

  private firstMarkerFrom(full: string, start: number): [string | undefined, number] {
    let best: string | undefined;
    let bestAt = Infinity;
    for (const tok of this.endMarkers) {
      const at = full.indexOf(tok, start);
      if (at >= 0 && at < bestAt) { best = tok; bestAt = at; }
    }
    return [best, bestAt];
  }
}

/**
 * The reference template. A system turn (the reference has none) goes verbatim before the first user turn;
 * every user turn is "\n### User: {u}\n\n### Assistant: " and every reply is a target followed by EOS.
 * Consecutive assistant turns (no user between) simply follow each other. The reference knows no tool speaker: a
 * tool's output is input the model answers, so it is rendered exactly like a user turn and never trained.
 */
function paperSegments(messages: Message[], eos: Segment | null): Segment[] {
  const out: Segment[] = [];
  for (const m of messages) {
    if (m.role === 'system') out.push({ text: m.content, target: false });
    else if (m.role === 'user' || m.role === 'tool') out.push({ text: `${PAPER_USER}${m.content}${PAPER_ASSISTANT}`, target: false });
    else {
      out.push({ text: m.content, target: true });
      if (eos) out.push(eos);
    }
  }
  return out.filter((s) => s.text !== '' || s.ids);
}

/** Prompt, newline, response (+ EOS); turns, a system prompt and tool output (context, like a user turn) are separated by newlines too. */
function plainSegments(messages: Message[], eos: Segment | null): Segment[] {
  const out: Segment[] = [];
  let prompt = ''; // prompt text waiting for the reply that follows it
  let started = false;
  const sep = () => (started ? '\n' : '');
  for (const m of messages) {
    if (m.role === 'assistant') {
      out.push({ text: prompt + sep(), target: false });
      prompt = '';
      out.push({ text: m.content, target: true });
      if (eos) out.push(eos);
    } else {
      prompt += sep() + m.content;
    }
    started = true;
  }
  if (prompt) out.push({ text: prompt, target: false });
  return out.filter((s) => s.text !== '' || s.ids);
}

/** Special-token texts of a tokenizer that may end a turn, EOS first, longest first after it. */
function specialTokenTexts(t: Tokenizer): string[] {
  const out = new Set<string>();
  const decoder = t.config.added_tokens_decoder;
  if (decoder && typeof decoder === 'object') {
    for (const v of Object.values(decoder as Record<string, unknown>)) {
      const o = v as { content?: unknown; special?: unknown };
      if (typeof o?.content === 'string' && o.special === true) out.add(o.content);
    }
  }
  for (const s of [t.eosToken, t.padToken, t.bosToken]) if (s) out.add(s);
  const list = [...out].filter((s) => s !== t.eosToken && s !== t.bosToken).sort((a, b) => b.length - a.length);
  return t.eosToken ? [t.eosToken, ...list] : list;
}
