// The one position rule: per model (GPT-2, Llama, Mistral with and without a sliding window, Qwen2) and per use,
// the hard limit, what sets it, and the default context; and forward refuses exactly past the hard limit.
import { describe, expect, test } from 'vitest';
import { noGrad } from '../../src/engine/index.js';
import { initConfigJson, initModel, parseConfig, positionLimit, type PositionUse } from '../../src/models/index.js';

const llamaBody = {
  hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 2, vocab_size: 32,
};
const CONFIGS = {
  gpt2: { model_type: 'gpt2', n_embd: 16, n_head: 2, n_layer: 1, vocab_size: 32, n_positions: 1024 },
  llama: { model_type: 'llama', ...llamaBody, max_position_embeddings: 4096 },
  mistral: { model_type: 'mistral', ...llamaBody, max_position_embeddings: 32768, sliding_window: 4096 },
  // Mistral v0.2 and later: "sliding_window": null, full attention
  mistralNoWindow: { model_type: 'mistral', ...llamaBody, max_position_embeddings: 32768, sliding_window: null },
  // a window wider than the trained context: training and scoring still default to the trained context
  mistralWide: { model_type: 'mistral', ...llamaBody, max_position_embeddings: 4096, sliding_window: 8192 },
  // Qwen2 ships a sliding_window but turns it off
  qwen2: { model_type: 'qwen2', ...llamaBody, max_position_embeddings: 32768, sliding_window: 131072, use_sliding_window: false },
  qwen2Window: { model_type: 'qwen2', ...llamaBody, max_position_embeddings: 32768, sliding_window: 4096, use_sliding_window: true },
};

const USES: PositionUse[] = ['forward', 'generate', 'train', 'eval', 'analyze'];
const I = Infinity;
// [model, max, by, context per use in USES order]
const TABLE: [keyof typeof CONFIGS, number, string | null, number[]][] = [
  ['gpt2', 1024, 'n_positions', [1024, 1024, 1024, 1024, 1024]],
  ['llama', I, null, [I, I, 4096, 4096, 4096]],
  ['mistral', 4096, 'sliding_window', [4096, 4096, 4096, 4096, 4096]],
  ['mistralNoWindow', I, null, [I, I, 32768, 32768, 32768]],
  ['mistralWide', 8192, 'sliding_window', [8192, 8192, 4096, 4096, 4096]],
  ['qwen2', I, null, [I, I, 32768, 32768, 32768]],
  ['qwen2Window', 4096, 'sliding_window', [4096, 4096, 4096, 4096, 4096]],
];

describe('positionLimit', () => {
  test.each(TABLE)('%s: max %d (%s), context per use', (name, max, by, contexts) => {
    const cfg = parseConfig(CONFIGS[name], `${name}/config.json`);
    USES.forEach((use, i) => {
      expect(positionLimit(cfg, use), `${name} ${use}`).toEqual({ max, by, context: contexts[i] });
    });
  });
});

describe('forward refuses exactly past the hard limit, with the message that names the limit', () => {
  test('GPT-2: n_positions', () => {
    const model = initModel(initConfigJson({ arch: 'gpt2', layers: 1, d: 16, heads: 2, vocab: 32, ctx: 8 }));
    expect(noGrad(() => model.forward(new Int32Array(8), 1, 8, { lastOnly: true })).logits.shape).toEqual([1, 1, 32]);
    expect(() => noGrad(() => model.forward(new Int32Array(9), 1, 9))).toThrow(/sequence of 9 tokens is longer than .*'s 8 positions \(n_positions\)/);
  });

  test('Mistral: the sliding window, not max_position_embeddings', () => {
    const model = initModel({ ...CONFIGS.mistral, max_position_embeddings: 4, sliding_window: 6 });
    expect(noGrad(() => model.forward(new Int32Array(6), 1, 6, { lastOnly: true })).logits.shape).toEqual([1, 1, 32]);
    expect(() => noGrad(() => model.forward(new Int32Array(7), 1, 7))).toThrow(/sequence of 7 tokens is longer than the sliding window \(6\)/);
  });

  test('Llama: no hard end, runs past max_position_embeddings', () => {
    const model = initModel({ ...CONFIGS.llama, max_position_embeddings: 4 });
    expect(noGrad(() => model.forward(new Int32Array(9), 1, 9, { lastOnly: true })).logits.shape).toEqual([1, 1, 32]);
  });
});
