// LoRA (Hu et al. 2021, arXiv 2106.09685): frozen base weights plus a trainable low-rank path (alpha/r)·B·A on chosen
// linear layers; adapters load and save in PEFT's layout so `peft` can use them, and can be merged into the base.
import fs from 'node:fs';
import path from 'node:path';
import { Tensor, dropout, linear, scale } from '../engine/index.js';
import type { AdaptableLM, LinearModule } from '../models/index.js';
import { readSafetensors, writeSafetensors } from '../models/safetensors.js';
import { bf16ToFloat } from '../models/dtypes.js';
import { CheckpointError, UsageError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic.js';
import { Rng } from '../util/rng.js';

export interface LoraOptions {
  r: number;
  alpha: number;
  dropout: number;
  /** module names as in HF (q_proj, v_proj, ...); GPT-2's own names (c_attn, c_proj, c_fc) or their Llama equivalents */
  targets: string[];
}

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';

// GPT-2 fuses q, k and v in c_attn, so a Llama-style target list maps onto GPT-2's modules (as PEFT users do by hand)
const GPT2_EQUIVALENT: Record<string, string> = {
  q_proj: 'attn.c_attn', k_proj: 'attn.c_attn', v_proj: 'attn.c_attn', o_proj: 'attn.c_proj',
  gate_proj: 'mlp.c_fc', up_proj: 'mlp.c_fc', down_proj: 'mlp.c_proj',
};

interface Adapter { module: LinearModule; A: Tensor; B: Tensor }

/** The model LoRA's targets are chosen in: its family (GPT-2's names map) and type (named in errors). */
type ModelKind = Pick<AdaptableLM['config'], 'family' | 'modelType'>;

/**
 * LoRA's settings and tensors apart from any model: drawn from the seed (or read from a PEFT adapter) for a list of
 * linear modules, saved in PEFT's layout. The torch engine makes them from the checkpoint's headers alone
 * (checkpointLinearModules), the native engine's Lora from the loaded model: the same modules give the same tensors.
 */
export class LoraWeights {
  constructor(readonly opts: LoraOptions, readonly kind: ModelKind, readonly adapters: Adapter[]) {}

  /** Fresh adapters on `opts.targets` of `modules`, or with `from`, a saved PEFT adapter's settings and weights. */
  static create(modules: LinearModule[], kind: ModelKind, opts: LoraOptions, seed = 0, from?: string): LoraWeights {
    const o = from ? readAdapterConfig(from) : opts;
    if (!Number.isInteger(o.r) || o.r < 1) throw new UsageError(`--lora-r must be a positive integer, got ${o.r}`);
    if (!(o.dropout >= 0 && o.dropout < 1)) throw new UsageError(`--lora-dropout must be in [0, 1), got ${o.dropout}`);
    const init = new Rng(seed);
    const adapters = selectModules(modules, kind, o.targets).map((m) => {
      // PEFT's default: A ~ kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)), B = 0 (the adapter starts as a no-op)
      const bound = 1 / Math.sqrt(m.inFeatures);
      const a = new Float32Array(o.r * m.inFeatures);
      for (let i = 0; i < a.length; i++) a[i] = (init.next() * 2 - 1) * bound;
      const A = new Tensor(a, [o.r, m.inFeatures], true, `${m.stored}.lora_A.weight`);
      const B = new Tensor(new Float32Array(m.outFeatures * o.r), [m.outFeatures, o.r], true, `${m.stored}.lora_B.weight`);
      return { module: m, A, B };
    });
    const w = new LoraWeights(o, kind, adapters);
    if (from) w.loadWeights(from);
    return w;
  }

  parameters(): Tensor[] {
    return this.adapters.flatMap((a) => [a.A, a.B]);
  }

  /** PEFT layout: adapter_config.json + adapter_model.safetensors, tensors named base_model.model.<module>.lora_X.weight */
  save(dir: string, baseModel: string): void {
    fs.mkdirSync(dir, { recursive: true });
    const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const { module, A, B } of this.adapters) {
      tensors.set(`base_model.model.${module.stored}.lora_A.weight`, { shape: [...A.shape], data: A.data as Float32Array });
      tensors.set(`base_model.model.${module.stored}.lora_B.weight`, { shape: [...B.shape], data: B.data as Float32Array });
    }
    writeSafetensors(path.join(dir, ADAPTER_WEIGHTS), tensors, { metadata: { format: 'pt' } });
    const targets = [...new Set(this.adapters.map((a) => a.module.key.split('.').pop()!))];
    const config = {
      peft_type: 'LORA', task_type: 'CAUSAL_LM', base_model_name_or_path: baseModel, r: this.opts.r,
      lora_alpha: this.opts.alpha, lora_dropout: this.opts.dropout, target_modules: targets, bias: 'none',
      fan_in_fan_out: this.kind.family === 'gpt2', inference_mode: true, init_lora_weights: true,
      modules_to_save: null, layers_to_transform: null, layers_pattern: null, rank_pattern: {}, alpha_pattern: {},
      use_rslora: false, use_dora: false, revision: null,
    };
    writeFileAtomic(path.join(dir, ADAPTER_CONFIG), JSON.stringify(config, null, 2) + '\n');
  }

  loadWeights(dir: string): void {
    const file = path.join(dir, ADAPTER_WEIGHTS);
    const t = readSafetensors(file);
    for (const { module, A, B } of this.adapters) {
      for (const [which, dst] of [['lora_A', A], ['lora_B', B]] as const) {
        const name = `base_model.model.${module.stored}.${which}.weight`;
        const src = t.get(name);
        if (!src) throw new CheckpointError(`${file}: tensor ${name} is missing`, 'the adapter was trained for a different model or target list');
        if (src.data.length !== dst.size) throw new CheckpointError(`${file}: tensor ${name} has shape [${src.shape}], expected [${dst.shape}]`, 'the adapter was trained for a different model size or rank');
        dst.data.set(src.data);
      }
    }
  }
}

