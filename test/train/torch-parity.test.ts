// Training is exact against PyTorch (llm.c's test_gpt2 habit): for each fixture run made by scripts/make-fixtures.sh,
// our per-step losses, trained weights and the trained model's greedy continuation must match torch_ref.py's.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { train } from '../../src/train/trainer.js';
import { resolveTrainConfig } from '../../src/train/config.js';
import { readSafetensors } from '../../src/models/safetensors.js';
import { loadModel, generate } from '../../src/models/index.js';
import { availableBackends, backendName, useBackend } from '../../src/engine/index.js';

const FIX = path.resolve(__dirname, '../../fixtures/torch');
const HINT = 'fixtures stale? regenerate with: apt-get install -y python3-torch && bash scripts/make-fixtures.sh';
const runs = fs.readdirSync(path.join(FIX, 'runs')).sort();

/** torch_ref.py train flags -> our config (same semantics: file order, constant lr, AdamW over all params) */
function configFor(name: string, out: string, fused: boolean) {
  const flags = fs.readFileSync(path.join(FIX, 'runs', name, 'flags.txt'), 'utf8').trim().split(/\s+/);
  const get = (f: string) => { const i = flags.indexOf(f); return i >= 0 ? flags[i + 1] : undefined; };
  const model = name.split('-')[0];
  return resolveTrainConfig({
    model: path.join(FIX, model), data: path.join(FIX, 'data.jsonl'), out,
    loss: get('--loss'), 'eps-style': get('--eps-style') ?? 'paper', epsilon: get('--epsilon'),
    steps: '10', 'batch-size': '4', lr: '1e-3', 'weight-decay': get('--weight-decay') ?? '0',
    'max-grad-norm': get('--clip') ?? '0', 'decay-all': true, 'no-shuffle': true, 'no-fused-loss': !fused,
  });
}

// both ways of applying the head and the loss: the (B, T, V) logits, and chunked over positions (the default; --no-fused-loss makes the logits)
const cases = availableBackends().flatMap((b) => [false, true].map((fused) => [b, fused] as const));

describe.each(cases)('training matches PyTorch on the %s backend (fused loss: %s)', (backend, fused) => {
  beforeAll(() => useBackend(backend));
  it.each(runs)('%s: losses, trained weights, greedy ids', async (name) => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), `ual-parity-${name}-`));
    try {
      await train(configFor(name, out, fused));
      const ref = fs.readFileSync(path.join(FIX, 'runs', name, 'losses.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).loss as number);
      const ours = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).loss as number);
      expect(ours.length).toBe(ref.length);
      let worstLoss = 0;
      ref.forEach((r, i) => { worstLoss = Math.max(worstLoss, Math.abs(ours[i] - r) / Math.abs(r)); });
      console.log(`[${backendName()}${fused ? ', fused' : ''}] ${name}: max relative loss difference ${worstLoss.toExponential(2)} over ${ref.length} steps`);
      expect(worstLoss, HINT).toBeLessThan(2e-4);

      const refW = readSafetensors(path.join(FIX, 'runs', name, 'trained', 'model.safetensors'));
      const ourW = readSafetensors(path.join(out, 'model.safetensors'));
      let worstW = 0; let worstName = '';
      for (const [tname, t] of refW) {
        const o = ourW.get(tname);
        expect(o, `tensor ${tname} missing from our checkpoint`).toBeDefined();
        expect(o!.shape).toEqual(t.shape);
        for (let i = 0; i < t.data.length; i++) {
          const d = Math.abs(o!.data[i] - t.data[i]);
          if (d > worstW) { worstW = d; worstName = tname; }
        }
      }
      console.log(`[${backendName()}${fused ? ', fused' : ''}] ${name}: max absolute weight difference ${worstW.toExponential(2)} (${worstName})`);
      expect(worstW, HINT).toBeLessThan(2e-4);

      const prompt = fs.readFileSync(path.join(FIX, 'prompt_ids.txt'), 'utf8').trim().split(',').map(Number);
      const want = JSON.parse(fs.readFileSync(path.join(FIX, 'runs', name, 'greedy.json'), 'utf8')) as number[];
      const { ids } = generate(loadModel(out), prompt, { maxNewTokens: want.length - prompt.length, temperature: 0 });
      expect(ids, HINT).toEqual(want);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});
