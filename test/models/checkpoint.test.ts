// Checkpoint I/O: torch_ref-identical safetensors bytes, save -> load bit-exact under the checkpoint's own names
// (prefixed or not), F16/BF16 and sharded reading, and buffers that are not parameters.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { noGrad } from '../../src/engine/index.js';
import {
  SafetensorsReader, loadModel, readSafetensors, writeSafetensors, type ShapedArray,
} from '../../src/models/index.js';
import { cleanupTmp, editedCheckpoint, fixture, maxAbsDiff, promptIds, readJson, tmpDir } from './helpers.js';

afterAll(cleanupTmp);

const MODELS = ['gpt2', 'llama', 'qwen2'] as const;

function lastLogits(dir: string): Float32Array {
  const ids = Int32Array.from(promptIds());
  const m = loadModel(dir);
  const V = m.config.vocabSize;
  const out = noGrad(() => m.forward(ids, 1, ids.length).logits);
  return Float32Array.from(out.data.subarray((ids.length - 1) * V));
}

describe('safetensors format', () => {
  test.each(MODELS)('%s: our writer reproduces torch_ref\'s file byte for byte', (m) => {
    const file = fixture(m, 'model.safetensors');
    const tensors = new Map<string, ShapedArray>();
    for (const [name, t] of readSafetensors(file)) tensors.set(name, { shape: t.shape, data: t.data });
    const ours = path.join(tmpDir(), 'model.safetensors');
    writeSafetensors(ours, tensors);
    expect(fs.readFileSync(ours).equals(fs.readFileSync(file))).toBe(true);
  });

  test('header is padded to 8 bytes and names are sorted', () => {
    const file = path.join(tmpDir(), 'x.safetensors');
    writeSafetensors(file, { 'b.w': { shape: [2], data: new Float32Array([1, 2]) }, a: { shape: [1, 1], data: new Float32Array([3]) } });
    const bytes = fs.readFileSync(file);
    const n = Number(bytes.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString());
    expect(Object.keys(header)).toEqual(['a', 'b.w']);
    expect(header.a.data_offsets).toEqual([0, 4]);
    expect(header['b.w'].data_offsets).toEqual([4, 12]);
  });

  test('F16 and BF16 decode to the values torch would give (round to nearest even, subnormals, inf)', () => {
    const values = new Float32Array([1, -2.5, 0.1, 65504, 1e5, 6e-8, -0, 3.14159, 1 / 3]);
    const dir = tmpDir();
    for (const dtype of ['F16', 'BF16'] as const) {
      const file = path.join(dir, `${dtype}.safetensors`);
      writeSafetensors(file, { x: { shape: [values.length], data: values } }, { dtype });
      const t = readSafetensors(file).get('x')!;
      expect(t.dtype).toBe(dtype);
      const want = dtype === 'F16'
        ? [1, -2.5, 0.0999755859375, 65504, Infinity, 5.960464477539063e-8, -0, 3.140625, 0.333251953125]
        : [1, -2.5, 0.10009765625, 65536, 99840, 6.007030606269836e-8, -0, 3.140625, 0.333984375];
      for (let i = 0; i < values.length; i++) {
        expect(Object.is(t.data[i], want[i]), `${dtype} of ${values[i]}: got ${t.data[i]}, want ${want[i]}`).toBe(true);
      }
    }
  });

  test.each(MODELS)('%s: F16 and BF16 checkpoints load (logits close to the F32 ones)', (m) => {
    const ref = lastLogits(fixture(m));
    for (const dtype of ['F16', 'BF16'] as const) {
      const dir = tmpDir();
      fs.copyFileSync(fixture(m, 'config.json'), path.join(dir, 'config.json'));
      const tensors = new Map<string, ShapedArray>();
      for (const [name, t] of readSafetensors(fixture(m, 'model.safetensors'))) tensors.set(name, { shape: t.shape, data: t.data });
      writeSafetensors(path.join(dir, 'model.safetensors'), tensors, { dtype });
      const r = SafetensorsReader.open(path.join(dir, 'model.safetensors'));
      expect([...r.entries.values()].every((e) => e.dtype === dtype)).toBe(true);
      r.close();
      const { diff } = maxAbsDiff(lastLogits(dir), ref);
      expect(diff, `${m} ${dtype}`).toBeLessThan(dtype === 'F16' ? 2e-3 : 2e-2);
      expect(diff).toBeGreaterThan(0); // the weights really were rounded
    }
  });

  test.each(MODELS)('%s: sharded model.safetensors.index.json loads the same weights', (m) => {
    const dir = tmpDir();
    fs.copyFileSync(fixture(m, 'config.json'), path.join(dir, 'config.json'));
    const all = readSafetensors(fixture(m, 'model.safetensors'));
    const names = [...all.keys()];
    const shards = [names.filter((_, i) => i % 2 === 0), names.filter((_, i) => i % 2 === 1)];
    const weightMap: Record<string, string> = {};
    shards.forEach((group, s) => {
      const file = `model-0000${s + 1}-of-00002.safetensors`;
      writeSafetensors(path.join(dir, file), new Map(group.map((n) => [n, { shape: all.get(n)!.shape, data: all.get(n)!.data }])), { dtype: s === 1 ? 'BF16' : 'F32' });
      for (const n of group) weightMap[n] = file;
    });
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    const model = loadModel(dir);
    for (const [name, t] of model.namedParameters()) {
      const src = all.get(name)!.data;
      if (weightMap[name].includes('00001')) expect(Buffer.from(t.data.buffer).equals(Buffer.from(src.buffer))).toBe(true);
      else expect(maxAbsDiff(t.data, src).diff).toBeLessThan(1e-2);
    }
    expect([...model.namedParameters().keys()].sort()).toEqual(names.filter((n) => !n.endsWith('lm_head.weight') || m === 'llama').sort());
  });
});

