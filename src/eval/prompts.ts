// Prompt formats for generating answers: the data layer's training templates (paper, chat, plain; few-shot
// examples become earlier turns), the lm-evaluation-harness Q/A format, MetaMath's eval prompt, or the user's own.
import { Templater, TEMPLATES, type TemplateName } from '../data/template.js';
import { UalError, UsageError } from '../errors.js';
import type { TextCodec } from './text.js';

export const PROMPT_STYLES = [...TEMPLATES, 'qa', 'metamath'] as const;
export type PromptStyle = (typeof PROMPT_STYLES)[number];

export function isPromptStyle(s: string): s is PromptStyle {
  return (PROMPT_STYLES as readonly string[]).includes(s);
}

export interface Shot {
  question: string;
  /** the worked answer shown with it */
  solution: string;
}

const ALPACA_HEAD = 'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n';

/** MetaMath's evaluation prompt (eval_gsm8k.py): Alpaca, with the response opened by "Let's think step by step." */
export function metamathPrompt(query: string): string {
  return `${ALPACA_HEAD}### Instruction:\n${query}\n\n### Response: Let's think step by step.`;
}

/** Fill "{question}"-style placeholders; unknown placeholders stay as written. */
export function fillTemplate(template: string, fields: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (m, k: string) => (k in fields ? fields[k] : m));
}

/** The harness's few-shot block: "Question: q\nAnswer: a" examples separated by blank lines. */
function qaShots(shots: readonly Shot[]): string {
  return shots.map((s) => `Question: ${s.question}\nAnswer: ${s.solution}\n\n`).join('');
}

/** Turns a question (plus few-shot examples) into prompt token ids for one model. */
export type PromptEncoder = (question: string, shots?: readonly Shot[]) => number[];

/**
 * A prompt encoder for a style. Training templates render through the data layer (its Templater) so a model is
 * asked exactly the way `ual train` showed it its data; `custom` (with {question}) overrides the style.
 */
export function promptEncoder(codec: TextCodec, style: PromptStyle, custom?: string): PromptEncoder {
  const withPrefix = (text: string) => [...codec.prefix, ...codec.encode(text)];
  if (custom !== undefined) {
    if (!custom.includes('{question}')) throw new UsageError('--prompt must contain {question}, where the question goes');
    return (q, shots = []) => withPrefix(qaShots(shots) + fillTemplate(custom, { question: q }));
  }
  if (style === 'qa') return (q, shots = []) => withPrefix(`${qaShots(shots)}Question: ${q}\nAnswer:`);
  if (style === 'metamath') return (q, shots = []) => withPrefix(qaShots(shots) + metamathPrompt(q));
  if (!codec.tokenizer) throw new UalError('UAL_TOKENIZER', `the ${style} template needs the checkpoint's tokenizer`);
  const t = new Templater(style as TemplateName, codec.tokenizer);
  return (q, shots = []) => {
    const turns = shots.flatMap((s) => [{ role: 'user' as const, content: s.question }, { role: 'assistant' as const, content: s.solution }]);
    const text = t.prompt([...turns, { role: 'user', content: q }]);
    // chat templates write their own BOS; paper and plain get the tokenizer's, as in training
    return style === 'chat' ? codec.encode(text) : withPrefix(text);
  };
}
