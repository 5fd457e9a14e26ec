// Checkpoints past 2 GiB (the size of a 0.5B model in fp32): one tensor of just over 2 GiB is saved as one file
// and sharded, then read back through the loader; every byte must come back (each of the big tensor's values against
// the pattern it was filled with, exact small tensors, every size). Costs ~2.2 GB of disk and of memory at a time.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { CheckpointTensors, saveWeights, type ShapedArray } from '../../src/models/index.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-large-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const BIG = 2 ** 29 + 2 ** 20; // float32 values: 2 GiB + 4 MiB
const SMALL_A = Float32Array.from({ length: 1000 }, (_, i) => i / 7 - 50);
const SMALL_B = new Float32Array([Infinity, -0, 3.5]);

/** the big tensor's bits at i: every bit varies across values, NaN patterns included */
const pattern = (i: number) => (Math.imul(i, 2654435761) ^ 0x3f000000) >>> 0;

/** Save the three tensors (big in the middle); the big one is garbage once this returns. */
function save(dir: string, maxShardSize?: number): void {
  const big = new Float32Array(BIG);
  const bits = new Uint32Array(big.buffer);
  for (let i = 0; i < BIG; i++) bits[i] = pattern(i);
  const tensors = new Map<string, ShapedArray>([
    ['small.a', { shape: [10, 100], data: SMALL_A }],
    ['big', { shape: [BIG / 1024, 1024], data: big }],
    ['small.b', { shape: [3], data: SMALL_B }],
  ]);
  saveWeights(dir, tensors, { maxShardSize });
}

const SHAPES = { 'small.a': [10, 100], big: [BIG / 1024, 1024], 'small.b': [3] };

/** Read every tensor back through the loader: shapes, each of the big one's values against its pattern, the small ones. */
function expectReadBack(dir: string): void {
  const ct = CheckpointTensors.open(dir);
  try {
    expect(Object.fromEntries([...ct.entries].map(([n, e]) => [n, e.shape]))).toEqual(SHAPES);
    const bits = new Uint32Array(ct.read('big').buffer);
    expect(bits.length).toBe(BIG);
    let wrong = 0;
    for (let i = 0; i < bits.length; i++) if (bits[i] !== pattern(i)) wrong++;
    expect(wrong).toBe(0);
    expect(ct.read('small.a')).toEqual(SMALL_A);
    expect(ct.read('small.b')).toEqual(SMALL_B);
  } finally {
    ct.close();
  }
  fs.rmSync(dir, { recursive: true });
}

describe('checkpoints larger than 2 GiB', () => {
  test('one model.safetensors of 2 GiB + 4 MiB writes and reads back byte for byte', () => {
    const dir = path.join(root, 'single');
    save(dir);
    expect(fs.readdirSync(dir)).toEqual(['model.safetensors']);
    const size = fs.statSync(path.join(dir, 'model.safetensors')).size;
    expect(size).toBeGreaterThan(2 ** 31);
    const header = Buffer.alloc(8);
    const fd = fs.openSync(path.join(dir, 'model.safetensors'), 'r');
    fs.readSync(fd, header, 0, 8, 0);
    fs.closeSync(fd);
    expect(size).toBe(8 + Number(header.readBigUInt64LE(0)) + (BIG + 1000 + 3) * 4);
    expectReadBack(dir);
  });

  test('sharded at 1GB: the big tensor alone in the first shard, the small ones together after it', () => {
    const dir = path.join(root, 'sharded');
    save(dir, 1e9);
    expect(fs.readdirSync(dir).sort()).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json']);
    const index = JSON.parse(fs.readFileSync(path.join(dir, 'model.safetensors.index.json'), 'utf8'));
    expect(index).toEqual({
      metadata: { total_parameters: BIG + 1003, total_size: (BIG + 1003) * 4 },
      weight_map: { big: 'model-00001-of-00002.safetensors', 'small.a': 'model-00002-of-00002.safetensors', 'small.b': 'model-00002-of-00002.safetensors' },
    });
    expect(fs.statSync(path.join(dir, 'model-00001-of-00002.safetensors')).size).toBeGreaterThan(2 ** 31);
    expectReadBack(dir);
  });
});
