// The clustering analysis: next-token selection and seeded sampling, states taken after the final norm (the
// input of lm_head), the GEMM/Gram route equal to plain PCA + silhouette, and a small end-to-end run.
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { analyzePairs, collectStates, pairPca, selectPositions } from '../../src/eval/clusters.js';
import { pca2, silhouette } from '../../src/eval/linalg.js';
import { Tensor, linear, noGrad } from '../../src/engine/index.js';
import { loadModel } from '../../src/models/index.js';
import { clusterScatterSvg, type ScatterPanel } from '../../src/pipeline/report/charts.js';
import { Rng } from '../../src/util/rng.js';
import { mean, sd } from '../../src/util/stats.js';
import { FIXTURES } from './helpers.js';

describe('selectPositions', () => {
  test('ranks next tokens by frequency (ties: smaller id), keeps those seen twice, samples reproducibly', () => {
    const seqs = [[9, 1, 2, 1, 2, 1], [9, 3, 3, 2, 7]];
    // next tokens: 1 x3, 2 x3, 3 x2, 7 x1 (position 0 is nobody's next token)
    const s = selectPositions(seqs, 5, 10);
    expect(s.tokens).toEqual([1, 2, 3]);
    expect(s.counts).toEqual([3, 3, 2]);
    expect(s.positions[0]).toEqual([[0, 0], [0, 2], [0, 4]]); // the state at t predicts the token at t + 1
    const a = selectPositions(seqs, 2, 2, 7), b = selectPositions(seqs, 2, 2, 7);
    expect(a.positions).toEqual(b.positions);
    expect(a.positions.map((p) => p.length)).toEqual([2, 2]);
  });

  test('fewer than two repeated next tokens is an error that says what to do', () => {
    expect(() => selectPositions([[1, 2, 3]], 42, 10)).toThrow(/needs two or more/);
  });
});

test('states are the final-norm hidden states: lm_head applied to them gives the logits', () => {
  const model = loadModel(path.join(FIXTURES, 'llama'));
  const seqs = [[3, 17, 42, 99, 5, 64, 17, 42], [5, 17, 42, 17, 8]];
  const sel = selectPositions(seqs, 2, 10);
  const states = collectStates(model, seqs, sel, { batchSize: 2 });
  const C = model.config.hiddenSize;
  const [s, t] = sel.positions[0][0];
  const ids = Int32Array.from(seqs[s]);
  const logits = noGrad(() => model.forward(ids, 1, ids.length).logits).data;
  const head = model.namedParameters().get('lm_head.weight')!;
  const x = states[0].subarray(0, C);
  const mine = noGrad(() => linear(new Tensor(Float32Array.from(x), [1, C]), head, null, 'out_in')).data;
  for (let v = 0; v < 128; v++) expect(Math.abs(mine[v] - logits[t * 128 + v])).toBeLessThan(1e-4);
});

describe('analyzePairs', () => {
  function blocks(K: number, m: number, C: number, seed: number): Float64Array[] {
    const rng = new Rng(seed);
    return Array.from({ length: K }, (_, k) => {
      const x = new Float64Array(m * C);
      rng.fillNormal(x, 1);
      return x.map((v, i) => v + (i % C === k ? 2 : 0) + 5);
    });
  }

  test('the GEMM Gram route (C > n) equals plain PCA + silhouette per pair', () => {
    const K = 4, m = 10, C = 40; // n = 20 < C: Gram blocks from the engine's GEMM
    const st = blocks(K, m, C, 1);
    const r = analyzePairs(st, C);
    expect(r.pairs).toHaveLength(6);
    for (const p of r.pairs) {
      const X = new Float64Array(2 * m * C);
      X.set(st[p.a]);
      X.set(st[p.b], m * C);
      const labels = Int32Array.from({ length: 2 * m }, (_, i) => (i < m ? 0 : 1));
      const want = silhouette(pca2(X, 2 * m, C).scores, 2 * m, 2, labels);
      expect(Math.abs(p.silhouette - want)).toBeLessThan(1e-5);
    }
    const sil = r.pairs.map((p) => p.silhouette);
    expect(r.mean).toBeCloseTo(sil.reduce((a, b) => a + b) / 6, 12);
  });

  test('the covariance route (C <= n) matches too', () => {
    const st = blocks(3, 30, 8, 2);
    const r = analyzePairs(st, 8);
    const labels = Int32Array.from({ length: 60 }, (_, i) => (i < 30 ? 0 : 1));
    const { scores } = pairPca(st, 0, 2, 8);
    expect(r.pairs[1]).toMatchObject({ a: 0, b: 2 });
    expect(r.pairs[1].silhouette).toBeCloseTo(silhouette(scores, 60, 2, labels), 12);
  });
});

