// The paper's feature-space analysis: final hidden states (after the final norm, the input of lm_head) labelled by
// the next token; for every pair of the K most frequent next tokens, a 2-D PCA of the two tokens' states and its
// silhouette score; mean ± sd over the K(K-1)/2 pairs per model (the report's scatter draws one pair's PCA).
import { Tensor, matmul, noGrad } from '../engine/index.js';
import { UalError } from '../errors.js';
import type { CausalLM } from '../models/index.js';
import { Rng } from '../util/rng.js';
import { mean, sd } from '../util/stats.js';
import { forwardSequences, type BatchOptions } from './batch.js';
import { pca2, pca2FromGram, silhouette } from './linalg.js';

export interface Selection {
  /** the K most frequent next tokens, most frequent first */
  tokens: number[];
  /** how often each occurs as a next token in the data */
  counts: number[];
  /** per token, the sampled positions (sequence index, position whose state predicts the token) */
  positions: Array<Array<[number, number]>>;
}

/**
 * Count next tokens over every position, keep the K most frequent (ties: smaller id) that occur at least twice,
 * and sample up to perToken positions of each uniformly (seeded), so all models are compared on the same states.
 */
export function selectPositions(seqs: readonly (readonly number[])[], k: number, perToken: number, seed = 0): Selection {
  const counts = new Map<number, number>();
  for (const s of seqs) for (let t = 1; t < s.length; t++) counts.set(s[t], (counts.get(s[t]) ?? 0) + 1);
  const ranked = [...counts.entries()].filter(([, c]) => c >= 2).sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, k);
  if (ranked.length < 2) {
    throw new UalError('UAL_DATA_BAD_FILE', `the data has ${ranked.length} next token(s) occurring at least twice; the analysis needs two or more`,
      'give more (or longer) rows with --data');
  }
  const tokens = ranked.map(([id]) => id);
  const slot = new Map(tokens.map((id, i) => [id, i]));
  const all: Array<Array<[number, number]>> = tokens.map(() => []);
  seqs.forEach((s, i) => {
    for (let t = 1; t < s.length; t++) {
      const j = slot.get(s[t]);
      if (j !== undefined) all[j].push([i, t - 1]);
    }
  });
  const rng = new Rng(seed);
  const positions = all.map((occ) => {
    if (occ.length <= perToken) return occ;
    const idx = rng.permutation(occ.length).slice(0, perToken).sort();
    return Array.from(idx, (i) => occ[i]);
  });
  return { tokens, counts: ranked.map(([, c]) => c), positions };
}

/** The final-norm states at the selected positions: one (m_i, C) block per token. */
export function collectStates(model: CausalLM, seqs: readonly (readonly number[])[], sel: Selection, o: BatchOptions): Float64Array[] {
  const C = model.config.hiddenSize;
  const wanted = new Map<number, Array<[number, number, number]>>(); // seq -> [position, token slot, row]
  sel.positions.forEach((ps, j) => ps.forEach(([s, t], r) => {
    let list = wanted.get(s);
    if (!list) wanted.set(s, (list = []));
    list.push([t, j, r]);
  }));
  const order = [...wanted.keys()];
  const states = sel.positions.map((ps) => new Float64Array(ps.length * C));
  forwardSequences(model, order.map((s) => seqs[s]), { ...o, hidden: true, logits: false }, (out) => {
    for (const [t, j, r] of wanted.get(order[out.index])!) {
      const src = out.hidden!.subarray(out.hoff + t * out.C, out.hoff + (t + 1) * out.C);
      states[j].set(src, r * C);
    }
  });
  return states;
}

export interface PairScore {
  a: number;
  b: number;
  silhouette: number;
}

export interface ModelClusters {
  pairs: PairScore[];
  mean: number;
  sd: number;
}

function stack(blocks: Float64Array[], C: number): { X: Float64Array; n: number } {
  const n = blocks.reduce((s, b) => s + b.length / C, 0);
  const X = new Float64Array(n * C);
  let o = 0;
  for (const b of blocks) { X.set(b, o); o += b.length; }
  return { X, n };
}

/** 2-D PCA of two tokens' states: through the covariance when C is small, else through Gram blocks (GEMMs). */
export function pairPca(states: Float64Array[], a: number, b: number, C: number, gram?: (i: number, j: number) => Float32Array | Float64Array): { scores: Float64Array; labels: Int32Array } {
  const na = states[a].length / C, nb = states[b].length / C;
  const n = na + nb;
  const labels = new Int32Array(n);
  labels.fill(1, na);
  if (C <= n || !gram) {
    const { X } = stack([states[a], states[b]], C);
    return { scores: pca2(X, n, C).scores, labels };
  }
  const G = new Float64Array(n * n);
  const put = (blk: ArrayLike<number>, r0: number, c0: number, rows: number, cols: number, transpose: boolean) => {
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) {
      const v = blk[i * cols + j];
      G[(r0 + i) * n + c0 + j] = v;
      if (transpose) G[(c0 + j) * n + r0 + i] = v;
    }
  };
  put(gram(a, a), 0, 0, na, na, false);
  put(gram(b, b), na, na, nb, nb, false);
  put(gram(a, b), 0, na, na, nb, true);
  return { scores: pca2FromGram(G, n).scores, labels };
}

/** Silhouette of every token pair for one model's states; Gram blocks come from the engine's GEMM when C is large. */
export function analyzePairs(states: Float64Array[], C: number, onPair?: (done: number, total: number) => void): ModelClusters {
  const K = states.length;
  // centre on the mean of all sampled states first: hidden states share a large common direction, and removing
  // it before the float32 GEMM keeps the per-pair centring from cancelling away the digits that matter
  const { X, n } = stack(states, C);
  const mu = new Float64Array(C);
  for (let i = 0; i < n; i++) for (let j = 0; j < C; j++) mu[j] += X[i * C + j] / n;
  const states64 = states.map((s) => s.map((v, i) => v - mu[i % C]));
  const tensors = states64.map((c) => new Tensor(Float32Array.from(c), [c.length / C, C]));
  const diag = new Map<number, Float32Array>();
  const gram = (i: number, j: number): Float32Array => {
    if (i === j && diag.has(i)) return diag.get(i)!;
    const g = noGrad(() => matmul(tensors[i], tensors[j], { transB: true })).data as Float32Array; // (m_i, m_j)
    if (i === j) diag.set(i, g);
    return g;
  };
  const pairs: PairScore[] = [];
  const total = (K * (K - 1)) / 2;
  for (let a = 0; a < K; a++) {
    for (let b = a + 1; b < K; b++) {
      const { scores, labels } = pairPca(states64, a, b, C, gram);
      pairs.push({ a, b, silhouette: silhouette(scores, labels.length, 2, labels) });
      onPair?.(pairs.length, total);
    }
  }
  const sil = pairs.map((p) => p.silhouette);
  return { pairs, mean: mean(sil), sd: sd(sil) };
}
