// Hugging Face config.json -> a typed ModelConfig for GPT-2 and the Llama family (llama, mistral, qwen2), checked at
// the boundary so the models can trust every field; also the config.json that `ual init` writes.
import fs from 'node:fs';
import path from 'node:path';
import { CheckpointError, UsageError } from '../errors.js';

export const MODEL_TYPES = ['gpt2', 'llama', 'mistral', 'qwen2'] as const;
export type ModelType = (typeof MODEL_TYPES)[number];
/** GPT-2 (LayerNorm, learned positions, Conv1D) or Llama-like (RMSNorm, RoPE, SwiGLU, GQA) */
export type Family = 'gpt2' | 'llama';

export interface ModelConfig {
  modelType: ModelType;
  family: Family;
  vocabSize: number; // V
  hiddenSize: number; // C
  numLayers: number;
  numHeads: number; // H
  numKvHeads: number; // KV (GPT-2: = H)
  headDim: number; // hd
  intermediateSize: number; // MLP width
  maxPositions: number; // GPT-2: rows of wpe (a hard limit); Llama: the trained context (RoPE runs past it)
  normEps: number;
  ropeTheta: number; // Llama family only
  tieWordEmbeddings: boolean; // GPT-2 always
  qkvBias: boolean; // q/k/v projections carry a bias (qwen2; llama with attention_bias)
  oBias: boolean; // o_proj carries a bias (llama with attention_bias)
  mlpBias: boolean; // llama mlp_bias
  slidingWindow: number | null; // attention span limit (mistral); we refuse sequences longer than it
  /** config.json as read; saved back unchanged so HF keys we do not use survive a round trip */
  raw: Record<string, unknown>;
}

/** The config file every error names. */
export function configPath(dir: string): string {
  return path.join(dir, 'config.json');
}

class Fields {
  constructor(private readonly raw: Record<string, unknown>, private readonly file: string) {}

  private bad(key: string, want: string): never {
    throw new CheckpointError(`${this.file}: "${key}" must be ${want}, got ${JSON.stringify(this.raw[key])}`,
      `fix "${key}" in ${this.file}`);
  }

  has(key: string): boolean {
    return this.raw[key] !== undefined && this.raw[key] !== null;
  }

  int(key: string, dflt?: number, min = 1): number {
    if (!this.has(key)) {
      if (dflt !== undefined) return dflt;
      throw new CheckpointError(`${this.file}: required key "${key}" is missing`, `add "${key}" to ${this.file}`);
    }
    const v = this.raw[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) this.bad(key, `an integer >= ${min}`);
    return v;
  }

  num(key: string, dflt: number): number {
    if (!this.has(key)) return dflt;
    const v = this.raw[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) this.bad(key, 'a positive number');
    return v;
  }

  bool(key: string, dflt: boolean): boolean {
    if (!this.has(key)) return dflt;
    const v = this.raw[key];
    if (typeof v !== 'boolean') this.bad(key, 'true or false');
    return v;
  }

  str(key: string): string | null {
    if (!this.has(key)) return null;
    const v = this.raw[key];
    if (typeof v !== 'string') this.bad(key, 'a string');
    return v;
  }
}

function unsupported(file: string, what: string, hint: string): never {
  throw new CheckpointError(`${file}: ${what} is not supported`, hint);
}

/** Validate a parsed config.json; `file` is what errors name. */
export function parseConfig(raw: unknown, file: string): ModelConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new CheckpointError(`${file}: expected a JSON object`, 'a Hugging Face config.json is one JSON object');
  }
  const r = raw as Record<string, unknown>;
  const mt = r.model_type;
  if (typeof mt !== 'string' || !(MODEL_TYPES as readonly string[]).includes(mt)) {
    throw new CheckpointError(
      `${file}: model_type ${mt === undefined ? 'is missing' : JSON.stringify(mt)}${mt === undefined ? '' : ' is not supported'}; ` +
      `supported: ${MODEL_TYPES.join(', ')}`,
      'use a GPT-2, Llama, Mistral or Qwen2 checkpoint (or create one with "ual init")');
  }
  const f = new Fields(r, file);
  return mt === 'gpt2' ? parseGpt2(f, r, file) : parseLlama(f, r, file, mt as ModelType);
}

