// The teacher target end to end against PyTorch (fixtures/torch/teacher, made by scripts/make-teacher-fixtures.sh with
// scripts/teacher_ref.py): `ual distill` gives the reference's top-k (the gpt2 checkpoint as teacher, k 4), and
// `ual train --smooth-target teacher` on it gives the reference's per-step losses and trained weights, on every
// backend, with the fused and the unfused head.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { availableBackends, backendName, useBackend } from '../../src/engine/index.js';
import { readSafetensors } from '../../src/models/safetensors.js';
import { distill } from '../../src/pipeline/distill.js';
import { resolveTrainConfig } from '../../src/train/config.js';
import { train } from '../../src/train/trainer.js';

const FIX = path.resolve(import.meta.dirname, '../../fixtures/torch');
const REF = path.join(FIX, 'teacher');
const RUN = path.join(REF, 'runs', 'llama-teacher');
const HINT = 'fixtures stale? regenerate with: apt-get install -y python3-torch && bash scripts/make-teacher-fixtures.sh';
let dir: string;
let targets: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-teacher-parity-'));
  targets = path.join(dir, 'targets.jsonl');
  await distill({ model: path.join(FIX, 'gpt2'), data: path.join(FIX, 'data.jsonl'), out: targets, topK: 4, batchSize: 8, format: 'auto',
    template: 'paper', maxLength: 0, trainOnPrompt: false, skipBadRows: false, student: undefined });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

type Topk = { k: number; ids: number[][]; probs: number[][] };
const topkOf = (f: string) => fs.readFileSync(f, 'utf8').trim().split('\n').map((l) => JSON.parse(l).teacher_topk as Topk);

describe('the teacher target against PyTorch', () => {
  it('ual distill gives teacher_ref.py distill\'s ids, and its probabilities to 1e-6', () => {
    const ours = topkOf(targets);
    const ref = topkOf(path.join(REF, 'data.jsonl'));
    expect(ours.map((t) => [t.k, t.ids])).toEqual(ref.map((t) => [t.k, t.ids]));
    let worst = 0;
    ref.forEach((t, n) => t.probs.forEach((ps, i) => ps.forEach((p, j) => { worst = Math.max(worst, Math.abs(ours[n].probs[i][j] - p)); })));
    console.log(`distill: max absolute probability difference ${worst.toExponential(2)}`);
    expect(worst, HINT).toBeLessThan(1e-6);
  });

  // teacher_ref.py train's flags (flags.txt): file order, constant lr, AdamW over all parameters, eps = each row's epsilon
  const cases = availableBackends().flatMap((b) => [false, true].map((fused) => [b, fused] as const));
  it.each(cases)('ual train --smooth-target teacher on the %s backend (fused loss: %s): losses and trained weights', async (backend, fused) => {
    useBackend(backend);
    const flags = fs.readFileSync(path.join(RUN, 'flags.txt'), 'utf8').trim().split(/\s+/);
    const get = (f: string) => flags[flags.indexOf(f) + 1];
    const out = path.join(dir, `${backend}-${fused}`);
    await train(resolveTrainConfig({
      model: path.join(FIX, 'llama'), data: targets, out, loss: 'ual', 'smooth-target': 'teacher', steps: '8', 'batch-size': '4', lr: '1e-3',
      'weight-decay': get('--weight-decay'), 'max-grad-norm': get('--clip'), 'decay-all': true, 'no-shuffle': true, 'no-fused-loss': !fused,
    }));
    const ref = fs.readFileSync(path.join(RUN, 'losses.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).loss as number);
    const ours = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).loss as number);
    expect(ours.length).toBe(ref.length);
    const worstLoss = Math.max(...ref.map((r, i) => Math.abs(ours[i] - r) / Math.abs(r)));
    console.log(`[${backendName()}${fused ? ', fused' : ''}] llama-teacher: max relative loss difference ${worstLoss.toExponential(2)} over ${ref.length} steps`);
    expect(worstLoss, HINT).toBeLessThan(2e-4);
    const refW = readSafetensors(path.join(RUN, 'trained', 'model.safetensors'));
    const ourW = readSafetensors(path.join(out, 'model.safetensors'));
    let worstW = 0;
    for (const [name, t] of refW) {
      const o = ourW.get(name);
      expect(o, `tensor ${name} missing from our checkpoint`).toBeDefined();
      t.data.forEach((x, i) => { worstW = Math.max(worstW, Math.abs(o!.data[i] - x)); });
    }
    console.log(`[${backendName()}${fused ? ', fused' : ''}] llama-teacher: max absolute weight difference ${worstW.toExponential(2)}`);
    expect(worstW, HINT).toBeLessThan(2e-4);
  });
});
