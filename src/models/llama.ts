// The Llama family (model_type llama, mistral, qwen2): RMSNorm, RoPE (rotate-half, rope_theta), SwiGLU MLP,
// grouped-query attention, optional q/k/v bias (Qwen2), tied or separate lm_head. Matches torch_ref.py's forward.
import { Tensor, add, attention, embedding, freeActivation, rmsnorm, rope, swiglu } from '../engine/index.js';
import type { ModelConfig } from './config.js';
import { BaseModel, initParams, loadParams, type ForwardOptions, type LoadOptions, type Naming, type ParamSpec, type Trunk } from './model.js';

export function llamaNaming(cfg: ModelConfig): Naming {
  return {
    prefix: 'model.',
    // HF's tied models may still store the head's copy; older exports store the RoPE table
    ignore: (key) => key.endsWith('rotary_emb.inv_freq') || (cfg.tieWordEmbeddings && key === 'lm_head.weight'),
  };
}

export function llamaSpecs(cfg: ModelConfig): ParamSpec[] {
  const { vocabSize: V, hiddenSize: C, numHeads: H, numKvHeads: KV, headDim: hd, intermediateSize: F } = cfg;
  const s: ParamSpec[] = [{ key: 'embed_tokens.weight', shape: [V, C], init: 'normal' }];
  const proj = (key: string, out: number, inp: number, bias: boolean): void => {
    s.push({ key: key + '.weight', shape: [out, inp], init: 'normal' });
    if (bias) s.push({ key: key + '.bias', shape: [out], init: 'zeros' });
  };
  for (let i = 0; i < cfg.numLayers; i++) {
    const q = `layers.${i}.`;
    s.push({ key: q + 'input_layernorm.weight', shape: [C], init: 'ones' });
    proj(q + 'self_attn.q_proj', H * hd, C, cfg.qkvBias);
    proj(q + 'self_attn.k_proj', KV * hd, C, cfg.qkvBias);
    proj(q + 'self_attn.v_proj', KV * hd, C, cfg.qkvBias);
    proj(q + 'self_attn.o_proj', C, H * hd, cfg.oBias);
    s.push({ key: q + 'post_attention_layernorm.weight', shape: [C], init: 'ones' });
    proj(q + 'mlp.gate_proj', F, C, cfg.mlpBias);
    proj(q + 'mlp.up_proj', F, C, cfg.mlpBias);
    proj(q + 'mlp.down_proj', C, F, cfg.mlpBias);
  }
  s.push({ key: 'norm.weight', shape: [C], init: 'ones' });
  if (!cfg.tieWordEmbeddings) s.push({ key: 'lm_head.weight', shape: [V, C], init: 'normal' });
  return s;
}

export class LlamaModel extends BaseModel {
  static load(cfg: ModelConfig, dir: string, opts: LoadOptions = {}): LlamaModel {
    const specs = llamaSpecs(cfg);
    return new LlamaModel(cfg, specs, loadParams(cfg, specs, llamaNaming(cfg), dir, opts), dir);
  }

  static init(cfg: ModelConfig, seed: number, opts: LoadOptions = {}): LlamaModel {
    const specs = llamaSpecs(cfg);
    return new LlamaModel(cfg, specs, initParams(specs, llamaNaming(cfg), seed, opts), `a fresh ${cfg.modelType} model`);
  }

  /** nn.Linear with its optional bias: weights are [out, in] */
  private lin(x: Tensor, key: string): Tensor {
    return this.linearAt(x, key, 'out_in');
  }

  protected trunk(ids: Int32Array, B: number, T: number, opts: ForwardOptions): Trunk {
    const pos0 = this.checkInput(ids, B, T, opts);
    const { numHeads: H, numKvHeads: KV, headDim: hd, normEps: eps, ropeTheta: theta } = this.config;
    const cache = opts.cache;
    let x = embedding(this.p('embed_tokens.weight'), ids, [B, T]); // (B, T, C)
    const hidden: Tensor[] = [x];
    for (let i = 0; i < this.config.numLayers; i++) {
      const q = `layers.${i}.`;
      x = this.block(x, cache, (x) => {
        // freeActivation after each activation's last forward use: those no backward reads (the inputs of frozen
        // projections, pre-RoPE q and k, residual branches) go back to the pool for the rest of the forward
        let h = rmsnorm(x, this.p(q + 'input_layernorm.weight'), eps);
        const qp = this.lin(h, q + 'self_attn.q_proj'), kp = this.lin(h, q + 'self_attn.k_proj');
        const qq = rope(qp.view(B, T, H, hd), pos0, theta);
        let k = rope(kp.view(B, T, KV, hd), pos0, theta);
        let v = this.lin(h, q + 'self_attn.v_proj').view(B, T, KV, hd);
        freeActivation(h, qp, kp);
        if (cache) ({ k, v } = cache.update(i, k, v));
        const y = attention(qq, k, v).view(B, T, H * hd);
        const o = this.lin(y, q + 'self_attn.o_proj');
        freeActivation(y);
        x = add(x, o);
        freeActivation(o);
        h = rmsnorm(x, this.p(q + 'post_attention_layernorm.weight'), eps);
        const gate = this.lin(h, q + 'mlp.gate_proj'), up = this.lin(h, q + 'mlp.up_proj');
        freeActivation(h);
        const m = swiglu(gate, up);
        freeActivation(gate, up);
        const d = this.lin(m, q + 'mlp.down_proj');
        freeActivation(m);
        const out = add(x, d);
        freeActivation(d);
        return out;
      });
      if (opts.hidden && i < this.config.numLayers - 1) hidden.push(x);
    }
    cache?.advance(T);
    x = rmsnorm(x, this.p('norm.weight'), eps);
    if (opts.hidden) hidden.push(x);
    return { x, hidden };
  }

  /** lm_head, or the embedding table when tied: [V, C] = [out, in] either way */
  headWeight(): Tensor {
    return this.pOpt('lm_head.weight') ?? this.p('embed_tokens.weight');
  }
}