function parseGpt2(f: Fields, raw: Record<string, unknown>, file: string): ModelConfig {
  const C = f.int('n_embd');
  const H = f.int('n_head');
  if (C % H !== 0) throw new CheckpointError(`${file}: n_embd ${C} is not divisible by n_head ${H}`, `fix n_embd or n_head in ${file}`);
  const act = f.str('activation_function') ?? 'gelu_new';
  if (act !== 'gelu_new' && act !== 'gelu_pytorch_tanh') {
    unsupported(file, `activation_function "${act}"`, 'only the tanh-approximate GELU (gelu_new) of GPT-2 is implemented');
  }
  if (!f.bool('scale_attn_weights', true)) unsupported(file, 'scale_attn_weights=false', 'use a standard GPT-2 config');
  if (f.bool('scale_attn_by_inverse_layer_idx', false)) unsupported(file, 'scale_attn_by_inverse_layer_idx=true', 'use a standard GPT-2 config');
  return {
    modelType: 'gpt2',
    family: 'gpt2',
    vocabSize: f.int('vocab_size'),
    hiddenSize: C,
    numLayers: f.int('n_layer'),
    numHeads: H,
    numKvHeads: H,
    headDim: C / H,
    intermediateSize: f.int('n_inner', 4 * C),
    maxPositions: f.int('n_positions', 1024),
    normEps: f.num('layer_norm_epsilon', 1e-5),
    ropeTheta: 0,
    tieWordEmbeddings: true,
    qkvBias: true,
    oBias: true,
    mlpBias: true,
    slidingWindow: null,
    raw,
  };
}

function parseLlama(f: Fields, raw: Record<string, unknown>, file: string, mt: ModelType): ModelConfig {
  const C = f.int('hidden_size');
  const H = f.int('num_attention_heads');
  const KV = f.int('num_key_value_heads', H);
  if (H % KV !== 0) {
    throw new CheckpointError(`${file}: num_attention_heads ${H} is not a multiple of num_key_value_heads ${KV}`,
      `fix the head counts in ${file}`);
  }
  if (!f.has('head_dim') && C % H !== 0) {
    throw new CheckpointError(`${file}: hidden_size ${C} is not divisible by num_attention_heads ${H}`, `fix hidden_size or num_attention_heads in ${file}`);
  }
  const hd = f.int('head_dim', C / H);
  if (hd % 2 !== 0) throw new CheckpointError(`${file}: head size ${hd} is odd; RoPE rotates pairs`, `fix the head size in ${file}`);
  const act = f.str('hidden_act') ?? 'silu';
  if (act !== 'silu') unsupported(file, `hidden_act "${act}"`, 'only SiLU (SwiGLU) MLPs are implemented');
  const rs = raw.rope_scaling as { rope_type?: string; type?: string } | null | undefined;
  if (rs && (rs.rope_type ?? rs.type) !== 'default') {
    unsupported(file, `rope_scaling ${JSON.stringify(rs)}`, 'use a checkpoint without RoPE scaling (plain rope_theta)');
  }
  const biasDefault = mt === 'qwen2'; // Qwen2 always has q/k/v biases and no attention_bias key
  const attnBias = f.bool('attention_bias', false);
  let slidingWindow: number | null = null;
  if (mt === 'mistral' && f.has('sliding_window')) slidingWindow = f.int('sliding_window');
  if (mt === 'qwen2' && f.bool('use_sliding_window', false) && f.has('sliding_window')) slidingWindow = f.int('sliding_window');
  return {
    modelType: mt,
    family: 'llama',
    vocabSize: f.int('vocab_size'),
    hiddenSize: C,
    numLayers: f.int('num_hidden_layers'),
    numHeads: H,
    numKvHeads: KV,
    headDim: hd,
    intermediateSize: f.int('intermediate_size'),
    maxPositions: f.int('max_position_embeddings', 2048),
    normEps: f.num('rms_norm_eps', 1e-6),
    ropeTheta: f.num('rope_theta', 10000),
    tieWordEmbeddings: f.bool('tie_word_embeddings', false),
    qkvBias: biasDefault || attnBias,
    oBias: mt === 'llama' && attnBias,
    mlpBias: mt === 'llama' && f.bool('mlp_bias', false),
    slidingWindow,
    raw,
  };
}

