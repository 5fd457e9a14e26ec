// Smoothing toward a teacher (issue 13): smoothedCrossEntropy and the fused linearCrossEntropy with TeacherTargets
// against PyTorch (fixtures/torch/teacher, scripts/make-teacher-fixtures.sh) on every backend, against each other,
// against the uniform styles they generalise (eps 0 = plain CE; q uniform off the gold = 'paper', q uniform = 'hf'),
// by finite differences, through a few AdamW steps of a real model, and the boundary checks.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  AdamW, Tensor, availableBackends, backward, clipGradNorm, linear, linearCrossEntropy, smoothedCrossEntropy,
  type TeacherTargets,
} from '../../src/engine/index.js';
import { collate } from '../../src/data/collate.js';
import { loadModel, readSafetensors } from '../../src/models/index.js';
import { gradcheck, makeRng, relDiff, spec, uniform, withBackend } from './gradcheck.js';
import { expectSameHead, runHead, type HeadRun } from './head.js';

const FIX = path.resolve(__dirname, '../../fixtures/torch');
const REGEN = 'fixtures stale? regenerate with: bash scripts/make-teacher-fixtures.sh (needs python3-torch)';

type DType = 'float32' | 'float64';

// ---- the loss on random logits, against PyTorch ----

interface LossFixture {
  B: number; T: number; V: number; k: number;
  logits: number[]; labels: number[]; eps: number[]; ids: number[]; probs: number[];
  loss: number; dlogits: number[];
}
const fx = JSON.parse(fs.readFileSync(path.join(FIX, 'teacher', 'loss.json'), 'utf8')) as LossFixture;
const fxTeacher = (): TeacherTargets => ({ k: fx.k, ids: Int32Array.from(fx.ids), probs: Float32Array.from(fx.probs) });

describe.each(availableBackends())('teacher loss equals PyTorch (teacher_ref.py) on %s', (backend) => {
  const labels = Int32Array.from(fx.labels);

  it('smoothedCrossEntropy: loss and d loss / d logits', () => {
    withBackend(backend, () => {
      const x = Tensor.from(Float32Array.from(fx.logits), [fx.B, fx.T, fx.V], 'float32', true);
      const loss = smoothedCrossEntropy(x, labels, fx.eps, 'paper', fxTeacher());
      backward(loss);
      expect(Math.abs(loss.item() - fx.loss) / fx.loss, REGEN).toBeLessThan(1e-6);
      expect(relDiff(x.grad!, fx.dlogits), REGEN).toBeLessThan(1e-6);
    });
  });

  it.each([1, 4, 64])('linearCrossEntropy (identity head, chunks of %i): the same loss, dh = dlogits', (chunkRows) => {
    withBackend(backend, () => {
      const h = Tensor.from(Float32Array.from(fx.logits), [fx.B, fx.T, fx.V], 'float32', true);
      const eye = new Float32Array(fx.V * fx.V);
      for (let v = 0; v < fx.V; v++) eye[v * fx.V + v] = 1;
      const w = Tensor.from(eye, [fx.V, fx.V], 'float32', false);
      // the style is ignored with a teacher
      const loss = linearCrossEntropy(h, w, labels, fx.eps, 'hf', { chunkRows, teacher: fxTeacher() });
      backward(loss);
      expect(Math.abs(loss.item() - fx.loss) / fx.loss, REGEN).toBeLessThan(1e-6);
      expect(relDiff(h.grad!, fx.dlogits), REGEN).toBeLessThan(1e-6);
    });
  });
});

// ---- fused vs unfused, and the uniform styles as special cases ----

const [B, T, C, V, K] = [3, 7, 8, 37, 6];
const hiddenData = uniform(makeRng(31), B * T * C, -2, 2);
const weightData = uniform(makeRng(32), V * C, -1, 1);
const EPS = [0.1, 0, 0.45];

/** labels with -100 at every `ignoreEvery`-th position (0: none) */
function labelsFor(seed: number, ignoreEvery: number): Int32Array {
  const r = makeRng(seed);
  return Int32Array.from({ length: B * T }, (_, i) => (ignoreEvery && i % ignoreEvery === 0 ? -100 : Math.floor(r() * V)));
}

