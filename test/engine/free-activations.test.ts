// Activations no backward reads go back to the pool during forward (freeActivation + the ops' saveForBackward):
// every architecture, full fine-tuning and LoRA (with and without dropout, adapters on attention and MLP), with and
// without gradient checkpointing, both head paths and both backends give bit-identical losses and weights with
// freeing on — and freed buffers poisoned with NaN, so a closure reading one would show — and off; under LoRA the
// step's peak of pooled bytes drops by at least the MLP products it no longer keeps.
import { afterEach, describe, expect, it } from 'vitest';
import { AdamW, backward, backendName, closeBufferScope, openBufferScope, pool, setActivationFreeing, useBackend } from '../../src/engine/index.js';
import { nativeInfo } from '../../src/engine/backends/native.js';
import { initConfigJson, initModel } from '../../src/models/index.js';
import { Lora } from '../../src/train/lora.js';
import { LOSSES } from '../../src/train/losses.js';
import { describeWith } from '../helpers/needs.js';

const B = 2, T = 9, V = 41, F = 48;
const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 11 + 5) % V);
const batch = { B, T, ids, labels: ids, eps: Float32Array.of(0.2, 0.05), targets: B * (T - 1), tokens: B * T };

type Arch = 'gpt2' | 'llama' | 'qwen2';
interface Case { arch: Arch; lora: string[] | null; dropout?: number; ckpt?: boolean; fused?: boolean }

/** three optimizer steps; returns the losses, the trained parameters and the largest pooled bytes of a step */
function run(c: Case, freeing: boolean): { losses: number[]; params: Float32Array[]; peak: number } {
  setActivationFreeing(freeing, freeing);
  const model = initModel({
    ...initConfigJson({ arch: c.arch === 'qwen2' ? 'qwen2' : c.arch, layers: 2, d: 16, heads: 4, vocab: V, ctx: 16 }),
    ...(c.arch === 'gpt2' ? { n_inner: F } : { intermediate_size: F }),
  }, 3);
  model.gradientCheckpointing = c.ckpt ?? false;
  const ad = c.lora ? Lora.attach(model, { r: 2, alpha: 4, dropout: c.dropout ?? 0, targets: c.lora }, 0) : null;
  const params = ad ? ad.parameters() : model.parameters();
  const opt = new AdamW(params, { lr: 1e-2 });
  const losses: number[] = [];
  let peak = 0;
  pool.trim();
  for (let k = 0; k < 3; k++) {
    ad?.setStep(0, k);
    opt.zeroGrad();
    const scope = openBufferScope();
    pool.resetPeak();
    const loss = LOSSES.ual(model.forwardHidden(ids, B, T), batch, { epsilon: 0.1, epsStyle: 'paper', fused: c.fused ?? true });
    losses.push(loss.item());
    backward(loss);
    peak = Math.max(peak, pool.peakLiveBytes);
    closeBufferScope(scope);
    opt.step();
  }
  return { losses, params: params.map((p) => Float32Array.from(p.data)), peak };
}

const CASES: Case[] = [
  { arch: 'gpt2', lora: null },
  { arch: 'gpt2', lora: ['c_attn'] },
  { arch: 'gpt2', lora: ['c_attn', 'c_proj', 'c_fc'], dropout: 0.2 },
  { arch: 'gpt2', lora: ['c_fc'], ckpt: true },
  { arch: 'llama', lora: null, fused: false },
  { arch: 'llama', lora: ['q_proj', 'v_proj'] },
  { arch: 'llama', lora: ['q_proj', 'v_proj'], ckpt: true },
  { arch: 'llama', lora: ['k_proj', 'o_proj', 'down_proj'], dropout: 0.3 },
  { arch: 'qwen2', lora: null },
  { arch: 'qwen2', lora: ['q_proj', 'v_proj', 'gate_proj', 'up_proj'], fused: false },
];
const name = (c: Case) => `${c.arch} ${c.lora ? `LoRA ${c.lora.join(',')}${c.dropout ? ` dropout ${c.dropout}` : ''}` : 'full'}` +
  `${c.ckpt ? ', checkpointing' : ''}${c.fused === false ? ', unfused head' : ''}`;

afterEach(() => setActivationFreeing(true));

function same(c: Case): void {
  const kept = run(c, false);
  const freed = run(c, true);
  expect(freed.losses).toEqual(kept.losses);
  expect(freed.params).toEqual(kept.params);
  for (const l of freed.losses) expect(Number.isFinite(l)).toBe(true);
}

describe('freeing activations no backward reads', () => {
  describe('js backend', () => {
    it.each(CASES.map((c) => [name(c), c] as const))('%s: bit-identical with freed buffers poisoned', (_n, c) => {
      const was = backendName();
      useBackend('js');
      try { same(c); } finally { useBackend(was); }
    });
  });

  const native = { what: 'the native addon (build/Release/ual_native.node)', present: nativeInfo() !== null, fix: 'run npm install (needs g++ and make)' };
  describeWith(native, 'native backend', () => {
    it.each(CASES.map((c) => [name(c), c] as const))('%s: bit-identical with freed buffers poisoned', (_n, c) => {
      const was = backendName();
      useBackend('native');
      try { same(c); } finally { useBackend(was); }
    });
  });

  it('LoRA on q,v (llama): the peak drops by at least the MLP products and their inputs no backward reads', () => {
    const c: Case = { arch: 'llama', lora: ['q_proj', 'v_proj'] };
    const kept = run(c, false).peak;
    const freed = run(c, true).peak;
    // per layer at least silu(gate)·up (B·T·F floats) and the MLP's normed input (B·T·d) are no longer kept
    expect(kept - freed).toBeGreaterThanOrEqual(2 * B * T * (F + 16) * 4);
  });
});
