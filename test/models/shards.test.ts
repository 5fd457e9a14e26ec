// Sharded saving as transformers' save_pretrained does it (split rule, file names, index JSON), sizes as
// huggingface_hub parses them, stale weight files of an earlier save removed, and saves that fail or are killed
// midway leave the previous checkpoint as it was.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { noGrad } from '../../src/engine/index.js';
import {
  SafetensorsReader, loadModel, parseSize, planShards, readSafetensors, saveOptions, saveWeights, type ShapedArray,
} from '../../src/models/index.js';
import { UalError } from '../../src/errors.js';
import { buildCli, startCli } from '../helpers/cli.js';
import { cleanupTmp, fixture, promptIds, readJson, tmpDir } from './helpers.js';

afterAll(cleanupTmp);

const sha = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
/** every file of dir with its sha256 */
const snapshot = (dir: string) => Object.fromEntries(fs.readdirSync(dir).sort().map((f) => [f, sha(path.join(dir, f))]));
const temps = (dir: string) => fs.readdirSync(dir).filter((f) => f.includes('.tmp-'));

describe('sizes and the split rule', () => {
  test('parseSize reads what transformers accepts (GB = 1e9, GiB = 2^30) and names the flag otherwise', () => {
    const ok: [string, number][] = [
      ['5GB', 5e9], ['500MB', 5e8], ['2GB', 2e9], ['1GiB', 2 ** 30], ['1gib', 2 ** 30], ['10KB', 1e4], ['3MiB', 3 * 2 ** 20],
      ['1.5GB', 1.5e9], ['123', 123], ['64B', 64], ['1TB', 1e12], [' 7 MB ', 7e6],
    ];
    for (const [s, n] of ok) expect(parseSize(s), s).toBe(n);
    for (const bad of ['', 'GB', '5XB', '-1', '0', '0.1B', '5 G B', 'five']) {
      let err: unknown;
      try { parseSize(bad); } catch (e) { err = e; }
      expect(err, bad).toBeInstanceOf(UalError);
      expect((err as UalError).message).toContain(`--max-shard-size must be a size such as 5GB, 500MB, 1GiB or a number of bytes, got "${bad}"`);
    }
    expect(() => saveOptions('fp64')).toThrow('--save-dtype must be one of fp32, bf16, fp16, got "fp64"');
    expect(saveOptions()).toEqual({ dtype: 'fp32', maxShardSize: 5e9 });
  });

  test('huggingface_hub\'s documented example and a tensor larger than the limit', () => {
    // "weights of sizes [6GB, 6GB, 2GB, 6GB, 2GB, 2GB] get sharded as [6GB], [6+2GB], [6+2+2GB]" (limit 10GB)
    const sizes: [string, number][] = [['a', 6], ['b', 6], ['c', 2], ['d', 6], ['e', 2], ['f', 2]];
    expect(planShards(sizes, 10)).toEqual([['a'], ['b', 'c'], ['d', 'e', 'f']]);
    // a tensor above the limit gets its own shard, appended when it is met (ahead of the shard still being filled)
    expect(planShards([['a', 2], ['big', 15], ['b', 3], ['c', 7]], 10)).toEqual([['big'], ['a', 'b'], ['c']]);
    expect(planShards([['a', 10], ['b', 1]], 10)).toEqual([['a'], ['b']]);
    expect(planShards([], 10)).toEqual([]);
  });
});

