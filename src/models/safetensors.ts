// safetensors I/O: read F32/F16/BF16/F64 tensors as float32 (single file or sharded index), write F32/F16/BF16 with
// sorted names and a header padded to 8 bytes, byte-for-byte like ../shared/reference/torch_ref.py's writer.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CheckpointError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic.js';

export const SAFETENSORS_FILE = 'model.safetensors';
export const SAFETENSORS_INDEX = 'model.safetensors.index.json';

const BYTES: Record<string, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1, F8_E4M3: 1, F8_E5M2: 1,
  U16: 2, U32: 4, U64: 8,
};
/** dtypes read() turns into float32 */
export const READABLE_DTYPES = ['F32', 'F16', 'BF16', 'F64'] as const;
export type WriteDtype = 'F32' | 'F16' | 'BF16';

/** One tensor's header entry; begin/end are absolute byte offsets in `file`. */
export interface TensorEntry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
  file: string;
}

/** What the writer takes: a shape and its row-major data. */
export interface ShapedArray {
  shape: readonly number[];
  data: Float32Array | Float64Array;
}

function assertLittleEndian(): void {
  // safetensors is little-endian and we reinterpret bytes in place
  if (os.endianness() !== 'LE') throw new CheckpointError('safetensors I/O needs a little-endian machine');
}