/** a random top-k teacher: distinct ids, the gold among them at every other position, probs renormalised in float32 */
function randomTeacher(seed: number, labels: Int32Array, k = K): TeacherTargets {
  const r = makeRng(seed);
  const N = labels.length;
  const ids = new Int32Array(N * k), probs = new Float32Array(N * k);
  for (let n = 0; n < N; n++) {
    const pool = Array.from({ length: V }, (_, v) => v);
    for (let j = 0; j < k; j++) ids[n * k + j] = pool.splice(Math.floor(r() * pool.length), 1)[0];
    if (n % 2 === 0 && labels[n] >= 0 && !ids.subarray(n * k, (n + 1) * k).includes(labels[n])) ids[n * k] = labels[n];
    let s = 0;
    for (let j = 0; j < k; j++) { probs[n * k + j] = r() ** 2 + 1e-3; s += probs[n * k + j]; }
    for (let j = 0; j < k; j++) probs[n * k + j] /= s;
  }
  return { k, ids, probs };
}

const head = { hidden: hiddenData, weight: weightData, B, T, C, V };
function run(
  fused: boolean, dtype: DType, labels: Int32Array, teacher: TeacherTargets | undefined,
  o: { chunkRows?: number; upstream?: number; frozenHead?: boolean; eps?: number[]; style?: 'paper' | 'hf' } = {},
): HeadRun {
  return runHead(head, fused, dtype, labels, { ...o, teacher, eps: o.eps ?? EPS });
}
const expectSame = expectSameHead;

/** q uniform over the V-1 tokens other than each position's gold (k = V-1), or over all V (k = V) */
function uniformTeacher(labels: Int32Array, offGold: boolean): TeacherTargets {
  const k = offGold ? V - 1 : V;
  const ids = new Int32Array(labels.length * k), probs = new Float32Array(labels.length * k).fill(1 / k);
  for (let n = 0; n < labels.length; n++) {
    const skip = !offGold ? -1 : labels[n] >= 0 ? labels[n] : V - 1; // an ignored position: any V-1 ids
    let j = 0;
    for (let v = 0; v < V; v++) if (v !== skip) ids[n * k + j++] = v;
  }
  return { k, ids, probs };
}

describe.each(availableBackends())('teacher smoothing on %s', (backend) => {
  const dtypes: DType[] = backend === 'native' ? ['float32'] : ['float32', 'float64'];
  describe.each(dtypes)('%s', (dtype) => {
    const tol = dtype === 'float64' ? 1e-12 : 1e-6;
    const labels = labelsFor(3, 4);
    const teacher = randomTeacher(4, labels);

    // 14 of the 21 positions have a target: chunks of 1, 3 and 5 do not divide it, 7 and 14 do, 64 is one chunk
    it.each([1, 3, 5, 7, 14, 64])('fused equals unfused, chunks of %i positions', (chunkRows) => {
      withBackend(backend, () => {
        expectSame(run(true, dtype, labels, teacher, { chunkRows }), run(false, dtype, labels, teacher), tol);
      });
    });

    it('fused equals unfused with an upstream gradient of 0.37, and with a frozen head', () => {
      withBackend(backend, () => {
        expectSame(run(true, dtype, labels, teacher, { chunkRows: 4, upstream: 0.37 }),
          run(false, dtype, labels, teacher, { upstream: 0.37 }), tol);
        const frozen = run(true, dtype, labels, teacher, { chunkRows: 4, frozenHead: true });
        expect(frozen.dw).toBeNull();
        expectSame(frozen, run(false, dtype, labels, teacher, { frozenHead: true }), tol);
      });
    });

    it('the teacher moves the loss; with eps 0 it is plain cross-entropy, whatever the teacher', () => {
      withBackend(backend, () => {
        const zero = [0, 0, 0];
        const plain = run(false, dtype, labels, undefined, { eps: zero });
        for (const fused of [false, true]) {
          expectSame(run(fused, dtype, labels, teacher, { eps: zero, chunkRows: 5 }), plain, tol);
          expectSame(run(fused, dtype, labels, randomTeacher(9, labels), { eps: zero, chunkRows: 5 }), plain, tol);
        }
        expect(Math.abs(run(false, dtype, labels, teacher).loss - run(false, dtype, labels, undefined).loss))
          .toBeGreaterThan(1e-2);
      });
    });

    it('q uniform off the gold is the paper style; q uniform over the vocabulary is the hf style', () => {
      // exact up to the float32 rounding of the teacher's probs (1/36, 1/37)
      const qTol = Math.max(tol, 1e-7);
      withBackend(backend, () => {
        for (const fused of [false, true]) {
          expectSame(run(fused, dtype, labels, uniformTeacher(labels, true), { chunkRows: 3, style: 'hf' }),
            run(false, dtype, labels, undefined, { style: 'paper' }), qTol);
          expectSame(run(fused, dtype, labels, uniformTeacher(labels, false), { chunkRows: 3, style: 'paper' }),
            run(false, dtype, labels, undefined, { style: 'hf' }), qTol);
        }
      });
    });

    it('no targets at all: loss 0 and zero gradients, not NaN', () => {
      withBackend(backend, () => {
        const none = new Int32Array(B * T).fill(-100);
        const empty = { k: 2, ids: new Int32Array(B * T * 2), probs: new Float32Array(B * T * 2) };
        for (const fused of [false, true]) {
          const r = run(fused, dtype, none, empty, { chunkRows: 2 });
          expect(r.loss).toBe(0);
          expect(Array.from(r.dh!).every((x) => x === 0)).toBe(true);
        }
      });
    });
  });
});

