// planStepMemory: a training step's code run over shapes alone (kernels skipped) before step 1 leaves every buffer
// the real step takes in the pool, paged in — the step then makes no array of its own — and changes nothing else:
// losses and trained weights bit-identical to a run without the plan (dropout's draws put back), on every
// architecture, full fine-tuning and LoRA, with gradient checkpointing, both heads and both backends.
import { describe, expect, it } from 'vitest';
import { activeKernels, AdamW, backward, backendName, closeBufferScope, openBufferScope, planStepMemory, pool, useBackend } from '../../src/engine/index.js';
import { nativeInfo } from '../../src/engine/backends/native.js';
import { initConfigJson, initModel } from '../../src/models/index.js';
import { Lora } from '../../src/train/lora.js';
import { LOSSES } from '../../src/train/losses.js';
import { describeWith } from '../helpers/needs.js';

const B = 2, T = 9, V = 41;
const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 11 + 5) % V);
const batch = { B, T, ids, labels: ids, eps: Float32Array.of(0.2, 0.05), targets: B * (T - 1), tokens: B * T };

interface Case { arch: 'gpt2' | 'llama' | 'qwen2'; lora: string[] | null; dropout?: number; ckpt?: boolean; fused?: boolean }

interface Run { losses: number[]; params: Float32Array[]; planned: number; made: number[] }

/**
 * Three optimizer steps, the first preceded by the plan when `plan`. Dropout's generator is not reseeded per step
 * (the trainer reseeds it; here the plan's own draws must be put back for the runs to agree). `made`: the bytes the
 * pool made during each step.
 */
function run(c: Case, plan: boolean): Run {
  const model = initModel(initConfigJson({ arch: c.arch, layers: 2, d: 16, heads: 4, vocab: V, ctx: 16 }), 3);
  model.gradientCheckpointing = c.ckpt ?? false;
  const ad = c.lora ? Lora.attach(model, { r: 2, alpha: 4, dropout: c.dropout ?? 0, targets: c.lora }, 0) : null;
  const params = ad ? ad.parameters() : model.parameters();
  const opt = new AdamW(params, { lr: 1e-2 });
  const fb = () => {
    const loss = LOSSES.ual(model.forwardHidden(ids, B, T), batch, { epsilon: 0.1, epsStyle: 'paper', fused: c.fused ?? true });
    backward(loss);
    return loss.item();
  };
  pool.trim();
  const planned = plan ? planStepMemory(fb).bytes : 0;
  const losses: number[] = [];
  const made: number[] = [];
  for (let k = 0; k < 3; k++) {
    const before = pool.madeBytes;
    opt.zeroGrad();
    const scope = openBufferScope();
    losses.push(fb());
    closeBufferScope(scope);
    opt.step();
    made.push(pool.madeBytes - before);
  }
  return { losses, params: params.map((p) => Float32Array.from(p.data)), planned, made };
}

const CASES: Case[] = [
  { arch: 'gpt2', lora: null },
  { arch: 'gpt2', lora: ['c_attn', 'c_fc'], dropout: 0.2 },
  { arch: 'gpt2', lora: null, ckpt: true, fused: false },
  { arch: 'llama', lora: null },
  { arch: 'llama', lora: ['q_proj', 'v_proj'], dropout: 0.3, ckpt: true },
  { arch: 'qwen2', lora: ['q_proj', 'v_proj'], fused: false },
];
const name = (c: Case) => `${c.arch} ${c.lora ? `LoRA ${c.lora.join(',')}${c.dropout ? ` dropout ${c.dropout}` : ''}` : 'full'}` +
  `${c.ckpt ? ', checkpointing' : ''}${c.fused === false ? ', unfused head' : ''}`;

function check(c: Case): void {
  const without = run(c, false);
  const withPlan = run(c, true);
  expect(withPlan.losses).toEqual(without.losses);
  expect(withPlan.params).toEqual(without.params);
  for (const l of withPlan.losses) expect(Number.isFinite(l)).toBe(true);
  // without a plan the first step makes the pool's arrays; with one, no step makes any
  expect(without.made[0]).toBeGreaterThan(0);
  expect(withPlan.made).toEqual([0, 0, 0]);
  // and the plan made exactly what the unplanned run's first step made
  expect(withPlan.planned).toBe(without.made[0]);
}

function onBackend(b: 'js' | 'native', fn: () => void): void {
  const was = backendName();
  useBackend(b);
  try { fn(); } finally { useBackend(was); }
}

describe('planStepMemory', () => {
  describe('js backend', () => {
    it.each(CASES.map((c) => [name(c), c] as const))('%s: no array made in any step, losses and weights bit-identical', (_n, c) => onBackend('js', () => check(c)));
  });

  const native = { what: 'the native addon (build/Release/ual_native.node)', present: nativeInfo() !== null, fix: 'run npm install (needs g++ and make)' };
  describeWith(native, 'native backend', () => {
    it.each(CASES.map((c) => [name(c), c] as const))('%s: no array made in any step, losses and weights bit-identical', (_n, c) => onBackend('native', () => check(c)));
  });

  it('computes nothing: outputs stay as the pool handed them out and the parameters are untouched', () => {
    const model = initModel(initConfigJson({ arch: 'llama', layers: 1, d: 16, heads: 4, vocab: V, ctx: 16 }), 3);
    const before = model.parameters().map((p) => Float32Array.from(p.data));
    let logits: Float32Array | null = null;
    pool.trim();
    planStepMemory(() => { logits = model.forward(ids, B, T).logits.data as Float32Array; });
    expect(logits!.length).toBe(B * T * V);
    expect(logits!.every((x) => x === 0)).toBe(true); // fresh zeroed memory, never written
    expect(model.parameters().map((p) => Float32Array.from(p.data))).toEqual(before);
    for (const p of model.parameters()) expect(p.grad === null || p.grad.every((x) => x === 0)).toBe(true);
  });

  it('puts the real kernels back when the step throws', () => {
    const real = activeKernels();
    expect(() => planStepMemory(() => { throw new Error('boom'); })).toThrow('boom');
    expect(activeKernels()).toBe(real);
    const c = new Float32Array(1);
    activeKernels().gemm(false, false, 1, 1, 1, 1, Float32Array.of(3), 0, Float32Array.of(4), 0, 0, c, 0, 1, 0, 0, 0);
    expect(c[0]).toBe(12);
    expect(pool.depth).toBe(0);
  });
});
