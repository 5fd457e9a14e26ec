// The models against PyTorch (llm.c's habit): last-position logits and greedy continuations of the committed
// fixtures made by scripts/make-fixtures.sh with ../shared/reference/torch_ref.py, plus the torch-trained runs.
import fs from 'node:fs';
import { afterAll, describe, expect, test } from 'vitest';
import { backendName, noGrad } from '../../src/engine/index.js';
import { loadModel } from '../../src/models/index.js';
import { REGEN, cleanupTmp, editedCheckpoint, fixture, maxAbsDiff, promptIds, readJson } from './helpers.js';

afterAll(cleanupTmp);

const MODELS = ['gpt2', 'llama', 'qwen2'] as const;
const TOL = 1e-4;

describe(`PyTorch parity (backend ${backendName()})`, () => {
  const ids = promptIds();

  test.each(MODELS)('%s: last-position logits match torch_ref within 1e-4', (m) => {
    const model = loadModel(fixture(m));
    const ref = readJson<number[]>(fixture(m, 'logits.json'));
    const V = model.config.vocabSize;
    const T = ids.length;
    const logits = noGrad(() => model.forward(Int32Array.from(ids), 1, T).logits);
    expect(logits.shape).toEqual([1, T, V]);
    const { diff, at } = maxAbsDiff(logits.data.subarray((T - 1) * V, T * V), ref);
    console.log(`${m}: max |logit - torch| = ${diff.toExponential(2)} at vocab index ${at} (backend ${backendName()})`);
    expect(diff, `${m} logits differ from fixtures/torch/${m}/logits.json by ${diff} at index ${at}; ` +
      `if torch_ref.py or the fixture models changed, regenerate with: ${REGEN}`).toBeLessThan(TOL);
  });

  test.each(MODELS)('%s: greedy continuation equals torch_ref greedy', (m) => {
    const model = loadModel(fixture(m));
    const ref = readJson<number[]>(fixture(m, 'greedy.json'));
    const got = model.generate(ids, { maxNewTokens: ref.length - ids.length }).ids;
    expect(got, `greedy ids differ from fixtures/torch/${m}/greedy.json (stale? ${REGEN})`).toEqual(ref);
  });

  const runs = fs.readdirSync(fixture('runs')).sort();
  test.each(runs)('runs/%s: the torch-trained weights continue greedily as in torch', (run) => {
    const model = loadModel(fixture('runs', run, 'trained'));
    const ref = readJson<number[]>(fixture('runs', run, 'greedy.json'));
    const got = model.generate(ids, { maxNewTokens: ref.length - ids.length }).ids;
    expect(got, `greedy ids differ from fixtures/torch/runs/${run}/greedy.json (stale? ${REGEN})`).toEqual(ref);
  });

  test('mistral reads a llama checkpoint with the same numbers (same architecture, other model_type)', () => {
    const dir = editedCheckpoint(fixture('llama'), (_t, cfg) => { cfg.model_type = 'mistral'; });
    const a = noGrad(() => loadModel(fixture('llama')).forward(Int32Array.from(ids), 1, ids.length).logits);
    const b = noGrad(() => loadModel(dir).forward(Int32Array.from(ids), 1, ids.length).logits);
    expect(loadModel(dir).config.modelType).toBe('mistral');
    expect(maxAbsDiff(a.data, b.data).diff).toBe(0);
  });
});