describe('teacher smoothing gradients by finite differences (float64)', () => {
  it.each([false, true])('fused %s', (fused) => {
    const rng = makeRng(41);
    // B=2, T=3, C=4, V=5; position (0, 1)'s label is ignored: 3 targets; k=3 with a repeated id (they add up)
    const labels = Int32Array.from([1, -100, 3, 0, 4, 2]);
    const teacher: TeacherTargets = {
      k: 3,
      ids: Int32Array.from([0, 0, 0, 1, 2, 3, 3, 0, 3, 0, 0, 0, 4, 4, 1, 2, 0, 1]),
      probs: Float32Array.from([0, 0, 0, 0.5, 0.25, 0.25, 0.5, 0.25, 0.25, 0, 0, 0, 0.125, 0.375, 0.5, 0.75, 0.125, 0.125]),
    };
    const report = gradcheck([spec(rng, [2, 3, 4], -2, 2), spec(rng, [5, 4], -1, 1)], ([h, w]) => (fused
      ? linearCrossEntropy(h, w, labels, [0.3, 0.6], 'paper', { chunkRows: 2, teacher })
      : smoothedCrossEntropy(linear(h, w, null, 'out_in'), labels, [0.3, 0.6], 'paper', teacher)));
    expect(report.errors.length).toBe(2);
    expect(report.maxErr).toBeLessThan(1e-7);
  });
});

describe('teacher targets are checked at the boundary', () => {
  const labels = Int32Array.from([5, -100, 3, 1]); // B=1, T=4, V=6: positions 2 and 3 are targets
  const logits = () => Tensor.zeros([1, 4, 6]);
  const good = (): TeacherTargets => ({
    k: 2, ids: Int32Array.from([0, 1, 0, 1, 2, 3, 4, 5]), probs: Float32Array.from([9, 9, 0, 0, 0.5, 0.5, 0.25, 0.75]),
  });
  const both = (t: TeacherTargets, message: RegExp) => {
    expect(() => smoothedCrossEntropy(logits(), labels, [0.1], 'paper', t)).toThrow(message);
    expect(() => linearCrossEntropy(logits(), Tensor.zeros([6, 6]), labels, [0.1], 'paper', { teacher: t })).toThrow(message);
  };

  it('accepts a good one (unused positions 0 and 1 may hold anything finite and >= 0)', () => {
    expect(smoothedCrossEntropy(logits(), labels, [0.1], 'paper', good()).item()).toBeCloseTo(Math.log(6), 6);
  });
  it('rejects bad sizes, ids, probs and sums', () => {
    both({ ...good(), k: 0 }, /smoothedCrossEntropy|linearCrossEntropy.*teacher\.k must be a positive integer, got 0/);
    both({ ...good(), k: 3 }, /teacher\.ids has 8 entries for B\*T\*k = 12 \(B=1, T=4, k=3\)/);
    both({ ...good(), probs: new Float32Array(7) }, /teacher\.probs has 7 entries for B\*T\*k = 8/);
    both({ ...good(), ids: Array.from(good().ids) as unknown as Int32Array }, /teacher\.ids must be an Int32Array/);
    const outOfRange = good(); outOfRange.ids[1] = 6;
    both(outOfRange, /teacher id 6 at row 0, position 0, entry 1 is outside \[0, 6\)/);
    const negative = good(); negative.ids[3] = -1;
    both(negative, /teacher id -1 at row 0, position 1, entry 1 is outside/);
    const nan = good(); nan.probs[0] = NaN;
    both(nan, /teacher prob NaN at row 0, position 0, entry 0 must be finite and >= 0/);
    const neg = good(); neg.probs[5] = -0.5; neg.probs[4] = 1.5;
    both(neg, /teacher prob -0\.5 at row 0, position 2, entry 1/);
    const unnormalised = good(); unnormalised.probs[6] = 0.2;
    both(unnormalised, /teacher probs at row 0, position 3 sum to 0\.95.*not 1 \(within 0\.0001\): renormalise/);
  });
});

