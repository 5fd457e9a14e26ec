// The KV cache for generation: each layer keeps its keys and values (B, Tmax, KV, hd) so every new token costs one
// forward over itself instead of a recompute of the whole sequence.
import { Tensor, alloc, type Arr } from '../engine/index.js';
import type { ModelConfig } from './config.js';

export class KVCache {
  readonly B: number;
  readonly Tmax: number;
  readonly KV: number;
  readonly hd: number;
  /** positions already cached; the next forward's tokens start at this position (RoPE pos0, GPT-2 wpe row) */
  length = 0;
  private readonly k: (Arr | null)[];
  private readonly v: (Arr | null)[];

  constructor(cfg: ModelConfig, B: number, Tmax: number) {
    if (!Number.isInteger(B) || B < 1 || !Number.isInteger(Tmax) || Tmax < 1) {
      throw new Error(`KVCache: B and Tmax must be positive integers, got ${B}, ${Tmax}`);
    }
    this.B = B;
    this.Tmax = Tmax;
    this.KV = cfg.numKvHeads;
    this.hd = cfg.headDim;
    // allocated on first use, in the dtype of the keys that arrive
    this.k = new Array<Arr | null>(cfg.numLayers).fill(null);
    this.v = new Array<Arr | null>(cfg.numLayers).fill(null);
  }

  /**
   * Store layer `layer`'s new keys and values k, v (B, T, KV, hd) at positions [length, length + T) and return
   * everything cached for that layer so far, (B, length + T, KV, hd).
   */
  update(layer: number, k: Tensor, v: Tensor): { k: Tensor; v: Tensor } {
    const { B, Tmax, KV, hd } = this;
    const [kb, T, kkv, khd] = k.shape;
    if (kb !== B || kkv !== KV || khd !== hd) throw new Error(`KVCache: keys [${k.shape}] do not fit a cache of (B=${B}, KV=${KV}, hd=${hd})`);
    const end = this.length + T;
    if (end > Tmax) throw new Error(`KVCache: ${end} positions exceed the cache's ${Tmax}; make the cache longer`);
    const row = KV * hd; // one position
    const K = (this.k[layer] ??= alloc(k.data, B * Tmax * row)); // (B, Tmax, KV, hd)
    const V = (this.v[layer] ??= alloc(v.data, B * Tmax * row));
    for (let b = 0; b < B; b++) {
      K.set(k.data.subarray(b * T * row, (b + 1) * T * row), (b * Tmax + this.length) * row);
      V.set(v.data.subarray(b * T * row, (b + 1) * T * row), (b * Tmax + this.length) * row);
    }
    const shape = [B, end, KV, hd];
    if (B === 1) return { k: new Tensor(K.subarray(0, end * row), shape), v: new Tensor(V.subarray(0, end * row), shape) };
    // rows of a batch are Tmax apart; attention wants them contiguous
    const kc = alloc(K, B * end * row), vc = alloc(V, B * end * row);
    for (let b = 0; b < B; b++) {
      kc.set(K.subarray(b * Tmax * row, (b * Tmax + end) * row), b * end * row);
      vc.set(V.subarray(b * Tmax * row, (b * Tmax + end) * row), b * end * row);
    }
    return { k: new Tensor(kc, shape), v: new Tensor(vc, shape) };
  }

  /** Called by the model once every layer has stored its T new positions. */
  advance(T: number): void {
    this.length += T;
  }

  reset(): void {
    this.length = 0;
  }
}
