// LoRA: training matches a PyTorch LoRA reference, only adapter weights change, the adapter is saved with PEFT's
// names, the merged checkpoint is base + (alpha/r)·B·A, and a LoRA run resumes exactly.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSafetensors } from '../../src/models/safetensors.js';
import { train } from '../../src/train/trainer.js';
import { resolveTrainConfig } from '../../src/train/config.js';
import { ROOT } from '../helpers/cli.js';

const FIX = path.join(ROOT, 'fixtures', 'torch');
const HINT = 'fixtures stale? regenerate with: apt-get install -y python3-torch && bash scripts/make-fixtures.sh';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-lora-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const metrics = (out: string) => fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));

describe('LoRA matches PyTorch', () => {
  const runs = fs.readdirSync(path.join(FIX, 'lora')).sort();
  it.each(runs)('%s: losses and trained adapter', async (name) => {
    const flags = fs.readFileSync(path.join(FIX, 'lora', name, 'flags.txt'), 'utf8').trim().split(/\s+/);
    const get = (f: string) => { const i = flags.indexOf(f); return i >= 0 ? flags[i + 1] : undefined; };
    const out = path.join(dir, name);
    await train(resolveTrainConfig({
      model: path.join(FIX, name.split('-')[0]), data: path.join(FIX, 'data.jsonl'), out,
      adapter: path.join(FIX, 'lora', name, 'init'), loss: get('--loss'), 'eps-style': get('--eps-style'), epsilon: get('--epsilon'),
      steps: '10', 'batch-size': '4', lr: '1e-3', 'weight-decay': get('--weight-decay') ?? '0', 'max-grad-norm': get('--clip') ?? '0',
      'decay-all': true, 'no-shuffle': true,
    }));
    const ref = fs.readFileSync(path.join(FIX, 'lora', name, 'losses.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).loss as number);
    const ours = metrics(out).map((m) => m.loss as number);
    const worst = Math.max(...ref.map((r, i) => Math.abs(ours[i] - r) / Math.abs(r)));
    console.log(`${name}: max relative loss difference ${worst.toExponential(2)}`);
    expect(worst, HINT).toBeLessThan(2e-4);
    const refW = readSafetensors(path.join(FIX, 'lora', name, 'trained', 'adapter_model.safetensors'));
    const ourW = readSafetensors(path.join(out, 'adapter_model.safetensors'));
    expect([...ourW.keys()].sort()).toEqual([...refW.keys()].sort());
    let worstW = 0;
    for (const [k, t] of refW) t.data.forEach((x, i) => { worstW = Math.max(worstW, Math.abs(x - ourW.get(k)!.data[i])); });
    console.log(`${name}: max absolute adapter weight difference ${worstW.toExponential(2)}`);
    expect(worstW, HINT).toBeLessThan(2e-4);
  });
});

describe('LoRA adapters', () => {
  it('save with PEFT names; the merged checkpoint is base + (alpha/r)·B·A and nothing else changed', async () => {
    const out = path.join(dir, 'merge');
    await train(resolveTrainConfig({
      model: path.join(FIX, 'llama'), data: path.join(FIX, 'data.jsonl'), out, steps: '6', 'batch-size': '4', lr: '5e-3',
      'lora-r': '4', 'lora-alpha': '8', 'lora-dropout': '0.1', 'lora-targets': 'q_proj,v_proj', merge: true,
    }));
    const cfg = JSON.parse(fs.readFileSync(path.join(out, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 8, lora_dropout: 0.1, target_modules: ['q_proj', 'v_proj'], task_type: 'CAUSAL_LM' });
    const ad = readSafetensors(path.join(out, 'adapter_model.safetensors'));
    expect([...ad.keys()].sort()).toEqual([0, 1].flatMap((l) => ['q_proj', 'v_proj'].flatMap((m) =>
      ['lora_A', 'lora_B'].map((w) => `base_model.model.model.layers.${l}.self_attn.${m}.${w}.weight`))).sort());
    const base = readSafetensors(path.join(FIX, 'llama', 'model.safetensors'));
    const merged = readSafetensors(path.join(out, 'model.safetensors'));
    for (const [name, t] of base) {
      const m = merged.get(name)!;
      const mod = /^(model\.layers\.\d+\.self_attn\.[qv]_proj)\.weight$/.exec(name);
      if (!mod) { expect(m.data, `${name} must be untouched`).toEqual(t.data); continue; }
      const A = ad.get(`base_model.model.${mod[1]}.lora_A.weight`)!;
      const B = ad.get(`base_model.model.${mod[1]}.lora_B.weight`)!;
      const [outF, inF] = t.shape;
      let worst = 0; let moved = 0;
      for (let o = 0; o < outF; o++) for (let i = 0; i < inF; i++) {
        let d = 0;
        for (let k = 0; k < 4; k++) d += B.data[o * 4 + k] * A.data[k * inF + i];
        const want = t.data[o * inF + i] + 2 * d;
        worst = Math.max(worst, Math.abs(m.data[o * inF + i] - want));
        moved = Math.max(moved, Math.abs(m.data[o * inF + i] - t.data[o * inF + i]));
      }
      expect(worst, name).toBeLessThan(1e-6);
      expect(moved, `${name} should have moved`).toBeGreaterThan(1e-5);
    }
  });

  it('unknown targets are a usage error listing the layers', async () => {
    await expect(train(resolveTrainConfig({ model: path.join(FIX, 'llama'), data: path.join(FIX, 'data.jsonl'), out: path.join(dir, 'x'), steps: '1', 'lora-r': '2', 'lora-targets': 'qkv' })))
      .rejects.toThrow(/qkv[\s\S]*/);
  });

  it('a LoRA run with dropout resumes exactly', async () => {
    const common = { model: path.join(FIX, 'gpt2'), data: path.join(FIX, 'data.jsonl'), steps: '8', 'batch-size': '4', lr: '3e-3', 'lora-r': '4', 'lora-dropout': '0.2', 'lora-targets': 'c_attn', 'save-every': '4' };
    const full = path.join(dir, 'full');
    await train(resolveTrainConfig({ ...common, out: full }));
    const part = path.join(dir, 'part');
    fs.mkdirSync(part, { recursive: true });
    fs.cpSync(path.join(full, 'checkpoints'), path.join(part, 'checkpoints'), { recursive: true });
    await train(resolveTrainConfig({ ...common, out: part, resume: path.join(part, 'checkpoints', 'step-4') }));
    expect(metrics(part).map((m) => m.loss)).toEqual(metrics(full).map((m) => m.loss).slice(4));
    const a = readSafetensors(path.join(full, 'adapter_model.safetensors'));
    const b = readSafetensors(path.join(part, 'adapter_model.safetensors'));
    for (const [k, t] of a) expect(b.get(k)!.data, k).toEqual(t.data);
  });
});