describe('sharded layout', () => {
  // fixtures/torch/qwen2: V 128, C 64, 4 heads / 2 kv (hd 16), F 192, 2 layers, tied. fp32 bytes: embed 32768,
  // q 16384 (+256 bias), k and v 8192 (+128), o 16384, gate/up/down 49152 each, norms 256. With a 40000-byte limit
  // and transformers' state_dict order (self_attn, mlp, input_layernorm, post_attention_layernorm) the split is:
  const L = (i: number, rest: string[]) => rest.map((r) => `model.layers.${i}.${r}`);
  const QKV = ['self_attn.q_proj.weight', 'self_attn.q_proj.bias', 'self_attn.k_proj.weight', 'self_attn.k_proj.bias',
    'self_attn.v_proj.weight', 'self_attn.v_proj.bias'];
  const EXPECTED = [
    ['model.embed_tokens.weight'],
    L(0, QKV),
    L(0, ['mlp.gate_proj.weight']),
    L(0, ['mlp.up_proj.weight']),
    L(0, ['mlp.down_proj.weight']),
    [...L(0, ['self_attn.o_proj.weight', 'input_layernorm.weight', 'post_attention_layernorm.weight']),
      ...L(1, ['self_attn.q_proj.weight', 'self_attn.q_proj.bias'])],
    L(1, ['mlp.gate_proj.weight']),
    L(1, ['mlp.up_proj.weight']),
    L(1, ['mlp.down_proj.weight']),
    [...L(1, QKV.slice(2)), ...L(1, ['self_attn.o_proj.weight', 'input_layernorm.weight', 'post_attention_layernorm.weight']),
      'model.norm.weight'],
  ];
  const name = (i: number) => `model-${String(i + 1).padStart(5, '0')}-of-00010.safetensors`;

  test('qwen2 fixture at --max-shard-size 40000: file names, index JSON, big tensors alone, loads bit-exact', () => {
    const model = loadModel(fixture('qwen2'));
    const dir = tmpDir();
    model.save(dir, { maxShardSize: 40000 });
    expect(fs.readdirSync(dir).sort()).toEqual(['config.json', ...EXPECTED.map((_, i) => name(i)), 'model.safetensors.index.json']);

    const params = model.namedParameters();
    const totalParameters = [...params.values()].reduce((n, t) => n + t.size, 0);
    const weightMap: Record<string, string> = {};
    const sorted = EXPECTED.flatMap((names, i) => names.map((n) => [n, name(i)] as const)).sort(([a], [b]) => (a < b ? -1 : 1));
    for (const [n, f] of sorted) weightMap[n] = f;
    const index = { metadata: { total_parameters: totalParameters, total_size: totalParameters * 4 }, weight_map: weightMap };
    const text = fs.readFileSync(path.join(dir, 'model.safetensors.index.json'), 'utf8');
    expect(text).toBe(JSON.stringify(index, null, 2) + '\n'); // json.dumps(indent=2, sort_keys=True) + "\n"
    expect(Object.keys(readJson<typeof index>(path.join(dir, 'model.safetensors.index.json')).weight_map)).toEqual(Object.keys(weightMap).sort());
    expect(Object.keys(weightMap).sort()).toEqual([...params.keys()].sort());

    EXPECTED.forEach((names, i) => {
      const r = SafetensorsReader.open(path.join(dir, name(i)));
      expect([...r.entries.keys()], name(i)).toEqual([...names].sort());
      expect(r.metadata).toEqual({ format: 'pt' });
      r.close();
    });
    for (const big of ['gate_proj', 'up_proj', 'down_proj']) {
      const shard = EXPECTED.findIndex((n) => n.length === 1 && n[0].includes(big));
      expect(fs.statSync(path.join(dir, name(shard))).size).toBeGreaterThan(40000);
    }

    const back = loadModel(dir).namedParameters();
    for (const [n, t] of params) expect(Buffer.from(back.get(n)!.data.buffer).equals(Buffer.from(t.data.buffer)), n).toBe(true);
    const ids = Int32Array.from(promptIds());
    const logits = (m: ReturnType<typeof loadModel>) => noGrad(() => m.forward(ids, 1, ids.length).logits.data);
    expect(logits(loadModel(dir))).toEqual(logits(model));
  });

  test('a later save replaces the earlier set: stale shards, index or single file go, other files stay', () => {
    const model = loadModel(fixture('qwen2'));
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'metrics.jsonl'), '{"step":1}\n');
    fs.writeFileSync(path.join(dir, 'model-notes.txt'), 'mine');
    const weights = () => fs.readdirSync(dir).filter((f) => f.endsWith('.safetensors') || f.endsWith('.json')).sort();
    const shards = (n: number) => Array.from({ length: n }, (_, i) => `model-${String(i + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`);

    model.save(dir, { maxShardSize: 40000 });
    expect(weights()).toEqual(['config.json', ...shards(10), 'model.safetensors.index.json']);
    model.save(dir); // 5GB: one file
    expect(weights()).toEqual(['config.json', 'model.safetensors']);
    model.save(dir, { maxShardSize: 150000 });
    const n = fs.readdirSync(dir).filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f)).length;
    expect(n).toBeGreaterThan(1);
    expect(n).toBeLessThan(10);
    expect(weights()).toEqual(['config.json', ...shards(n), 'model.safetensors.index.json']);
    model.save(dir, { maxShardSize: 40000, dtype: 'bf16' }); // half the bytes: fewer shards than fp32 at this limit
    const m = fs.readdirSync(dir).filter((f) => /^model-/.test(f) && f.endsWith('.safetensors')).length;
    expect(weights()).toEqual(['config.json', ...shards(m), 'model.safetensors.index.json']);
    expect(readJson<{ metadata: { total_size: number } }>(path.join(dir, 'model.safetensors.index.json')).metadata.total_size)
      .toBe(model.parameters().reduce((k, p) => k + p.size, 0) * 2);
    expect(fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')).toBe('{"step":1}\n');
    expect(fs.readFileSync(path.join(dir, 'model-notes.txt'), 'utf8')).toBe('mine');
    expect(temps(dir)).toEqual([]);
  });
});

