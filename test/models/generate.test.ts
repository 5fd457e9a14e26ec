// Generation: the KV cache gives the same logits and ids as recomputing the whole sequence; sampling is seeded and
// follows HF's temperature -> top-k -> top-p order; stop ids and the context limit end generation.
import { describe, expect, test } from 'vitest';
import { noGrad } from '../../src/engine/index.js';
import { Rng, generateBatch, initConfigJson, initModel, loadModel, sampleNext } from '../../src/models/index.js';
import { fixture, maxAbsDiff, promptIds, readJson } from './helpers.js';

const MODELS = ['gpt2', 'llama', 'qwen2'] as const;

describe('KV cache', () => {
  test.each(MODELS)('%s: cached greedy generation equals full recompute', (m) => {
    const model = loadModel(fixture(m));
    const ids = promptIds();
    const cached = model.generate(ids, { maxNewTokens: 40 });
    const full = model.generate(ids, { maxNewTokens: 40, useCache: false });
    expect(cached.ids).toEqual(full.ids);
    expect(cached.ids.length).toBe(ids.length + 40);
  });

  test.each(MODELS)('%s: cached sampling equals full recompute for the same seed', (m) => {
    const model = loadModel(fixture(m));
    const opts = { maxNewTokens: 30, temperature: 1.3, topK: 40, topP: 0.95, seed: 7 };
    const a = model.generate(promptIds(), opts);
    expect(model.generate(promptIds(), { ...opts, useCache: false }).ids).toEqual(a.ids);
    expect(model.generate(promptIds(), opts).ids).toEqual(a.ids);
    expect(model.generate(promptIds(), { ...opts, seed: 8 }).ids).not.toEqual(a.ids);
  });

  test.each(MODELS)('%s: chunked cached forward (B=2) equals one full forward at every position', (m) => {
    const model = loadModel(fixture(m));
    const V = model.config.vocabSize;
    const B = 2, T = 9;
    const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 37 + 11) % V);
    const full = noGrad(() => model.forward(ids, B, T).logits); // (B, T, V)
    const cache = model.newCache(B, T);
    let t0 = 0;
    for (const n of [4, 3, 1, 1]) {
      const chunk = new Int32Array(B * n);
      for (let b = 0; b < B; b++) chunk.set(ids.subarray(b * T + t0, b * T + t0 + n), b * n);
      const part = noGrad(() => model.forward(chunk, B, n, { cache }).logits); // (B, n, V)
      for (let b = 0; b < B; b++) {
        const want = full.data.subarray((b * T + t0) * V, (b * T + t0 + n) * V);
        const { diff } = maxAbsDiff(part.data.subarray(b * n * V, (b + 1) * n * V), want);
        expect(diff, `${m} row ${b} positions ${t0}..${t0 + n - 1}`).toBeLessThan(1e-5);
      }
      t0 += n;
    }
    expect(cache.length).toBe(T);
  });

  test('a fresh Llama with GQA and a longer context: cached == uncached', () => {
    const model = initModel(initConfigJson({ arch: 'llama', layers: 2, d: 48, heads: 6, kvHeads: 2, vocab: 97, ctx: 128 }), 3);
    const prompt = Array.from({ length: 20 }, (_, i) => (i * 13) % 97);
    const a = model.generate(prompt, { maxNewTokens: 60, temperature: 2, seed: 1 });
    const b = model.generate(prompt, { maxNewTokens: 60, temperature: 2, seed: 1, useCache: false });
    expect(a.ids).toEqual(b.ids);
  });

  test('forward with a cache outside noGrad is refused (the cache is not differentiable)', () => {
    const model = loadModel(fixture('llama'));
    expect(() => model.forward(Int32Array.of(1, 2), 1, 2, { cache: model.newCache(1, 4) })).toThrow(/noGrad/);
  });
});