// ---- a few AdamW steps of a real model toward a teacher, against PyTorch ----

interface TeacherRow {
  input_ids: number[]; labels: number[]; epsilon: number;
  teacher_topk: { k: number; ids: number[][]; probs: number[][] };
}

/** the batch's TeacherTargets: each row's top-k placed at its target positions, probs renormalised (float32) */
function teacherFor(rows: TeacherRow[], Tb: number): TeacherTargets {
  const k = rows[0].teacher_topk.k;
  const ids = new Int32Array(rows.length * Tb * k), probs = new Float32Array(rows.length * Tb * k);
  rows.forEach((r, b) => {
    let e = 0;
    r.labels.forEach((lab, t) => {
      if (lab === -100) return;
      const p = Float32Array.from(r.teacher_topk.probs[e]);
      const s = p.reduce((a, x) => Math.fround(a + x), 0);
      const o = (b * Tb + t) * k;
      ids.set(r.teacher_topk.ids[e], o);
      probs.set(p.map((x) => x / s), o);
      e++;
    });
  });
  return { k, ids, probs };
}

const RUN = path.join(FIX, 'teacher', 'runs', 'llama-teacher');
describe.each(availableBackends())('training toward a teacher matches PyTorch on %s', (backend) => {
  it.each([false, true])('llama, 8 AdamW steps (clip 1, weight decay 0.1), fused loss %s', (fused) => {
    withBackend(backend, () => {
      const rows = fs.readFileSync(path.join(FIX, 'teacher', 'data.jsonl'), 'utf8').trim().split('\n')
        .map((l) => JSON.parse(l) as TeacherRow);
      const flags = fs.readFileSync(path.join(RUN, 'flags.txt'), 'utf8');
      expect(flags.trim()).toBe('--clip 1.0 --weight-decay 0.1');
      const ref = fs.readFileSync(path.join(RUN, 'losses.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).loss as number);
      const model = loadModel(path.join(FIX, 'llama'));
      const params = model.parameters();
      const opt = new AdamW(params, { lr: 1e-3, weightDecay: 0.1 });
      const bs = 4;
      let worstLoss = 0;
      ref.forEach((want, step) => {
        const batchRows = Array.from({ length: bs }, (_, j) => rows[(step * bs + j) % rows.length]);
        const batch = collate(batchRows.map((r, j) => ({
          line: j + 1, inputIds: Int32Array.from(r.input_ids), labels: Int32Array.from(r.labels), epsilon: r.epsilon,
        })));
        const teacher = teacherFor(batchRows, batch.T);
        opt.zeroGrad();
        const out = model.forwardHidden(batch.ids, batch.B, batch.T);
        const loss = fused
          ? linearCrossEntropy(out.hidden, out.head, batch.labels, batch.eps, 'paper', { teacher, chunkRows: 16 })
          : smoothedCrossEntropy(linear(out.hidden, out.head, null, 'out_in'), batch.labels, batch.eps, 'paper', teacher);
        backward(loss);
        clipGradNorm(params, 1.0);
        opt.step(1e-3);
        worstLoss = Math.max(worstLoss, Math.abs(loss.item() - want) / want);
      });
      const named = model.namedParameters();
      let worstW = 0, worstName = '';
      for (const [name, t] of readSafetensors(path.join(RUN, 'trained', 'model.safetensors'))) {
        const ours = named.get(name);
        expect(ours, `parameter ${name}`).toBeDefined();
        for (let i = 0; i < t.data.length; i++) {
          const d = Math.abs(ours!.data[i] - t.data[i]);
          if (d > worstW) { worstW = d; worstName = name; }
        }
      }
      console.log(`[${backend}${fused ? ', fused' : ''}] teacher run: max relative loss difference ` +
        `${worstLoss.toExponential(2)}, max absolute weight difference ${worstW.toExponential(2)} (${worstName})`);
      // the tolerance of test/train/torch-parity.test.ts
      expect(worstLoss, REGEN).toBeLessThan(2e-4);
      expect(worstW, REGEN).toBeLessThan(2e-4);
    });
  });
});
