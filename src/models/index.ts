// The models layer's front door: load a Hugging Face checkpoint directory, or make a fresh model, by config.
import { parseConfig, readConfig, type ModelConfig } from './config.js';
import { Gpt2Model } from './gpt2.js';
import { LlamaModel } from './llama.js';
import type { AdaptableLM, LoadOptions } from './model.js';

export * from './config.js';
export * from './generate.js';
export * from './positions.js';
export { KVCache } from './kvcache.js';
export type { AdaptableLM, BaseDtype, CausalLM, ForwardOptions, ForwardResult, HeadInput, LinearModule, LoadOptions, ParamSpec } from './model.js';
export { BASE_DTYPES } from './model.js';
export { Gpt2Model } from './gpt2.js';
export { LlamaModel } from './llama.js';
export { Rng } from '../util/rng.js';
export * from './safetensors.js';
export * from './shards.js';
export * from './presets.js';

/** Load config.json + model.safetensors (or the sharded index) from a checkpoint directory; opts.baseDtype bf16
 *  keeps the matrices as frozen bfloat16 (a LoRA base at half the memory). */
export function loadModel(dir: string, opts: LoadOptions = {}): AdaptableLM {
  const cfg = readConfig(dir);
  return cfg.family === 'gpt2' ? Gpt2Model.load(cfg, dir, opts) : LlamaModel.load(cfg, dir, opts);
}

/** HF's name for loadModel. */
export const fromPretrained = loadModel;

/**
 * A freshly initialized model: N(0, 0.02) weights, norm scales 1, biases 0, from a seeded PRNG. `cfg` is a
 * ModelConfig or a raw config.json object (e.g. from initConfigJson).
 */
export function initModel(cfg: ModelConfig | Record<string, unknown>, seed = 0, opts: LoadOptions = {}): AdaptableLM {
  const c = 'family' in cfg && 'raw' in cfg ? (cfg as ModelConfig) : parseConfig(cfg, 'config.json');
  return c.family === 'gpt2' ? Gpt2Model.init(c, seed, opts) : LlamaModel.init(c, seed, opts);
}