describe('save and load', () => {
  test.each(MODELS)('%s: save -> load is bit-exact with the checkpoint\'s tensor names', (m) => {
    const model = loadModel(fixture(m));
    const dir = tmpDir();
    model.save(dir);
    const stored = [...readSafetensors(fixture(m, 'model.safetensors')).keys()].sort();
    const saved = readSafetensors(path.join(dir, 'model.safetensors'));
    expect([...saved.keys()].sort()).toEqual(stored);
    const prefix = m === 'gpt2' ? 'transformer.' : 'model.';
    expect(stored.filter((n) => n !== 'lm_head.weight').every((n) => n.startsWith(prefix))).toBe(true);
    for (const [name, t] of model.namedParameters()) {
      expect(Buffer.from(saved.get(name)!.data.buffer).equals(Buffer.from(t.data.buffer)), name).toBe(true);
    }
    expect(readJson(path.join(dir, 'config.json'))).toEqual(readJson(fixture(m, 'config.json')));
    const again = loadModel(dir);
    expect([...again.namedParameters().keys()]).toEqual([...model.namedParameters().keys()]);
    expect(maxAbsDiff(lastLogits(dir), lastLogits(fixture(m))).diff).toBe(0);
  });

  test.each(MODELS)('%s: a checkpoint without the transformer./model. prefix loads and saves without it', (m) => {
    const prefix = m === 'gpt2' ? 'transformer.' : 'model.';
    const dir = editedCheckpoint(fixture(m), (t) => {
      for (const [name, v] of [...t]) {
        if (!name.startsWith(prefix)) continue;
        t.delete(name);
        t.set(name.slice(prefix.length), v);
      }
    });
    const model = loadModel(dir);
    expect([...model.namedParameters().keys()].some((n) => n.startsWith(prefix))).toBe(false);
    expect(model.parameters().map((p) => p.name)).toEqual([...model.namedParameters().keys()]);
    const out = tmpDir();
    model.save(out);
    expect([...readSafetensors(path.join(out, 'model.safetensors')).keys()].some((n) => n.startsWith(prefix))).toBe(false);
    expect(maxAbsDiff(lastLogits(out), lastLogits(fixture(m))).diff).toBe(0);
  });

  test('GPT-2: causal-mask buffers and a stored lm_head copy are ignored (and not saved back)', () => {
    const dir = editedCheckpoint(fixture('gpt2'), (t) => {
      t.set('transformer.h.0.attn.bias', { shape: [1, 1, 4, 4], data: new Float32Array(16).fill(1) });
      t.set('transformer.h.1.attn.masked_bias', { shape: [1], data: new Float32Array([-1e4]) });
      t.set('lm_head.weight', t.get('transformer.wte.weight')!);
    });
    expect(maxAbsDiff(lastLogits(dir), lastLogits(fixture('gpt2'))).diff).toBe(0);
    const names = [...loadModel(dir).namedParameters().keys()];
    expect(names.some((n) => n.endsWith('.attn.bias') || n.endsWith('masked_bias') || n === 'lm_head.weight')).toBe(false);
  });

  test('Llama: rotary inv_freq buffers are ignored; a tied model drops a stored lm_head copy', () => {
    const dir = editedCheckpoint(fixture('qwen2'), (t) => {
      t.set('model.layers.0.self_attn.rotary_emb.inv_freq', { shape: [8], data: new Float32Array(8) });
      t.set('lm_head.weight', t.get('model.embed_tokens.weight')!);
    });
    expect(maxAbsDiff(lastLogits(dir), lastLogits(fixture('qwen2'))).diff).toBe(0);
  });

  test('parameters(): module order, HF names, requiresGrad', () => {
    const gpt2 = loadModel(fixture('gpt2'));
    const names = gpt2.parameters().map((p) => p.name);
    expect(names.slice(0, 3)).toEqual(['transformer.wte.weight', 'transformer.wpe.weight', 'transformer.h.0.ln_1.weight']);
    expect(names[names.length - 1]).toBe('transformer.ln_f.bias');
    expect(gpt2.parameters().every((p) => p.requiresGrad)).toBe(true);
    const llama = loadModel(fixture('llama'));
    expect(llama.parameters().map((p) => p.name).at(-1)).toBe('lm_head.weight');
    const qwen = loadModel(fixture('qwen2'));
    expect(qwen.parameters().some((p) => p.name === 'model.layers.0.self_attn.k_proj.bias')).toBe(true);
    expect(qwen.parameters().some((p) => p.name === 'lm_head.weight')).toBe(false);
    expect(new Set(qwen.parameters().map((p) => p.name)).size).toBe(qwen.parameters().length);
  });

  test('save() into a directory keeps its other files (a run directory)', () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'metrics.jsonl'), '{"step":1}\n');
    loadModel(fixture('llama')).save(dir);
    expect(fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')).toBe('{"step":1}\n');
    expect(fs.readdirSync(dir).sort()).toEqual(['config.json', 'metrics.jsonl', 'model.safetensors']);
  });
});
