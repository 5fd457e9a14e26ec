// Generation speed for `npm run bench`: greedy decoding with the KV cache, B prompts at once, timed after a warm-up;
// tokens/s counts generated tokens only (prefill time is included in the wall clock, as a user waits for it).
import { generateBatch, loadModel, type CausalLM } from '../models/index.js';
import { Rng } from '../util/rng.js';
import { median } from '../util/stats.js';

export interface GenBenchOptions {
  promptLen: number;
  newTokens: number;
  /** prompts decoded together (default 1) */
  batch?: number;
  /** timed repetitions; the median is reported (default 3) */
  reps?: number;
  seed?: number;
}

export interface GenBenchResult {
  tokens_per_s: number;
  /** median wall time of one generate call (prefill + decode) */
  ms: number;
  /** time to the first new token (the prefill) */
  prefill_ms: number;
  batch: number;
  prompt_len: number;
  new_tokens: number;
}

export function benchGenerate(modelOrDir: CausalLM | string, o: GenBenchOptions): GenBenchResult {
  const model = typeof modelOrDir === 'string' ? loadModel(modelOrDir) : modelOrDir;
  const B = o.batch ?? 1;
  const rng = new Rng(o.seed ?? 0);
  const V = model.config.vocabSize;
  const prompts = Array.from({ length: B }, () => Array.from({ length: o.promptLen }, () => Math.floor(rng.next() * V)));
  const run = (n: number) => generateBatch(model, prompts, { maxNewTokens: n });
  run(Math.min(4, o.newTokens)); // warm-up: first-touch allocation, thread pool start
  const prefill: number[] = [];
  const total: number[] = [];
  for (let r = 0; r < (o.reps ?? 3); r++) {
    let t = performance.now();
    run(1);
    prefill.push(performance.now() - t);
    t = performance.now();
    const res = run(o.newTokens);
    total.push(performance.now() - t);
    if (res.newIds.some((ids) => ids.length !== o.newTokens)) {
      throw new Error(`benchGenerate: expected ${o.newTokens} new tokens per prompt (prompt ${o.promptLen} + new tokens exceeds the model's positions?)`);
    }
  }
  const ms = median(total);
  return {
    tokens_per_s: (B * o.newTokens) / (ms / 1000), ms, prefill_ms: median(prefill), batch: B, prompt_len: o.promptLen, new_tokens: o.newTokens,
  };
}
