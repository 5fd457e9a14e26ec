// `ual train --save-dtype / --max-shard-size`: the final model, the merged model and checkpoints/step-N weights are
// saved in the chosen dtype and sharded as transformers does; the optimizer state and a LoRA adapter stay float32;
// a run resumes from a sharded bf16 checkpoint.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { SafetensorsReader, loadModel } from '../../src/models/index.js';
import { resolveTrainConfig } from '../../src/train/config.js';
import { train } from '../../src/train/trainer.js';
import { ROOT } from '../helpers/cli.js';

const FIX = path.join(ROOT, 'fixtures', 'torch');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-save-dtype-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** dtype of every tensor in every .safetensors file of d whose name passes `which` */
function dtypes(d: string, which: (f: string) => boolean): Set<string> {
  const out = new Set<string>();
  for (const f of fs.readdirSync(d).filter((x) => x.endsWith('.safetensors') && which(x))) {
    const r = SafetensorsReader.open(path.join(d, f));
    for (const e of r.entries.values()) out.add(e.dtype);
    r.close();
  }
  return out;
}
const isShard = (f: string) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f);
const torchDtype = (d: string) => JSON.parse(fs.readFileSync(path.join(d, 'config.json'), 'utf8')).torch_dtype;

describe('train --save-dtype --max-shard-size', () => {
  const common = { model: path.join(FIX, 'llama'), data: path.join(FIX, 'data.jsonl'), 'batch-size': '4', lr: '1e-3', seed: '3' };

  test('full fine-tune: final and step-N weights bf16 and sharded, optimizer fp32; resume from the bf16 checkpoint', async () => {
    const out = path.join(dir, 'full');
    await train(resolveTrainConfig({ ...common, out, steps: '4', 'save-every': '2', 'save-dtype': 'bf16', 'max-shard-size': '60KB' }));
    for (const d of [out, path.join(out, 'checkpoints', 'step-2')]) {
      const files = fs.readdirSync(d);
      expect(files.filter(isShard).length, d).toBeGreaterThan(1);
      expect(files).toContain('model.safetensors.index.json');
      expect(files).not.toContain('model.safetensors');
      expect([...dtypes(d, isShard)]).toEqual(['BF16']);
      expect(torchDtype(d)).toBe('bfloat16');
    }
    expect([...dtypes(path.join(out, 'checkpoints', 'step-2'), (f) => f === 'optimizer.safetensors')]).toEqual(['F32']);
    expect(loadModel(out).config.modelType).toBe('llama');

    const resumed = path.join(dir, 'resumed');
    await train(resolveTrainConfig({ ...common, out: resumed, steps: '4', 'save-every': '2', resume: path.join(out, 'checkpoints', 'step-2') }));
    // the resumed run saves with its own (default) options: one fp32 file, and config.json says so
    expect(fs.readdirSync(resumed)).toContain('model.safetensors');
    expect([...dtypes(resumed, (f) => f === 'model.safetensors')]).toEqual(['F32']);
    expect(torchDtype(resumed)).toBe('float32');
  });

  test('LoRA with --merge: the adapter stays fp32 (PEFT\'s default), the merged model is fp16', async () => {
    const out = path.join(dir, 'lora');
    await train(resolveTrainConfig({ ...common, out, steps: '2', 'lora-r': '2', merge: true, 'save-dtype': 'fp16' }));
    expect([...dtypes(out, (f) => f === 'adapter_model.safetensors')]).toEqual(['F32']);
    expect([...dtypes(out, (f) => f === 'model.safetensors')]).toEqual(['F16']);
    expect(torchDtype(out)).toBe('float16');
  });

  test('a bad --max-shard-size or --save-dtype stops before anything is written', async () => {
    const out = path.join(dir, 'bad');
    await expect(train(resolveTrainConfig({ ...common, out, steps: '1', 'max-shard-size': '5 lots' })))
      .rejects.toThrow('--max-shard-size must be a size such as 5GB, 500MB, 1GiB or a number of bytes, got "5 lots"');
    expect(() => resolveTrainConfig({ ...common, out, steps: '1', 'save-dtype': 'fp8' }))
      .toThrow('ual train: --save-dtype must be one of fp32, bf16, fp16, got "fp8"');
    expect(fs.existsSync(out)).toBe(false);
  });
});