describe('forward options', () => {
  test.each(MODELS)('%s: lastOnly gives the last row of the full logits; hidden states follow HF', (m) => {
    const model = loadModel(fixture(m));
    const ids = Int32Array.from(promptIds());
    const T = ids.length, V = model.config.vocabSize, C = model.config.hiddenSize;
    const full = noGrad(() => model.forward(ids, 1, T, { hidden: true }));
    const last = noGrad(() => model.forward(ids, 1, T, { lastOnly: true }).logits);
    expect(last.shape).toEqual([1, 1, V]);
    // one row goes through sgemv, many through sgemm: the same sums in another order, so float32 rounding only
    expect(maxAbsDiff(last.data, full.logits.data.subarray((T - 1) * V)).diff).toBeLessThan(1e-6);
    expect(full.hidden!.length).toBe(model.config.numLayers + 1);
    for (const h of full.hidden!) expect(h.shape).toEqual([1, T, C]);
    const emb = model.parameters()[0]; // wte / embed_tokens
    const h0 = full.hidden![0].data;
    const pos = m === 'gpt2' ? model.parameters()[1].data : null; // wpe
    for (let c = 0; c < C; c++) expect(h0[c]).toBeCloseTo(emb.data[ids[0] * C + c] + (pos ? pos[c] : 0), 6);
  });
});

