// A word-level tokenizer for the demo's small world, written as a Hugging Face tokenizer.json (WordPiece over whole
// words, punctuation as "@@." continuation pieces), so the demo's checkpoints load in any HF-compatible tool and the
// model's vocabulary stays a few hundred tokens: small enough to train a model from scratch in minutes.
import path from 'node:path';
import { writeFileAtomic } from '../../util/atomic.js';

export const UNK = '[UNK]';
export const EOS = '<|endoftext|>';
const PUNCT = ['.', ',', '?', '!', ':'];
/** continuation-piece prefix; not WordPiece's usual "##", which would eat GSM8K's "####" answer marker on decode */
const CONT = '@@';

/** tokenizer.json + tokenizer_config.json for these words; returns the vocabulary size. */
export function writeWordTokenizer(dir: string, words: readonly string[]): number {
  const vocab: Record<string, number> = {};
  const add = (t: string) => { if (!(t in vocab)) vocab[t] = Object.keys(vocab).length; };
  add(UNK);
  add(EOS);
  for (const p of PUNCT) add(CONT + p);
  for (const w of words) add(w);
  const special = (content: string) => ({ id: vocab[content], content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(UNK), special(EOS)],
    normalizer: null,
    pre_tokenizer: { type: 'WhitespaceSplit' },
    post_processor: null,
    decoder: { type: 'WordPiece', prefix: CONT, cleanup: true },
    model: { type: 'WordPiece', unk_token: UNK, continuing_subword_prefix: CONT, max_input_chars_per_word: 100, vocab },
  };
  writeFileAtomic(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  const config = { tokenizer_class: 'PreTrainedTokenizerFast', eos_token: EOS, unk_token: UNK, pad_token: EOS, model_max_length: 128 };
  writeFileAtomic(path.join(dir, 'tokenizer_config.json'), JSON.stringify(config, null, 2) + '\n');
  return Object.keys(vocab).length;
}
