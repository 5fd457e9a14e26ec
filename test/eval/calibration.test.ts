// Perplexity and calibration: the NLL equals the training loss (smoothedCrossEntropy, eps 0) on the same rows,
// long rows split into windows score every target exactly once, ECE over 15 bins matches a hand computation, and
// the reliability diagram is a well-formed SVG.
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { binOf, CalibrationBins, reliabilitySvg, scoreTokens, windows } from '../../src/eval/calibration.js';
import { readScoredRows } from '../../src/eval/rows.js';
import { noGrad, smoothedCrossEntropy } from '../../src/engine/index.js';
import { loadModel } from '../../src/models/index.js';
import { FIXTURES } from './helpers.js';

const DATA = path.join(FIXTURES, 'data.jsonl'); // pretokenized {input_ids, labels}

describe('perplexity', () => {
  test.each(['gpt2', 'qwen2'])('%s: mean NLL = the training loss with eps 0, over the same target tokens', async (m) => {
    const model = loadModel(path.join(FIXTURES, m));
    const seqs = await readScoredRows(DATA, { tokenizer: null, template: 'paper', on: 'response', vocabSize: 128 });
    const r = scoreTokens(model, seqs, { maxLen: 64, batchSize: 5 });
    let sum = 0, count = 0;
    for (const s of seqs) {
      const T = s.ids.length;
      const loss = noGrad(() => smoothedCrossEntropy(model.forward(s.ids, 1, T).logits, s.labels, [0], 'paper')).item();
      let n = 0;
      for (let t = 1; t < T; t++) if (s.labels[t] !== -100) n++;
      sum += loss * n;
      count += n;
    }
    expect(r.tokens).toBe(count);
    expect(Math.abs(r.nll - sum / count)).toBeLessThan(1e-5);
    expect(r.ppl).toBeCloseTo(Math.exp(sum / count), 3);
  });

  test('--on all scores every token after the first, labels or not', async () => {
    const seqs = await readScoredRows(DATA, { tokenizer: null, template: 'paper', on: 'all', vocabSize: 128 });
    const r = scoreTokens(loadModel(path.join(FIXTURES, 'gpt2')), seqs, { maxLen: 64 });
    expect(r.tokens).toBe(seqs.reduce((s, q) => s + q.ids.length - 1, 0));
  });

  test('windows overlap by one token: every target is predicted exactly once, with context', () => {
    const ids = Int32Array.from({ length: 10 }, (_, i) => i);
    const parts = windows({ ids, labels: ids, line: 1 }, 4);
    expect(parts.map((p) => Array.from(p.ids))).toEqual([[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]);
    const predicted = parts.flatMap((p) => Array.from(p.ids.slice(1)));
    expect(predicted).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  test('long rows scored in windows count the same tokens', async () => {
    const model = loadModel(path.join(FIXTURES, 'llama'));
    const seqs = await readScoredRows(DATA, { tokenizer: null, template: 'paper', on: 'all', vocabSize: 128 });
    const whole = scoreTokens(model, seqs, { maxLen: 64 });
    const split = scoreTokens(model, seqs, { maxLen: 16 });
    expect(split.tokens).toBe(whole.tokens);
    expect(Math.abs(split.nll - whole.nll)).toBeLessThan(0.5); // less context, a similar loss on a random model
  });
});

describe('expected calibration error', () => {
  test('bins are (i/15, (i+1)/15]: an edge belongs to the bin below', () => {
    expect(binOf(1)).toBe(14);
    expect(binOf(1 / 15)).toBe(0);
    expect(binOf(1 / 15 + 1e-12)).toBe(1);
    expect(binOf(0.0001)).toBe(0);
    expect(binOf(14 / 15)).toBe(13);
  });

  test('hand-computed: ECE = sum |B|/N * |acc - conf|', () => {
    const c = new CalibrationBins();
    c.add(0.95, true);
    c.add(0.95, false);
    c.add(0.5, true);
    // bin 14: acc 0.5, conf 0.95 (2 of 3 tokens); bin 7: acc 1, conf 0.5 (1 of 3)
    const { ece, mce } = c.ece();
    expect(ece).toBeCloseTo((2 / 3) * 0.45 + (1 / 3) * 0.5, 14);
    expect(mce).toBeCloseTo(0.5, 14);
    const bins = c.bins();
    expect(bins[14]).toMatchObject({ count: 2, accuracy: 0.5 });
    expect(bins[7]).toMatchObject({ count: 1, accuracy: 1, confidence: 0.5 });
  });

  test('the reliability diagram is one SVG with a bar per non-empty bin and the ECE written on it', async () => {
    const seqs = await readScoredRows(DATA, { tokenizer: null, template: 'paper', on: 'all', vocabSize: 128 });
    const r = scoreTokens(loadModel(path.join(FIXTURES, 'gpt2')), seqs, { maxLen: 64 });
    expect(r.bins).toHaveLength(15);
    expect(r.bins.reduce((s, b) => s + b.count, 0)).toBe(r.tokens);
    const svg = reliabilitySvg(r, 'gpt2 <fixture> & data');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('gpt2 &lt;fixture&gt; &amp; data');
    expect(svg).toContain(`ECE (15 bins) = ${r.ece.toFixed(4)}`);
    expect((svg.match(/<title>/g) ?? []).length).toBe(r.bins.filter((b) => b.count > 0).length);
  });
});
