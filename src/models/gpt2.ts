// GPT-2 (HF GPT2LMHeadModel): learned positions, pre-LayerNorm blocks, tanh GELU, Conv1D weights stored [in, out],
// LM head tied to wte. Matches torch_ref.py's gpt2 forward op for op.
import { Tensor, add, attention, attentionQkv, embedding, freeActivation, layernorm, split } from '../engine/index.js';
import type { ModelConfig } from './config.js';
import { BaseModel, initParams, loadParams, type ForwardOptions, type LoadOptions, type Naming, type ParamSpec, type Trunk } from './model.js';

export const GPT2_NAMING: Naming = {
  prefix: 'transformer.',
  // the causal-mask buffers older exports store, and a stored copy of the tied head
  ignore: (key) => key.endsWith('.attn.bias') || key.endsWith('.attn.masked_bias') || key === 'lm_head.weight',
};

export function gpt2Specs(cfg: ModelConfig): ParamSpec[] {
  const { vocabSize: V, hiddenSize: C, maxPositions: P, intermediateSize: F } = cfg;
  const s: ParamSpec[] = [
    { key: 'wte.weight', shape: [V, C], init: 'normal' },
    { key: 'wpe.weight', shape: [P, C], init: 'normal' },
  ];
  for (let i = 0; i < cfg.numLayers; i++) {
    const q = `h.${i}.`;
    s.push(
      { key: q + 'ln_1.weight', shape: [C], init: 'ones' },
      { key: q + 'ln_1.bias', shape: [C], init: 'zeros' },
      { key: q + 'attn.c_attn.weight', shape: [C, 3 * C], init: 'normal' },
      { key: q + 'attn.c_attn.bias', shape: [3 * C], init: 'zeros' },
      { key: q + 'attn.c_proj.weight', shape: [C, C], init: 'normal' },
      { key: q + 'attn.c_proj.bias', shape: [C], init: 'zeros' },
      { key: q + 'ln_2.weight', shape: [C], init: 'ones' },
      { key: q + 'ln_2.bias', shape: [C], init: 'zeros' },
      { key: q + 'mlp.c_fc.weight', shape: [C, F], init: 'normal' },
      { key: q + 'mlp.c_fc.bias', shape: [F], init: 'zeros' },
      { key: q + 'mlp.c_proj.weight', shape: [F, C], init: 'normal' },
      { key: q + 'mlp.c_proj.bias', shape: [C], init: 'zeros' },
    );
  }
  s.push({ key: 'ln_f.weight', shape: [C], init: 'ones' }, { key: 'ln_f.bias', shape: [C], init: 'zeros' });
  return s;
}

export class Gpt2Model extends BaseModel {
  static load(cfg: ModelConfig, dir: string, opts: LoadOptions = {}): Gpt2Model {
    const specs = gpt2Specs(cfg);
    return new Gpt2Model(cfg, specs, loadParams(cfg, specs, GPT2_NAMING, dir, opts), dir);
  }

  static init(cfg: ModelConfig, seed: number, opts: LoadOptions = {}): Gpt2Model {
    const specs = gpt2Specs(cfg);
    return new Gpt2Model(cfg, specs, initParams(specs, GPT2_NAMING, seed, opts), `a fresh ${cfg.modelType} model`);
  }

  protected trunk(ids: Int32Array, B: number, T: number, opts: ForwardOptions): Trunk {
    const pos0 = this.checkInput(ids, B, T, opts);
    const { hiddenSize: C, numHeads: H, headDim: hd, normEps: eps } = this.config;
    const cache = opts.cache;
    const positions = new Int32Array(T);
    for (let t = 0; t < T; t++) positions[t] = pos0 + t;
    // (B, T, C) + (T, C) broadcast over the batch
    let x = add(embedding(this.p('wte.weight'), ids, [B, T]), embedding(this.p('wpe.weight'), positions, [T]));
    const hidden: Tensor[] = [x];
    for (let i = 0; i < this.config.numLayers; i++) {
      const q = `h.${i}.`;
      x = this.block(x, cache, (x) => {
        let h = layernorm(x, this.p(q + 'ln_1.weight'), this.p(q + 'ln_1.bias'), eps);
        const qkv = this.linearAt(h, q + 'attn.c_attn', 'in_out'); // (B, T, 3C)
        freeActivation(h); // kept when c_attn trains (see llama.ts)
        let y: Tensor;
        if (cache) {
          // the cache keeps k and v of its own: split them out
          const [qq, kk, vv] = split(qkv, [C, C, C]);
          const { k, v } = cache.update(i, kk.view(B, T, H, hd), vv.view(B, T, H, hd));
          y = attention(qq.view(B, T, H, hd), k, v).view(B, T, C);
        } else {
          y = attentionQkv(qkv, H).view(B, T, C);
        }
        const o = this.linearAt(y, q + 'attn.c_proj', 'in_out');
        freeActivation(y);
        x = add(x, o);
        freeActivation(o);
        h = layernorm(x, this.p(q + 'ln_2.weight'), this.p(q + 'ln_2.bias'), eps);
        const f = this.linearGelu(h, q + 'mlp.c_fc', 'in_out');
        freeActivation(h);
        const d = this.linearAt(f, q + 'mlp.c_proj', 'in_out');
        freeActivation(f);
        const out = add(x, d);
        freeActivation(d);
        return out;
      });
      if (opts.hidden && i < this.config.numLayers - 1) hidden.push(x);
    }
    cache?.advance(T);
    x = layernorm(x, this.p('ln_f.weight'), this.p('ln_f.bias'), eps);
    if (opts.hidden) hidden.push(x);
    return { x, hidden };
  }

  /** the head is tied to wte: [V, C] = [out, in] */
  headWeight(): Tensor {
    return this.p('wte.weight');
  }
}