test('end to end on two checkpoints: mean ± sd per model and a side-by-side scatter', async () => {
  const rng = new Rng(3);
  const seqs = Array.from({ length: 12 }, () => Array.from({ length: 40 }, () => Math.floor(rng.next() * 6) * 9));
  const sel = selectPositions(seqs, 5, 30);
  expect(sel.tokens).toHaveLength(5);
  const panels: ScatterPanel[] = [];
  const got: Record<string, number[]> = {};
  for (const m of ['gpt2', 'qwen2']) {
    const model = loadModel(path.join(FIXTURES, m));
    const st = collectStates(model, seqs, sel, { batchSize: 4 });
    const r = analyzePairs(st, model.config.hiddenSize);
    const sil = r.pairs.map((p) => p.silhouette);
    expect(r.pairs.map((p) => [p.a, p.b])).toEqual([[0, 1], [0, 2], [0, 3], [0, 4], [1, 2], [1, 3], [1, 4], [2, 3], [2, 4], [3, 4]]);
    expect(r.mean).toBe(mean(sil));
    expect(r.sd).toBe(sd(sil));
    got[m] = [r.mean, r.sd, sil[0]];
    const { scores, labels } = pairPca(st, 0, 1, model.config.hiddenSize);
    const points = Array.from(labels, (label, j) => ({ x: scores[2 * j], y: scores[2 * j + 1], label: label as 0 | 1 }));
    panels.push({ title: `${m}: silhouette ${sil[0].toFixed(3)}`, tokens: ['"a"', '"b"'], points });
  }
  // [mean, sd, silhouette of pair (0, 1)] pinned from a run: identical with UAL_THREADS=1 and 2; the js backend's
  // float32 sums differ by < 1e-8, hence 7 decimals
  expect(got.gpt2).toEqual([0.004615625758604654, 0.018522707347016942, -0.007192912075128712].map((x) => expect.closeTo(x, 7)));
  expect(got.qwen2).toEqual([-0.0061566322214765545, 0.012592731104821042, -0.024044660347600413].map((x) => expect.closeTo(x, 7)));

  const svg = await clusterScatterSvg(panels, 'pair <a> & <b>');
  const n = sel.positions[0].length + sel.positions[1].length;
  // one point mark per state per panel, coloured by its token; the heading, each panel's title and axes; one legend
  expect(svg.match(/aria-roledescription="point"/g)).toHaveLength(2 * n);
  expect(svg.match(/aria-label="PC 1: [^;]+; PC 2: [^;]+; next token: &quot;a&quot;"/g)).toHaveLength(2 * sel.positions[0].length);
  expect(svg).toContain('>pair &lt;a&gt; &amp; &lt;b&gt;</text>');
  for (const p of panels) expect(svg).toContain(`>${p.title}</text>`);
  expect(svg.match(/aria-label="X-axis titled 'PC 1'/g)).toHaveLength(2);
  expect(svg.match(/aria-label="Y-axis titled 'PC 2'/g)).toHaveLength(2);
  expect(svg.match(/aria-roledescription="legend"/g)).toHaveLength(1);
  expect(svg).toContain('aria-label="Symbol legend titled \'next token\' for fill color with 2 values: &quot;a&quot;, &quot;b&quot;"');
});