/** Read and validate DIR/config.json. */
export function readConfig(dir: string): ModelConfig {
  const file = configPath(dir);
  if (!fs.existsSync(file)) {
    throw new CheckpointError(`${dir}: no config.json`, fs.existsSync(dir)
      ? 'a checkpoint directory holds config.json + model.safetensors (Hugging Face layout); create one with "ual init"'
      : `the directory ${dir} does not exist`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CheckpointError(`${file}: not valid JSON (${(e as Error).message})`, `fix or re-download ${file}`);
  }
  return parseConfig(raw, file);
}

/** What `ual init` asks for: sizes of a fresh model. */
export interface InitSpec {
  arch: 'gpt2' | 'llama' | 'qwen2';
  layers: number;
  d: number;
  heads: number;
  kvHeads?: number;
  vocab: number;
  ctx: number;
  /** MLP width; default 4*d for gpt2, 3*d for llama and qwen2 (torch_ref's init) */
  ffn?: number;
}

/** A config.json with the same keys and values ../shared/reference/torch_ref.py init writes. */
export function initConfigJson(s: InitSpec): Record<string, unknown> {
  const need = (ok: boolean, msg: string, hint?: string): void => {
    if (!ok) throw new UsageError(`ual init: ${msg}`, hint);
  };
  for (const [k, v] of Object.entries({ layers: s.layers, d: s.d, heads: s.heads, vocab: s.vocab, ctx: s.ctx })) {
    need(Number.isInteger(v) && v >= 1, `--${k} must be a positive integer, got ${v}`);
  }
  need(s.d % s.heads === 0, `--d ${s.d} is not divisible by --heads ${s.heads}`, 'pick --d as a multiple of --heads');
  if (s.arch === 'gpt2') {
    need(s.kvHeads === undefined || s.kvHeads === s.heads, '--kv-heads applies to --arch llama and qwen2 only (GPT-2 has no grouped-query attention)');
    const cfg: Record<string, unknown> = {
      model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], n_layer: s.layers, n_embd: s.d, n_head: s.heads,
      vocab_size: s.vocab, n_positions: s.ctx, layer_norm_epsilon: 1e-5, activation_function: 'gelu_new',
      tie_word_embeddings: true,
    };
    if (s.ffn !== undefined && s.ffn !== 4 * s.d) cfg.n_inner = s.ffn;
    return cfg;
  }
  const KV = s.kvHeads ?? s.heads;
  need(Number.isInteger(KV) && KV >= 1 && s.heads % KV === 0, `--heads ${s.heads} must be a multiple of --kv-heads ${KV}`);
  need((s.d / s.heads) % 2 === 0, `head size --d/--heads = ${s.d / s.heads} must be even for RoPE`);
  const shape = {
    hidden_size: s.d, intermediate_size: s.ffn ?? 3 * s.d, num_hidden_layers: s.layers, num_attention_heads: s.heads,
    num_key_value_heads: KV, vocab_size: s.vocab, max_position_embeddings: s.ctx, rms_norm_eps: 1e-6, rope_theta: 10000.0,
    hidden_act: 'silu', tie_word_embeddings: false,
  };
  // Qwen2: the Llama block with q/k/v biases (implied by model_type); transformers' Qwen2Config defaults otherwise
  if (s.arch === 'qwen2') return { model_type: 'qwen2', architectures: ['Qwen2ForCausalLM'], ...shape, use_sliding_window: false };
  return { model_type: 'llama', architectures: ['LlamaForCausalLM'], ...shape };
}
