// Half-precision saving as torch rounds: exact bf16/fp16 bit patterns written for ties, overflow, inf, NaN and
// subnormals; and a model saved with --save-dtype bf16/fp16 loads back as exactly the rounded float32 weights.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { loadModel, readSafetensors, SafetensorsReader, writeSafetensors } from '../../src/models/index.js';
import { floatsToBf16 } from '../../src/models/dtypes.js';
import { cleanupTmp, fixture, readJson, tmpDir } from './helpers.js';

afterAll(cleanupTmp);

/** The stored 16-bit patterns of a one-tensor file. */
function storedBits(file: string): number[] {
  const bytes = fs.readFileSync(file);
  const start = 8 + Number(bytes.readBigUInt64LE(0));
  const out: number[] = [];
  for (let i = start; i < bytes.length; i += 2) out.push(bytes.readUInt16LE(i));
  return out;
}

function writeBits(dtype: 'BF16' | 'F16', values: Float32Array): number[] {
  const file = path.join(tmpDir(), `${dtype}.safetensors`);
  writeSafetensors(file, { x: { shape: [values.length], data: values } }, { dtype });
  return storedBits(file);
}

const hex = (xs: number[]) => xs.map((x) => '0x' + x.toString(16).padStart(4, '0'));

describe('float32 -> bfloat16 (c10 round_to_nearest_even)', () => {
  // [float32 bits, bfloat16 bits]
  const CASES: [number, number][] = [
    [0x3f800000, 0x3f80], // 1
    [0x3f808000, 0x3f80], // tie, even below: stays
    [0x3f818000, 0x3f82], // tie, odd below: up to even
    [0x3f808001, 0x3f81], // just above the tie
    [0x3f807fff, 0x3f80], // just below the tie
    [0xbf818000, 0xbf82], // negative tie
    [0x7f7f7fff, 0x7f7f], // large, below the tie
    [0x7f7fffff, 0x7f80], // FLT_MAX rounds to inf
    [0x7f800000, 0x7f80], // inf
    [0xff800000, 0xff80], // -inf
    [0x7fc00000, 0x7fc0], // NaN
    [0xffc00001, 0x7fc0], // negative NaN with payload: the canonical NaN
    [0x00000001, 0x0000], // smallest subnormal rounds to 0
    [0x00008000, 0x0000], // subnormal tie, even
    [0x00018000, 0x0002], // subnormal tie, odd: up
    [0x00010000, 0x0001], // a bf16 subnormal, exact
    [0x007fffff, 0x0080], // largest subnormal rounds up to the smallest normal
    [0x80000000, 0x8000], // -0
  ];
  test('bit patterns', () => {
    const values = new Float32Array(Uint32Array.from(CASES.map(([b]) => b)).buffer);
    expect(hex(writeBits('BF16', values))).toEqual(hex(CASES.map(([, h]) => h)));
  });

  test('the same bits from the bulk conversion and from reading an F32 or BF16 tensor into a bf16 base', () => {
    const values = new Float32Array(Uint32Array.from(CASES.map(([b]) => b)).buffer);
    const want = hex(CASES.map(([, h]) => h));
    const bits = new Uint16Array(values.length);
    floatsToBf16(values, bits);
    expect(hex([...bits])).toEqual(want);
    for (const dtype of ['F32', 'BF16'] as const) {
      const file = path.join(tmpDir(), `base-${dtype}.safetensors`);
      writeSafetensors(file, { x: { shape: [values.length], data: values } }, { dtype });
      const r = SafetensorsReader.open(file);
      try { expect(hex([...r.readBf16('x')]), dtype).toEqual(want); } finally { r.close(); }
    }
  });
});

describe('float32 -> float16 (c10 fp16_ieee_from_fp32_value)', () => {
  const CASES: [number, number][] = [
    [1, 0x3c00],
    [1 + 2 ** -11, 0x3c00], // tie, even below
    [1 + 3 * 2 ** -11, 0x3c02], // tie, odd below: up
    [1 + 2 ** -11 + 2 ** -20, 0x3c01], // above the tie
    [65504, 0x7bff], // largest finite
    [65519.99609375, 0x7bff], // below the tie with 65536
    [65520, 0x7c00], // the tie rounds to even = inf
    [1e5, 0x7c00],
    [-1e5, 0xfc00],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
    [NaN, 0x7e00],
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // half of it: tie to even 0
    [2 ** -25 + 2 ** -40, 0x0001], // just above: up
    [3 * 2 ** -25, 0x0002], // 1.5 ulp: tie to even 2
    [5 * 2 ** -25, 0x0002], // 2.5 ulp: tie to even 2
    [2 ** -14 - 2 ** -25, 0x0400], // tie between the largest subnormal (odd) and the smallest normal
    [2 ** -14, 0x0400],
    [1e-8, 0x0000],
    [-0, 0x8000],
    [-2.5, 0xc100],
  ];
  test('bit patterns', () => {
    expect(hex(writeBits('F16', Float32Array.from(CASES.map(([x]) => x))))).toEqual(hex(CASES.map(([, h]) => h)));
  });

  test('a negative NaN keeps its sign', () => {
    const v = new Float32Array(new Uint32Array([0xffc00000]).buffer);
    expect(hex(writeBits('F16', v))).toEqual(hex([0xfe00]));
  });
});

/** x rounded to `mant` fraction bits with exponents >= minExp (subnormals below), ties to even; beyond max -> inf. */
function roundRef(x: number, mant: number, minExp: number, max: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  let e = Math.max(Math.floor(Math.log2(Math.abs(x))), minExp);
  if (e > minExp && 2 ** e > Math.abs(x)) e--;
  const ulp = 2 ** (e - mant);
  const q = x / ulp;
  const f = Math.floor(q);
  const r = q - f > 0.5 || (q - f === 0.5 && f % 2 !== 0) ? f + 1 : f;
  const y = r * ulp;
  return Math.abs(y) > max ? Math.sign(y) * Infinity : y;
}

const REF = {
  bf16: (x: number) => roundRef(x, 7, -126, (2 - 2 ** -7) * 2 ** 127),
  fp16: (x: number) => roundRef(x, 10, -14, 65504),
};

describe('save with --save-dtype, load back', () => {
  test.each(['gpt2', 'llama', 'qwen2'] as const)('%s: bf16 and fp16 checkpoints load as exactly the rounded weights', (m) => {
    const model = loadModel(fixture(m));
    for (const dtype of ['bf16', 'fp16'] as const) {
      const dir = tmpDir();
      model.save(dir, { dtype });
      const stored = readSafetensors(path.join(dir, 'model.safetensors'));
      expect([...stored.values()].every((t) => t.dtype === (dtype === 'bf16' ? 'BF16' : 'F16'))).toBe(true);
      expect(readJson<Record<string, unknown>>(path.join(dir, 'config.json')).torch_dtype).toBe(dtype === 'bf16' ? 'bfloat16' : 'float16');
      const back = loadModel(dir).namedParameters();
      let rounded = 0;
      for (const [name, t] of model.namedParameters()) {
        const got = back.get(name)!.data;
        const want = Float32Array.from(t.data, REF[dtype]);
        expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer)), `${m} ${dtype} ${name}`).toBe(true);
        for (let i = 0; i < want.length; i++) if (want[i] !== t.data[i]) rounded++;
      }
      expect(rounded, 'the weights really were rounded').toBeGreaterThan(1000);
    }
  });
});