function numel(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

function readFully(fd: number, buf: Uint8Array, position: number, file: string, what: string): void {
  let done = 0;
  while (done < buf.length) {
    const len = Math.min(buf.length - done, 1 << 30);
    const got = fs.readSync(fd, buf, done, len, position + done);
    if (got === 0) throw new CheckpointError(`${file}: unexpected end of file while reading ${what}`, 'the file is truncated; download or save it again');
    done += got;
  }
}

/** Parse and validate the header; tensors that are not described correctly are named in the error. */
function parseHeader(fd: number, file: string, fileSize: number): { entries: Map<string, TensorEntry>; metadata: Record<string, string> | null } {
  const bad = (problem: string): never => {
    throw new CheckpointError(`${file}: not a valid safetensors file: ${problem}`,
      'the file is corrupt or not safetensors; re-download it or save the checkpoint again');
  };
  if (fileSize < 8) bad(`only ${fileSize} bytes`);
  const lenBuf = Buffer.alloc(8);
  readFully(fd, lenBuf, 0, file, 'the header length');
  const n = Number(lenBuf.readBigUInt64LE(0));
  if (n < 2 || n > fileSize - 8 || n > 100_000_000) bad(`header length ${n} does not fit a ${fileSize}-byte file`);
  const hbuf = Buffer.alloc(n);
  readFully(fd, hbuf, 8, file, 'the header');
  let header: unknown;
  try {
    header = JSON.parse(hbuf.toString('utf8'));
  } catch (e) {
    bad(`header is not JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) bad('header is not a JSON object');
  const dataStart = 8 + n;
  const dataSize = fileSize - dataStart;
  const entries = new Map<string, TensorEntry>();
  let metadata: Record<string, string> | null = null;
  for (const [name, meta] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = meta as Record<string, string>;
      continue;
    }
    const m = meta as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const badT = (problem: string): never => bad(`tensor "${name}": ${problem}`);
    if (typeof m !== 'object' || m === null) badT('entry is not an object');
    if (typeof m.dtype !== 'string' || !(m.dtype in BYTES)) badT(`unknown dtype ${JSON.stringify(m.dtype)}`);
    if (!Array.isArray(m.shape) || !m.shape.every((s) => Number.isInteger(s) && s >= 0)) badT(`bad shape ${JSON.stringify(m.shape)}`);
    const off = m.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((x) => Number.isInteger(x) && x >= 0) || off[0] > off[1]) {
      badT(`bad data_offsets ${JSON.stringify(off)}`);
    }
    const [a, b] = off as number[];
    if (b > dataSize) badT(`data_offsets [${a}, ${b}] run past the end of the data (${dataSize} bytes); the file is truncated`);
    const shape = m.shape as number[];
    const want = numel(shape) * BYTES[m.dtype as string];
    if (b - a !== want) badT(`${b - a} bytes stored but shape [${shape}] of ${m.dtype} needs ${want}`);
    entries.set(name, { name, dtype: m.dtype as string, shape, begin: dataStart + a, end: dataStart + b, file });
  }
  return { entries, metadata };
}

/** IEEE half -> float (subnormals, inf and NaN included). */
function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float -> IEEE half, round to nearest even (what torch's .half() does). */
function floatToHalf(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    if (rest > half || (rest === half && (r & 1))) r++;
    return sign | r;
  }
  let r = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (r & 1))) r++; // a carry into the exponent is still the right value
  return sign | r;
}

/** float -> bfloat16, round to nearest even (torch's .bfloat16()). */
function floatToBf16(x: number): number {
  f32[0] = x;
  const b = u32[0];
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff)) return ((b >>> 16) | 0x40) & 0xffff; // keep NaN a NaN
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

/** An open .safetensors file: the header is parsed once; tensors are read one at a time, straight into their arrays. */
export class SafetensorsReader {
  readonly file: string;
  readonly entries: Map<string, TensorEntry>;
  readonly metadata: Record<string, string> | null;
  private fd: number | null;

  private constructor(file: string, fd: number, entries: Map<string, TensorEntry>, metadata: Record<string, string> | null) {
    this.file = file;
    this.fd = fd;
    this.entries = entries;
    this.metadata = metadata;
  }

  static open(file: string): SafetensorsReader {
    assertLittleEndian();
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (e) {
      throw new CheckpointError(`${file}: cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
        'check the checkpoint directory path');
    }
    try {
      const { entries, metadata } = parseHeader(fd, file, fs.fstatSync(fd).size);
      return new SafetensorsReader(file, fd, entries, metadata);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  /** The tensor as float32 (a fresh array it owns: no view into a shared file buffer). */
  read(name: string): Float32Array {
    const e = this.entries.get(name);
    if (!e) throw new CheckpointError(`${this.file}: no tensor "${name}"`);
    if (this.fd === null) throw new Error(`${this.file}: reader is closed`);
    const n = numel(e.shape);
    if (e.dtype === 'F32') {
      const out = new Float32Array(n);
      readFully(this.fd, new Uint8Array(out.buffer), e.begin, this.file, `tensor "${name}"`);
      return out;
    }
    if (e.dtype === 'F16' || e.dtype === 'BF16') {
      const raw = new Uint16Array(n);
      readFully(this.fd, new Uint8Array(raw.buffer), e.begin, this.file, `tensor "${name}"`);
      const out = new Float32Array(n);
      if (e.dtype === 'BF16') {
        const bits = new Uint32Array(out.buffer); // bf16 is float32's top 16 bits
        for (let i = 0; i < n; i++) bits[i] = raw[i] << 16;
      } else {
        for (let i = 0; i < n; i++) out[i] = halfToFloat(raw[i]);
      }
      return out;
    }
    if (e.dtype === 'F64') {
      const raw = new Float64Array(n);
      readFully(this.fd, new Uint8Array(raw.buffer), e.begin, this.file, `tensor "${name}"`);
      return Float32Array.from(raw);
    }
    throw new CheckpointError(`${this.file}: tensor "${name}" has dtype ${e.dtype}; only ${READABLE_DTYPES.join('/')} are read as weights`,
      'convert the checkpoint to float32, float16 or bfloat16 (e.g. model.to(torch.float32).save_pretrained(dir))');
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}

/** A tensor as readSafetensors returns it; dtype is what the file stored (absent on entries a caller adds). */
export interface ReadTensor {
  shape: number[];
  data: Float32Array;
  dtype?: string;
}

/** Read every tensor of one file (small files, tests); the map can be edited and given back to writeSafetensors. */
export function readSafetensors(file: string): Map<string, ReadTensor> {
  const r = SafetensorsReader.open(file);
  try {
    const out = new Map<string, ReadTensor>();
    for (const e of r.entries.values()) out.set(e.name, { dtype: e.dtype, shape: e.shape, data: r.read(e.name) });
    return out;
  } finally {
    r.close();
  }
}

/** The tensors of a checkpoint directory, from model.safetensors or the shards named by the index. */
export class CheckpointTensors {
  readonly dir: string;
  /** what error messages name: the single file, or the index */
  readonly source: string;
  readonly entries = new Map<string, TensorEntry>();
  private readers: SafetensorsReader[] = [];

  private constructor(dir: string, source: string) {
    this.dir = dir;
    this.source = source;
  }

  static open(dir: string): CheckpointTensors {
    const single = path.join(dir, SAFETENSORS_FILE);
    const index = path.join(dir, SAFETENSORS_INDEX);
    if (fs.existsSync(single)) {
      const ct = new CheckpointTensors(dir, single);
      ct.add(SafetensorsReader.open(single));
      return ct;
    }
    if (fs.existsSync(index)) return CheckpointTensors.openIndex(dir, index);
    const other = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /\.(bin|pt|pth|ckpt|gguf)$/.test(f)) : [];
    throw new CheckpointError(`${dir}: no ${SAFETENSORS_FILE} or ${SAFETENSORS_INDEX}` +
      (other.length ? ` (found ${other.join(', ')})` : ''),
      other.length ? 'convert the weights to safetensors (model.save_pretrained(dir, safe_serialization=True))'
        : 'point --model at a Hugging Face checkpoint directory, or create one with "ual init"');
  }

  private static openIndex(dir: string, index: string): CheckpointTensors {
    let parsed: { weight_map?: Record<string, string> };
    try {
      parsed = JSON.parse(fs.readFileSync(index, 'utf8'));
    } catch (e) {
      throw new CheckpointError(`${index}: not valid JSON (${(e as Error).message})`, 're-download or re-save the checkpoint');
    }
    const map = parsed?.weight_map;
    if (typeof map !== 'object' || map === null) {
      throw new CheckpointError(`${index}: has no "weight_map" object`, 'a sharded index maps every tensor name to its shard file');
    }
    const ct = new CheckpointTensors(dir, index);
    try {
      const byShard = new Map<string, string[]>();
      for (const [name, shard] of Object.entries(map)) {
        if (typeof shard !== 'string' || shard.includes('/') || shard.includes('\\')) {
          throw new CheckpointError(`${index}: tensor "${name}" maps to ${JSON.stringify(shard)}, not a shard file name`);
        }
        byShard.set(shard, [...(byShard.get(shard) ?? []), name]);
      }
      for (const [shard, names] of byShard) {
        const file = path.join(dir, shard);
        if (!fs.existsSync(file)) {
          throw new CheckpointError(`${index}: shard ${shard} (holding "${names[0]}"${names.length > 1 ? ` and ${names.length - 1} more` : ''}) is missing from ${dir}`,
            'download every shard listed in the index');
        }
        const r = SafetensorsReader.open(file);
        ct.readers.push(r);
        for (const name of names) {
          const e = r.entries.get(name);
          if (!e) throw new CheckpointError(`${index}: tensor "${name}" is listed in ${shard} but ${file} does not hold it`, 're-download the shard; the index and the shard disagree');
          ct.entries.set(name, e);
        }
      }
    } catch (e) {
      ct.close();
      throw e;
    }
    return ct;
  }

  private add(r: SafetensorsReader): void {
    this.readers.push(r);
    for (const [name, e] of r.entries) this.entries.set(name, e);
  }

  read(name: string): Float32Array {
    const e = this.entries.get(name);
    if (!e) throw new CheckpointError(`${this.source}: no tensor "${name}"`);
    const r = this.readers.find((x) => x.file === e.file);
    if (!r) throw new Error(`no open reader for ${e.file}`);
    return r.read(name);
  }

  close(): void {
    for (const r of this.readers) r.close();
    this.readers = [];
  }
}

/** Python's json.dumps spacing, so our header is byte-identical to torch_ref's (and HF's) for the same tensors. */
function headerJson(entries: [string, { dtype: string; shape: readonly number[]; data_offsets: [number, number] }][],
  metadata: Record<string, string> | undefined): string {
  const parts: string[] = [];
  if (metadata) {
    const m = Object.keys(metadata).sort().map((k) => `${JSON.stringify(k)}: ${JSON.stringify(metadata[k])}`);
    parts.push(`"__metadata__": {${m.join(', ')}}`);
  }
  for (const [name, e] of entries) {
    parts.push(`${JSON.stringify(name)}: {"dtype": "${e.dtype}", "shape": [${e.shape.join(', ')}], ` +
      `"data_offsets": [${e.data_offsets[0]}, ${e.data_offsets[1]}]}`);
  }
  return `{${parts.join(', ')}}`;
}

/** Serialize tensors (names sorted, header space-padded to a multiple of 8) into one buffer. */
export function encodeSafetensors(tensors: Map<string, ShapedArray> | Record<string, ShapedArray>,
  opts: { dtype?: WriteDtype; metadata?: Record<string, string> } = {}): Uint8Array {
  assertLittleEndian();
  const dtype = opts.dtype ?? 'F32';
  const width = BYTES[dtype];
  const map = tensors instanceof Map ? tensors : new Map(Object.entries(tensors));
  const names = [...map.keys()].sort();
  let offset = 0;
  const entries: [string, { dtype: string; shape: readonly number[]; data_offsets: [number, number] }][] = [];
  for (const name of names) {
    const t = map.get(name)!;
    if (t.data.length !== numel(t.shape)) throw new Error(`safetensors: "${name}" has ${t.data.length} values but shape [${t.shape}]`);
    const len = t.data.length * width;
    entries.push([name, { dtype, shape: t.shape, data_offsets: [offset, offset + len] }]);
    offset += len;
  }
  let header = Buffer.from(headerJson(entries, opts.metadata), 'utf8');
  const pad = (8 - (header.length % 8)) % 8;
  if (pad) header = Buffer.concat([header, Buffer.alloc(pad, 0x20)]);
  const out = new Uint8Array(8 + header.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  let pos = 8 + header.length;
  for (const name of names) {
    const t = map.get(name)!;
    const n = t.data.length;
    if (dtype === 'F32') {
      const src = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
      out.set(new Uint8Array(src.buffer, src.byteOffset, n * 4), pos);
    } else {
      const dst = new Uint16Array(n);
      const conv = dtype === 'F16' ? floatToHalf : floatToBf16;
      for (let i = 0; i < n; i++) dst[i] = conv(t.data[i]);
      out.set(new Uint8Array(dst.buffer), pos);
    }
    pos += n * width;
  }
  return out;
}

/** Write a .safetensors file atomically (a crash leaves the old file or the new one, never half of one). */
export function writeSafetensors(file: string, tensors: Map<string, ShapedArray> | Record<string, ShapedArray>,
  opts: { dtype?: WriteDtype; metadata?: Record<string, string> } = {}): void {
  writeFileAtomic(file, encodeSafetensors(tensors, opts));
}
