// Memory and work of a training step: frozen weights get no gradient buffer and no weight-gradient GEMM under LoRA;
// the step's buffers come from a pool that neither changes results nor grows.
import { describe, expect, it } from 'vitest';
import { AdamW, activeKernels, backward, closeBufferScope, openBufferScope, pool, setKernels, smoothedCrossEntropy, type Kernels } from '../../src/engine/index.js';
import { initConfigJson, initModel, type AdaptableLM } from '../../src/models/index.js';
import { Lora } from '../../src/train/lora.js';

const B = 2, T = 5, V = 37;
const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 7 + 3) % V);
const eps = [0.1, 0];

function tinyLora(arch: 'gpt2' | 'llama', targets: string[]): { model: AdaptableLM; lora: Lora } {
  const model = initModel(initConfigJson({ arch, layers: 2, d: 16, heads: 4, vocab: V, ctx: 16 }), 1);
  const lora = Lora.attach(model, { r: 2, alpha: 4, dropout: 0.1, targets }, 0);
  return { model, lora };
}

/** fn(count) with the active kernels' GEMMs counted (the real kernels do the work); ops keep the kernels they ran
 *  forward with for their backward, so the counting kernels stay active for the whole of fn */
function withGemmCount(fn: (count: () => number) => void): void {
  const k = activeKernels();
  let n = 0;
  const counting = new Proxy(k, {
    get: (t, p) => (p === 'gemm' ? (...a: Parameters<Kernels['gemm']>) => { n++; return t.gemm(...a); } : Reflect.get(t, p)),
  });
  setKernels(counting);
  try { fn(() => n); } finally { setKernels(k); }
}

describe('LoRA step: frozen weights cost no gradient work', () => {
  it('llama, q_proj and v_proj adapted: exact GEMM counts, no base gradient buffers', () => {
    const { model, lora } = tinyLora('llama', ['q_proj', 'v_proj']);
    const opt = new AdamW(lora.parameters(), { lr: 1e-3 });
    withGemmCount((count) => {
      const loss = smoothedCrossEntropy(model.forward(ids, B, T).logits, ids, eps, 'paper');
      // forward: per layer 7 base projections + 2 adapters x 2; plus the head
      expect(count()).toBe(2 * (7 + 4) + 1);
      backward(loss);
      // backward, never a dW of a frozen weight; dX only where the input needs a gradient:
      //   head: dX 1;  layer 0 (input = frozen embedding): q,k,v base nothing, each adapter dA + dB + dX(B) = 3,
      //   o/gate/up/down dX 4 -> 10;  layer 1: q,k,v base dX 3, each adapter dA + dX(A) + dB + dX(B) = 4, o/gate/up/down 4 -> 15
      expect(count() - 23).toBe(1 + 10 + 15);
    });
    opt.step();
    for (const p of model.parameters()) expect(p.grad, p.name).toBeNull();
    for (const p of lora.parameters()) expect(p.grad, p.name).not.toBeNull();
  });

  it('gpt2, every linear adapted: no base gradient buffers, no dW GEMM of a frozen weight', () => {
    const { model, lora } = tinyLora('gpt2', ['c_attn', 'c_proj', 'c_fc']);
    withGemmCount((count) => {
      const loss = smoothedCrossEntropy(model.forward(ids, B, T).logits, ids, eps, 'paper');
      const fwd = count();
      expect(fwd).toBe(2 * 4 * 3 + 1); // 4 linears per layer, each with its adapter's two; the head
      backward(loss);
      // head dX 1; layer 0 (input = frozen embeddings): c_attn base nothing, its adapter 3, then 3 linears x (dX +
      // adapter 4) -> 18; layer 1: 4 linears x (dX + adapter 4) = 20. Bias gradients would be GEMMs too: none, all frozen
      expect(count() - fwd).toBe(1 + 18 + 20);
    });
    for (const p of model.parameters()) expect(p.grad, p.name).toBeNull();
  });
});

/** `steps` optimizer steps on a fresh tiny model (LoRA with dropout, or full fine-tuning); calls after(step) after each */
function run(arch: 'gpt2' | 'llama', lora: boolean, scoped: boolean, steps: number, after: (k: number) => void = () => {}, rows = B): Float32Array[] {
  const model = initModel(initConfigJson({ arch, layers: 2, d: 16, heads: 4, vocab: V, ctx: 16 }), 1);
  const ad = lora ? Lora.attach(model, { r: 2, alpha: 4, dropout: 0.2, targets: arch === 'gpt2' ? ['c_attn', 'c_fc'] : ['q_proj', 'v_proj', 'down_proj'] }, 0) : null;
  const params = ad ? ad.parameters() : model.parameters();
  const opt = new AdamW(params, { lr: 1e-2 });
  for (let k = 0; k < steps; k++) {
    ad?.setStep(0, k);
    opt.zeroGrad();
    const scope = scoped ? openBufferScope() : -1;
    const x = ids.subarray(0, rows * T);
    backward(smoothedCrossEntropy(model.forward(x, rows, T).logits, x, eps.slice(0, rows), 'paper'));
    if (scoped) closeBufferScope(scope);
    opt.step();
    after(k);
  }
  return params.map((p) => Float32Array.from(p.data));
}

describe('the per-step buffer pool', () => {
  it.each([['gpt2', false], ['gpt2', true], ['llama', false], ['llama', true]] as const)(
    '%s (LoRA %s): steps from the pool are bit-identical to steps on fresh buffers', (arch, lora) => {
      const fresh = run(arch, lora, false, 4);
      const pooled = run(arch, lora, true, 4);
      expect(pooled).toEqual(fresh);
    });

  it('does not grow: after step 1 the pool holds the same bytes, and nothing stays taken between steps', () => {
    const held: number[] = [];
    const live: number[] = [];
    // one row: a shape the tests above did not use, so step 1 fills the pool afresh
    run('llama', true, true, 6, () => { held.push(pool.heldBytes); live.push(pool.liveBytes); }, 1);
    expect(held[0]).toBeGreaterThan(0);
    expect(held).toEqual(new Array(6).fill(held[0]));
    expect(live).toEqual(new Array(6).fill(0));
  });

  it('a new shape replaces the old one: buffers of shapes the last step did not use are dropped', () => {
    const model = initModel(initConfigJson({ arch: 'llama', layers: 1, d: 16, heads: 4, vocab: V, ctx: 16 }), 1);
    const step = (rows: number): number => {
      const s = openBufferScope();
      const x = ids.subarray(0, rows * T);
      backward(smoothedCrossEntropy(model.forward(x, rows, T).logits, x, eps.slice(0, rows), 'paper'));
      closeBufferScope(s);
      return pool.heldBytes;
    };
    const big = step(2), small = step(1);
    expect(small).toBeLessThan(big);
    expect(step(1)).toBe(small);
    expect(step(2)).toBe(big);
  });
});
