// Batched generation: prompts of different lengths decoded together give exactly the ids each prompt gets alone
// (greedy and seeded sampling), stop ids / stop strings end only their own row, the context limit is honoured;
// and benchGenerate reports a throughput.
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { benchGenerate } from '../../src/eval/speed.js';
import { noGrad } from '../../src/engine/index.js';
import { cutAtStop, generateAll } from '../../src/eval/generate.js';
import { Rng, generateBatch, loadModel, positionLimit, sampleNext, type CausalLM, type GenerateOptions } from '../../src/models/index.js';
import { FIXTURES } from './helpers.js';

const prompts = [[3, 17, 42], [5], [99, 5, 64, 1, 2, 3, 4, 8, 9], [7, 7], [100, 20, 30, 40]];

/** The plainest decode there is, the oracle for the shared loop: one row, no cache, the whole sequence every step. */
function decodeAlone(model: CausalLM, prompt: readonly number[], o: GenerateOptions & { maxNewTokens: number; seed: number }): number[] {
  const rng = new Rng(o.seed);
  const limit = positionLimit(model.config, 'generate').max;
  const ids = [...prompt];
  const out: number[] = [];
  while (out.length < o.maxNewTokens && ids.length < limit) {
    const logits = noGrad(() => model.forward(Int32Array.from(ids), 1, ids.length, { lastOnly: true })).logits.data;
    const id = sampleNext(logits, o, rng);
    ids.push(id);
    out.push(id);
    if (o.stopIds?.includes(id)) break;
  }
  return out;
}

describe.each(['gpt2', 'llama', 'qwen2'])('%s', (m) => {
  const model = loadModel(path.join(FIXTURES, m));

  test('a batch of ragged prompts equals generating each alone (greedy)', () => {
    const batch = generateBatch(model, prompts, { maxNewTokens: 12 });
    prompts.forEach((p, i) => {
      const alone = model.generate(p, { maxNewTokens: 12 });
      expect(batch.newIds[i]).toEqual(alone.newIds);
      expect(batch.stopReasons[i]).toBe(alone.stopReason);
    });
  });

  test('seeded sampling: each row matches a lone generate() with the same seed', () => {
    const o = { maxNewTokens: 8, temperature: 1.1, topK: 20, seed: 5 };
    const batch = generateBatch(model, prompts, o);
    prompts.forEach((p, i) => expect(batch.newIds[i]).toEqual(model.generate(p, o).newIds));
  });

  test('generateAll: length-sorted batches, results back in input order', () => {
    const all = generateAll(model, prompts, { maxNewTokens: 6, batchSize: 2 });
    prompts.forEach((p, i) => expect(all.newIds[i]).toEqual(model.generate(p, { maxNewTokens: 6 }).newIds));
  });

  test.each([
    ['greedy', {}],
    ['seeded sampling', { temperature: 1.2, topK: 30, topP: 0.9 }],
  ])('generateAll (%s) equals decoding each prompt alone without a cache, whatever the batch size', (_, sampling) => {
    const seeds = prompts.map((_p, i) => 100 + i);
    const stopIds = [decodeAlone(model, prompts[3], { ...sampling, maxNewTokens: 10, seed: seeds[3] })[4]];
    const want = prompts.map((p, i) => decodeAlone(model, p, { ...sampling, maxNewTokens: 10, seed: seeds[i], stopIds }));
    expect(want.filter((w) => w.length < 10).length).toBeGreaterThan(0); // the stop id ended a row early
    for (const batchSize of [1, 2, 5]) {
      const streamed: number[][] = prompts.map(() => []);
      const all = generateAll(model, prompts, {
        ...sampling, maxNewTokens: 10, rowSeeds: seeds, stopIds, batchSize, onToken: (id, row) => streamed[row].push(id),
      });
      expect(all.newIds, `batch size ${batchSize}`).toEqual(want);
      expect(streamed).toEqual(want);
      expect(all.stopReasons).toEqual(want.map((w) => (w.length < 10 ? 'stop' : 'length')));
    }
  });

  test('a stop id ends only its own row, and is kept', () => {
    const free = generateBatch(model, prompts, { maxNewTokens: 10 });
    const stopId = free.newIds[2][3];
    const r = generateBatch(model, prompts, { maxNewTokens: 10, stopIds: [stopId] });
    prompts.forEach((_, i) => {
      const k = free.newIds[i].indexOf(stopId);
      expect(r.newIds[i]).toEqual(k < 0 ? free.newIds[i] : free.newIds[i].slice(0, k + 1));
      expect(r.stopReasons[i]).toBe(k < 0 ? 'length' : 'stop');
    });
  });

  test('shouldStop (text stop strings) ends a row after the token that completes the string', () => {
    const r = generateBatch(model, prompts, { maxNewTokens: 10, shouldStop: (row, ids) => row === 1 && ids.length === 4 });
    expect(r.newIds[1]).toHaveLength(4);
    expect(r.stopReasons[1]).toBe('stop');
    expect(r.newIds[0]).toHaveLength(10);
  });
});

test('GPT-2: a row reaching n_positions stops with "context", like a lone generate()', () => {
  const model = loadModel(path.join(FIXTURES, 'gpt2')); // n_positions 64
  const long = Array.from({ length: 60 }, (_, i) => (i * 13) % 128);
  const r = generateBatch(model, [long, [1, 2]], { maxNewTokens: 10 });
  const alone = model.generate(long, { maxNewTokens: 10 });
  expect(r.newIds[0]).toEqual(alone.newIds);
  expect(r.newIds[0]).toHaveLength(4);
  expect(r.stopReasons).toEqual(['context', 'length']);
  expect(() => generateBatch(model, [Array(65).fill(1)], { maxNewTokens: 1 })).toThrow(/at most 64/);
});

test('cutAtStop cuts at the earliest stop string', () => {
  expect(cutAtStop('42.\n\nQuestion: next one', ['Question:', '\n\n\n'])).toBe('42.\n\n');
  expect(cutAtStop('no stop here', ['Question:'])).toBe('no stop here');
});

test('benchGenerate: tokens/s for batched greedy decoding', () => {
  const r = benchGenerate(path.join(FIXTURES, 'llama'), { promptLen: 8, newTokens: 16, batch: 4, reps: 1 });
  expect(r.tokens_per_s).toBeCloseTo((4 * 16) / (r.ms / 1000), 6); // batch × new tokens per median second
  expect(r).toMatchObject({ batch: 4, prompt_len: 8, new_tokens: 16 });
});