/** LoRA attached to a loaded model: its base weights frozen, each adapter's path added to its module's output. */
export class Lora extends LoraWeights {
  private rng = new Rng(0);
  private training = true;

  private constructor(private model: AdaptableLM, w: LoraWeights) {
    super(w.opts, w.kind, w.adapters);
    for (const p of model.parameters()) p.requiresGrad = false;
    const { dropout: p, r, alpha } = this.opts;
    const s = alpha / r;
    for (const ad of this.adapters) {
      model.adapters.set(ad.module.key, (x) => {
        const xd = this.training && p > 0 ? dropout(x, p, this.rng) : x;
        return scale(linear(linear(xd, ad.A, null, 'out_in'), ad.B, null, 'out_in'), s); // (..., out)
      });
    }
  }

  /** Attach fresh adapters (or, with `from`, a saved PEFT adapter's weights and settings) to a model. */
  static attach(model: AdaptableLM, opts: LoraOptions, seed = 0, from?: string): Lora {
    return new Lora(model, LoraWeights.create(model.linearModules(), model.config, opts, seed, from));
  }

  /** dropout masks for optimizer step k come from (seed, k): a resumed run draws the same ones */
  setStep(seed: number, step: number): void {
    this.rng = new Rng(seed * 7919 + step + 1);
  }

  eval(): void { this.training = false; }

  /**
   * Fold the adapters into the base weights: W += (alpha/r)·B·A (transposed for GPT-2's [in, out] Conv1D). A bfloat16
   * base weight is widened and merged in float32, and stays float32 (the merged sum is not a bfloat16 value): the
   * model saves it in --save-dtype like every other weight.
   */
  merge(): void {
    const s = this.opts.alpha / this.opts.r;
    const params = this.model.namedParameters();
    for (const { module, A, B } of this.adapters) {
      const W = params.get(`${module.stored}.weight`)!;
      const r = this.opts.r, inF = module.inFeatures, outF = module.outFeatures;
      if (W.bf16) {
        const wide = new Float32Array(W.size);
        bf16ToFloat(W.bf16, wide);
        W.data = wide;
      }
      const a = A.data, b = B.data, w = W.data;
      for (let o = 0; o < outF; o++) {
        for (let i = 0; i < inF; i++) {
          let d = 0;
          for (let k = 0; k < r; k++) d += b[o * r + k] * a[k * inF + i];
          if (module.layout === 'out_in') w[o * inF + i] += s * d;
          else w[i * outF + o] += s * d;
        }
      }
      this.model.adapters.delete(module.key);
    }
  }
}

function selectModules(modules: LinearModule[], kind: ModelKind, targets: string[]): LinearModule[] {
  const gpt2 = kind.family === 'gpt2';
  const chosen = new Map<string, LinearModule>();
  for (const t0 of targets) {
    const t = gpt2 && GPT2_EQUIVALENT[t0] ? GPT2_EQUIVALENT[t0] : t0;
    const hits = modules.filter((m) => m.key === t || m.key.endsWith('.' + t));
    if (hits.length === 0) {
      const names = [...new Set(modules.map((m) => m.key.split('.').slice(-2).join('.')))];
      throw new UsageError(`--lora-targets: no linear layer named "${t0}" in this ${kind.modelType} model`, `choose from: ${names.join(', ')}`);
    }
    for (const h of hits) chosen.set(h.key, h);
  }
  return [...chosen.values()];
}

export function readAdapterConfig(dir: string): LoraOptions {
  const file = path.join(dir, ADAPTER_CONFIG);
  let c: Record<string, unknown>;
  try { c = JSON.parse(fs.readFileSync(file, 'utf8')); } catch (e) {
    throw new CheckpointError(`${file}: cannot read the adapter config (${(e as Error).message})`, 'pass a directory holding a PEFT LoRA adapter');
  }
  if (c.peft_type !== 'LORA') throw new CheckpointError(`${file}: peft_type is ${JSON.stringify(c.peft_type)}, only LORA is supported`);
  const targets = Array.isArray(c.target_modules) ? (c.target_modules as string[]) : [String(c.target_modules)];
  return { r: Number(c.r), alpha: Number(c.lora_alpha), dropout: Number(c.lora_dropout ?? 0), targets };
}
