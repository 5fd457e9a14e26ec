// Text <-> token ids for the evaluations: a small codec interface over the checkpoint's tokenizer (tests plug in
// toy ones) and the lm-evaluation-harness context/continuation split.
import fs from 'node:fs';
import path from 'node:path';
import { specialPrefix } from '../data/tokenize.js';
import { hasTokenizer, Tokenizer } from '../data/tokenizer.js';
import { UalError } from '../errors.js';

export interface TextCodec {
  /** text -> ids, no special tokens added */
  encode(text: string): number[];
  /** ids -> text, special tokens dropped */
  decode(ids: ArrayLike<number>): string;
  /** what the tokenizer's post-processor puts before a text (Llama's BOS; nothing for GPT-2 or Qwen) */
  readonly prefix: readonly number[];
  /** ids that end a generated answer (eos, end-of-turn markers) */
  readonly eosIds: readonly number[];
  /** the tokenizer behind it, for the data layer's prompt templates (absent in toy codecs) */
  readonly tokenizer?: Tokenizer;
}

// end-of-turn markers of common chat formats (Qwen/ChatML, Llama 3, Phi): a chat model's answer ends at them
const TURN_ENDS = ['<|im_end|>', '<|eot_id|>', '<|end|>', '<|endoftext|>'];

/** generation_config.json's eos_token_id (a number or a list), which HF generate stops on. */
function generationEos(dir: string): number[] {
  const f = path.join(dir, 'generation_config.json');
  if (!fs.existsSync(f)) return [];
  try {
    const v = (JSON.parse(fs.readFileSync(f, 'utf8')) as { eos_token_id?: unknown }).eos_token_id;
    const list = Array.isArray(v) ? v : [v];
    return list.filter((x): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0);
  } catch {
    return []; // a broken generation_config is not worth failing an evaluation over; eos from the tokenizer stays
  }
}

export function codecFromTokenizer(tok: Tokenizer, modelDir?: string): TextCodec {
  const eos = new Set<number>();
  if (tok.eosId !== null) eos.add(tok.eosId);
  for (const t of TURN_ENDS) {
    const id = tok.tokenToId(t);
    if (id !== undefined) eos.add(id);
  }
  if (modelDir) for (const id of generationEos(modelDir)) eos.add(id);
  return {
    encode: (text) => tok.encode(text, { addSpecialTokens: false }),
    decode: (ids) => tok.decode(ids, { skipSpecialTokens: true }),
    prefix: specialPrefix(tok),
    eosIds: [...eos],
    tokenizer: tok,
  };
}

/** The codec of a checkpoint directory; `why` says which command needs text, for the error when there is none. */
export function loadCodec(dir: string, why: string): TextCodec {
  if (!hasTokenizer(dir)) {
    throw new UalError('UAL_TOKENIZER', `${dir}: no tokenizer.json, so ${why} cannot turn text into tokens`,
      'copy the model\'s tokenizer.json and tokenizer_config.json into the checkpoint directory (ual init --tokenizer DIR does), ' +
      'or give pretokenized rows {"input_ids": [...]} where the command accepts them');
  }
  return codecFromTokenizer(Tokenizer.load(dir), dir);
}

/**
 * lm-evaluation-harness's `_encode_pair`: trailing spaces of the context move to the continuation, the pair is
 * encoded whole, and the continuation is what the whole has beyond the context's own encoding. An empty context
 * becomes the end-of-text token, as the harness does.
 */
export function encodePair(codec: TextCodec, context: string, continuation: string): [number[], number[]] {
  if (context === '') {
    const eot = codec.eosIds[0];
    if (eot === undefined) throw new UalError('UAL_TOKENIZER', 'an empty context needs an end-of-text token to condition on, and the tokenizer has none');
    return [[eot], codec.encode(continuation)];
  }
  const nSpaces = context.length - context.trimEnd().length;
  if (nSpaces > 0) {
    continuation = context.slice(-nSpaces) + continuation;
    context = context.slice(0, -nSpaces);
  }
  const whole = codec.encode(context + continuation);
  const ctx = codec.encode(context);
  return [ctx, whole.slice(ctx.length)];
}