describe('a save that fails or is killed midway', () => {
  /** the fixture's tensors plus one, sorted last in its file, whose data cannot be read once writing has begun */
  function failingTensors(dir: string): Map<string, ShapedArray> {
    const t = new Map<string, ShapedArray>();
    for (const [n, v] of readSafetensors(fixture('llama', 'model.safetensors'))) t.set(n, { shape: v.shape, data: v.data });
    const data = new Float32Array(64);
    t.set('zz.failing', {
      shape: [64],
      get data() {
        if (temps(dir).length > 0) throw new Error('simulated failure while writing');
        return data;
      },
    });
    return t;
  }

  test.each([['one file', 5e9], ['sharded', 60000]] as const)('%s: an exception leaves the previous checkpoint and no temp files', (_, max) => {
    const dir = tmpDir();
    loadModel(fixture('llama')).save(dir, { maxShardSize: 60000 });
    const before = snapshot(dir);
    expect(() => saveWeights(dir, failingTensors(dir), { maxShardSize: max })).toThrow('simulated failure while writing');
    expect(snapshot(dir)).toEqual(before);
    expect(temps(dir)).toEqual([]);
    expect(loadModel(dir).config.modelType).toBe('llama');
  });

  test('SIGKILL while writing: the previous checkpoint loads unchanged; the next save removes the dead writer\'s temp files', async () => {
    const { bin, cleanup } = buildCli('shards-kill');
    try {
      const dir = tmpDir();
      const model = loadModel(fixture('llama'));
      model.save(dir);
      const before = snapshot(dir);
      // a child that saves ~400 MB into the same directory, sharded, so the write takes a while
      const script = path.join(path.dirname(path.dirname(bin)), 'save-big.mjs');
      fs.writeFileSync(script, `import { saveWeights } from './dist/models/index.js';
const t = new Map();
for (let i = 0; i < 3; i++) t.set('w' + i, { shape: [32 << 20], data: new Float32Array(32 << 20).fill(i) });
saveWeights(process.argv[2], t, { maxShardSize: 200e6 });
`);
      const { child, done } = startCli(script, [dir]);
      await new Promise<void>((ok) => {
        const t = setInterval(() => { if (temps(dir).length > 0) { clearInterval(t); child.kill('SIGKILL'); ok(); } }, 1);
      });
      const r = await done;
      expect(r.signal).toBe('SIGKILL');
      const left = temps(dir);
      expect(left.length).toBeGreaterThan(0);
      expect(left.every((f) => f.includes(`.tmp-${child.pid}-`))).toBe(true);
      const now = snapshot(dir);
      for (const f of left) delete now[f];
      expect(now).toEqual(before);
      expect(noGrad(() => loadModel(dir).forward(Int32Array.from(promptIds()), 1, promptIds().length).logits.data))
        .toEqual(noGrad(() => model.forward(Int32Array.from(promptIds()), 1, promptIds().length).logits.data));

      model.save(dir, { dtype: 'bf16' });
      expect(temps(dir)).toEqual([]);
      expect(fs.readdirSync(dir).sort()).toEqual(['config.json', 'model.safetensors']);
    } finally {
      cleanup();
    }
  });
});
