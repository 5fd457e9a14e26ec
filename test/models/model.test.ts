// The models as the trainer sees them: fresh init (seeded, N(0, 0.02) / ones / zeros), a loss that reaches every
// parameter, and the whole model's gradient checked by float64 central differences on tiny shapes.
import { describe, expect, test } from 'vitest';
import { backward, clearTape, noGrad, smoothedCrossEntropy, type Tensor } from '../../src/engine/index.js';
import { initConfigJson, initModel, type CausalLM } from '../../src/models/index.js';

const TINY: Record<string, Record<string, unknown>> = {
  gpt2: initConfigJson({ arch: 'gpt2', layers: 2, d: 8, heads: 2, vocab: 11, ctx: 8 }),
  llama: initConfigJson({ arch: 'llama', layers: 2, d: 8, heads: 2, kvHeads: 1, vocab: 11, ctx: 8, ffn: 12 }),
  qwen2: {
    model_type: 'qwen2', hidden_size: 8, intermediate_size: 12, num_hidden_layers: 2, num_attention_heads: 4,
    num_key_value_heads: 2, vocab_size: 11, max_position_embeddings: 8, tie_word_embeddings: true,
  },
};

const B = 2, T = 5;
const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 7 + 3) % 11);
const labels = Int32Array.from(ids, (x, i) => (i % T === 2 ? -100 : x));
const eps = [0.1, 0.3];

function loss(model: CausalLM): Tensor {
  return smoothedCrossEntropy(model.forward(ids, B, T).logits, labels, eps, 'paper');
}

describe('fresh init', () => {
  test.each(Object.keys(TINY))('%s: seeded, norm scales 1, biases 0, matrices N(0, 0.02)', (arch) => {
    const a = initModel(TINY[arch], 5), b = initModel(TINY[arch], 5), c = initModel(TINY[arch], 6);
    const pa = a.parameters(), pb = b.parameters(), pc = c.parameters();
    expect(pa.map((p) => p.name)).toEqual(pb.map((p) => p.name));
    for (let i = 0; i < pa.length; i++) expect(Array.from(pa[i].data)).toEqual(Array.from(pb[i].data));
    expect(Array.from(pa[0].data)).not.toEqual(Array.from(pc[0].data));
    for (const p of pa) {
      const v = Array.from(p.data);
      if (/(ln_\d|ln_f|layernorm|norm)\.weight$/.test(p.name)) expect(v.every((x) => x === 1), p.name).toBe(true);
      else if (p.name.endsWith('.bias')) expect(v.every((x) => x === 0), p.name).toBe(true);
      else expect(v.some((x) => x !== 0), p.name).toBe(true);
    }
  });

  test('the init std is 0.02', () => {
    const model = initModel(initConfigJson({ arch: 'llama', layers: 1, d: 64, heads: 4, vocab: 500, ctx: 16 }), 0);
    const emb = model.parameters()[0].data;
    let s2 = 0;
    for (const x of emb) s2 += x * x;
    expect(Math.sqrt(s2 / emb.length)).toBeCloseTo(0.02, 3);
  });

  test('fresh names carry the HF prefixes (GPT2LMHeadModel / LlamaForCausalLM layout)', () => {
    expect(initModel(TINY.gpt2).parameters()[0].name).toBe('transformer.wte.weight');
    const llama = initModel(TINY.llama).parameters().map((p) => p.name);
    expect(llama[0]).toBe('model.embed_tokens.weight');
    expect(llama.at(-1)).toBe('lm_head.weight');
  });
});

describe('training wiring', () => {
  test.each(Object.keys(TINY))('%s: backward reaches every parameter', (arch) => {
    const model = initModel(TINY[arch], 1);
    backward(loss(model));
    for (const p of model.parameters()) {
      expect(p.grad, p.name).not.toBeNull();
      expect(Array.from(p.grad!).some((g) => g !== 0), `${p.name} has an all-zero gradient`).toBe(true);
    }
  });

  test.each(Object.keys(TINY))('%s: whole-model gradient matches float64 central differences', (arch) => {
    const model = initModel(TINY[arch], 2);
    // larger weights than the init so every nonlinearity is exercised; float64 for exact differences
    let k = 0;
    for (const p of model.parameters()) {
      p.data = Float64Array.from(p.data, (x) => x * 10 + (p.name.endsWith('.bias') ? 0.05 * Math.sin(k++) : 0));
      p.grad = null;
    }
    backward(loss(model));
    const h = 1e-6;
    let worst = 0, where = '';
    for (const p of model.parameters()) {
      for (const i of [0, Math.floor(p.size / 2), p.size - 1]) {
        const x0 = p.data[i];
        p.data[i] = x0 + h;
        const up = noGrad(() => loss(model).item());
        p.data[i] = x0 - h;
        const down = noGrad(() => loss(model).item());
        p.data[i] = x0;
        const fd = (up - down) / (2 * h);
        const err = Math.abs(fd - p.grad![i]) / Math.max(1e-3, Math.abs(fd));
        if (err > worst) {
          worst = err;
          where = `${p.name}[${i}]: analytic ${p.grad![i]}, numeric ${fd}`;
        }
      }
    }
    clearTape();
    expect(worst, `largest relative gradient error at ${where}`).toBeLessThan(1e-5);
  });
});