describe('decoding rules', () => {
  test('stop ids end generation and are kept', () => {
    const model = loadModel(fixture('llama'));
    const greedy = readJson<number[]>(fixture('llama', 'greedy.json'));
    const ids = promptIds();
    const res = model.generate(ids, { maxNewTokens: 20, stopIds: [69] });
    expect(res.newIds).toEqual(greedy.slice(ids.length, greedy.indexOf(69, ids.length) + 1)); // 82, 78, 69
    expect(res.newIds.at(-1)).toBe(69);
    expect(res.stopReason).toBe('stop');
  });

  test('GPT-2 stops at n_positions; maxNewTokens 0 returns the prompt', () => {
    const model = loadModel(fixture('gpt2'));
    const res = model.generate(promptIds(), { maxNewTokens: 100 });
    expect(res.ids.length).toBe(64);
    expect(res.stopReason).toBe('context');
    const none = model.generate(promptIds(), { maxNewTokens: 0 });
    expect(none).toEqual({ ids: promptIds(), newIds: [], stopReason: 'length' });
    expect(() => model.generate([])).toThrow(/prompt is empty/);
  });

  test('a prompt that fills every position gets no new token ("context"), alone and beside a short one', () => {
    const model = loadModel(fixture('gpt2')); // n_positions 64
    const full = Array.from({ length: 64 }, (_, i) => (i * 7) % 100);
    expect(model.generate(full, { maxNewTokens: 3 })).toEqual({ ids: full, newIds: [], stopReason: 'context' });
    const r = generateBatch(model, [full, [1, 2]], { maxNewTokens: 3 });
    expect(r.newIds[0]).toEqual([]);
    expect(r.newIds[1]).toEqual(model.generate([1, 2], { maxNewTokens: 3 }).newIds);
    expect(r.stopReasons).toEqual(['context', 'length']);
  });

  test('Mistral\'s sliding window ends generation with "context", cached or not', () => {
    const raw = { ...initConfigJson({ arch: 'llama', layers: 1, d: 16, heads: 2, vocab: 50, ctx: 8 }), model_type: 'mistral', sliding_window: 12 };
    const model = initModel(raw, 1);
    for (const useCache of [true, false]) {
      const res = model.generate([1, 2, 3], { maxNewTokens: 20, temperature: 1, seed: 3, useCache });
      expect(res.newIds).toHaveLength(9);
      expect(res.stopReason).toBe('context');
    }
  });

  test.each(MODELS)('%s: a batch without the cache (whole sequences each step) gives the cached batch\'s ids', (m) => {
    const model = loadModel(fixture(m));
    const prompts = [[3, 17, 42], [5], [99, 5, 64, 1, 2, 3, 4, 8, 9]];
    const o = { maxNewTokens: 8, temperature: 0.9, topP: 0.95 };
    const seeds = [1, 2, 3];
    const cached = generateBatch(model, prompts, { ...o, rowSeeds: seeds });
    expect(generateBatch(model, prompts, { ...o, rowSeeds: seeds, useCache: false })).toEqual(cached);
    prompts.forEach((p, i) => expect(cached.newIds[i]).toEqual(model.generate(p, { ...o, seed: seeds[i] }).newIds));
  });

  test('greedy takes the first maximum; top-k 1 and tiny top-p are greedy', () => {
    const rng = new Rng(0);
    const logits = [0.5, 2, 2, -1, 1.9];
    expect(sampleNext(logits, {}, rng)).toBe(1);
    for (let i = 0; i < 50; i++) {
      expect(sampleNext([0.5, 2.1, 2, -1], { temperature: 5, topK: 1 }, rng)).toBe(1);
      expect(sampleNext([0.5, 2.1, 2, -1], { temperature: 1, topP: 1e-6 }, rng)).toBe(1);
    }
  });

  test('sampling frequencies follow softmax(logits / T), restricted by top-k and top-p', () => {
    const rng = new Rng(123);
    const count = (logits: number[], opts: object, n = 20000): number[] => {
      const c = new Array<number>(logits.length).fill(0);
      for (let i = 0; i < n; i++) c[sampleNext(logits, opts, rng)]++;
      return c.map((x) => x / n);
    };
    // p = [0.25, 0.75]
    const f1 = count([0, Math.log(3)], { temperature: 1 });
    expect(f1[1]).toBeCloseTo(0.75, 1);
    // T = 0.5 squares the odds: 9:1
    expect(count([0, Math.log(3)], { temperature: 0.5 })[1]).toBeCloseTo(0.9, 1);
    // probs [0.6, 0.3, 0.1]: top-p 0.7 keeps the first two (2:1), top-p 0.5 only the first
    const lp = [Math.log(0.6), Math.log(0.3), Math.log(0.1)];
    const f2 = count(lp, { temperature: 1, topP: 0.7 });
    expect(f2[2]).toBe(0);
    expect(f2[0]).toBeCloseTo(2 / 3, 1);
    expect(count(lp, { temperature: 1, topP: 0.5 })).toEqual([1, 0, 0]);
    // top-k 2 keeps the two best, ties with the 2nd included
    const f3 = count([1, 3, 2, 2], { temperature: 1, topK: 2 });
    // kept: logits 3, 2, 2 -> e/(e + 2) for the best, 1/(e + 2) for each tied second
    expect(f3[0]).toBe(0);
    expect(f3[1]).toBeCloseTo(Math.E / (Math.E + 2), 1);
    expect(f3[2]).toBeCloseTo(1 / (Math.E + 2), 1);
    expect(f3[3]).toBeCloseTo(1 / (Math.E + 2), 1);
  });

  test('the PRNG is deterministic per seed; fillNormal has the normal\'s mean, std and tails', () => {
    const a = new Rng(42), b = new Rng(42), c = new Rng(43);
    const xa = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(xa);
    expect(Array.from({ length: 5 }, () => c.next())).not.toEqual(xa);
    const z = new Float64Array(50001); // odd: the last pair is cut in half
    new Rng(0).fillNormal(z, 2);
    let s = 0, s2 = 0, tail = 0;
    for (const x of z) {
      s += x;
      s2 += x * x;
      if (Math.abs(x) > 4) tail++; // 2 sigma
    }
    expect(Math.abs(s / z.length)).toBeLessThan(0.04);
    expect(Math.abs(Math.sqrt(s2 / z.length) - 2)).toBeLessThan(0.03);
    expect(tail / z.length).toBeCloseTo(0.0455, 2);
    const again = new Float64Array(50001);
    new Rng(0).fillNormal(again, 2);
    expect(again).toEqual(z);
  });
});
