// safetensors I/O: read F32/F16/BF16/F64 tensors as float32 (single file or sharded index), each straight from the
// file into its own array; write F32/F16/BF16 streamed tensor by tensor, byte-for-byte like torch_ref.py's writer.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CheckpointError } from '../errors.js';
import { writeAll, writeFilesAtomic, type FileWriter } from '../util/atomic.js';
import { bf16ToFloat, floatToBf16, floatToHalf, floatsToBf16, halfToFloat } from './dtypes.js';

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

/** What the writer takes: a shape and its row-major data; a Uint16Array holds bfloat16 bits (a bf16 base's weights). */
export interface ShapedArray {
  shape: readonly number[];
  data: Float32Array | Float64Array | Uint16Array;
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

/** values per conversion chunk when reading or writing half precision (4 MiB of float32) */
const CHUNK = 1 << 20;
/** bytes per readSync call; also keeps every Uint8Array view under V8's 4 GiB typed-array limit */
const READ_CHUNK = 1 << 30;

/** Fill `view` with the file's bytes at `position` (a tensor's bytes go straight into its own array). */
function readFully(fd: number, view: ArrayBufferView, position: number, file: string, what: string): void {
  let done = 0;
  while (done < view.byteLength) {
    const len = Math.min(view.byteLength - done, READ_CHUNK);
    const got = fs.readSync(fd, new Uint8Array(view.buffer, view.byteOffset + done, len), 0, len, position + done);
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
    return this.readInto(name, new Float32Array(numel(e.shape)));
  }

  /** Read the tensor as float32 into `out`, which must hold exactly its values (no intermediate copy). */
  readInto(name: string, out: Float32Array): Float32Array {
    const e = this.readable(name);
    const n = numel(e.shape);
    if (out.length !== n) {
      throw new CheckpointError(`${this.file}: tensor "${name}" has shape [${e.shape}] (${n} values), expected ${out.length} values`,
        'the file was saved for a different model or parameter list');
    }
    this.readValues(e, 0, out);
    return out;
  }

  /**
   * The tensor as bfloat16 bits (a frozen base kept in bf16): BF16 is read as stored; F32/F16/F64 are read a chunk at a
   * time and rounded to nearest even as torch's .to(torch.bfloat16), so no float32 copy of the tensor ever exists.
   */
  readBf16(name: string): Uint16Array {
    const e = this.readable(name);
    const n = numel(e.shape);
    const out = new Uint16Array(n);
    if (e.dtype === 'BF16') {
      readFully(this.fd!, out, e.begin, this.file, `tensor "${name}"`);
      return out;
    }
    const vals = new Float32Array(Math.min(n, CHUNK));
    for (let i = 0; i < n; i += CHUNK) {
      const part = vals.subarray(0, Math.min(CHUNK, n - i));
      this.readValues(e, i, part);
      floatsToBf16(part, out.subarray(i, i + part.length));
    }
    return out;
  }

  private readable(name: string): TensorEntry {
    const e = this.entries.get(name);
    if (!e) throw new CheckpointError(`${this.file}: no tensor "${name}"`);
    if (this.fd === null) throw new Error(`${this.file}: reader is closed`);
    if (!(READABLE_DTYPES as readonly string[]).includes(e.dtype)) {
      throw new CheckpointError(`${this.file}: tensor "${name}" has dtype ${e.dtype}; only ${READABLE_DTYPES.join('/')} are read as weights`,
        'convert the checkpoint to float32, float16 or bfloat16 (e.g. model.to(torch.float32).save_pretrained(dir))');
    }
    return e;
  }

  /** values [start, start + out.length) of a readable tensor, as float32 */
  private readValues(e: TensorEntry, start: number, out: Float32Array): void {
    const what = `tensor "${e.name}"`;
    const width = BYTES[e.dtype];
    if (e.dtype === 'F32') {
      readFully(this.fd!, out, e.begin + start * width, this.file, what);
      return;
    }
    const n = out.length;
    // converted a chunk at a time, so reading costs the tensor's float32 array and no copy of its stored bytes
    const raw = e.dtype === 'F64' ? new Float64Array(Math.min(n, CHUNK)) : new Uint16Array(Math.min(n, CHUNK));
    for (let i = 0; i < n; i += CHUNK) {
      const m = Math.min(CHUNK, n - i);
      const part = raw.subarray(0, m);
      readFully(this.fd!, part, e.begin + (start + i) * width, this.file, what);
      if (e.dtype === 'BF16') bf16ToFloat(part as Uint16Array, out.subarray(i, i + m));
      else if (e.dtype === 'F16') for (let j = 0; j < m; j++) out[i + j] = halfToFloat(part[j]);
      else out.set(part, i);
    }
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
    return this.readerOf(name).read(name);
  }

  /** as SafetensorsReader.readBf16 */
  readBf16(name: string): Uint16Array {
    return this.readerOf(name).readBf16(name);
  }

  private readerOf(name: string): SafetensorsReader {
    const e = this.entries.get(name);
    if (!e) throw new CheckpointError(`${this.source}: no tensor "${name}"`);
    const r = this.readers.find((x) => x.file === e.file);
    if (!r) throw new Error(`no open reader for ${e.file}`);
    return r;
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

export interface WriteOptions {
  dtype?: WriteDtype;
  metadata?: Record<string, string>;
}

/**
 * Append one tensor's values in `dtype`, converting a chunk at a time (float32 data to F32 and bfloat16 bits to BF16
 * go out without a copy; bfloat16 bits are widened exactly before any other conversion).
 */
function writeTensor(fd: number, data: Float32Array | Float64Array | Uint16Array, dtype: WriteDtype): void {
  const n = data.length;
  if ((dtype === 'F32' && data instanceof Float32Array) || (dtype === 'BF16' && data instanceof Uint16Array)) {
    const w = data.BYTES_PER_ELEMENT;
    for (let i = 0; i < n; i += CHUNK) writeAll(fd, new Uint8Array(data.buffer, data.byteOffset + i * w, Math.min(CHUNK, n - i) * w));
    return;
  }
  const buf = dtype === 'F32' ? new Float32Array(Math.min(n, CHUNK)) : new Uint16Array(Math.min(n, CHUNK));
  const wide = data instanceof Uint16Array ? new Float32Array(Math.min(n, CHUNK)) : null;
  const conv = dtype === 'F16' ? floatToHalf : floatToBf16;
  for (let i = 0; i < n; i += CHUNK) {
    const m = Math.min(CHUNK, n - i);
    let vals: Float32Array | Float64Array;
    if (wide) bf16ToFloat((data as Uint16Array).subarray(i, i + m), (vals = wide.subarray(0, m)));
    else vals = (data as Float32Array | Float64Array).subarray(i, i + m);
    if (dtype === 'F32') buf.set(vals);
    else for (let j = 0; j < m; j++) buf[j] = conv(vals[j]);
    writeAll(fd, new Uint8Array(buf.buffer, 0, m * buf.BYTES_PER_ELEMENT));
  }
}

/**
 * Lay out a .safetensors file (names sorted, header space-padded to a multiple of 8, as torch_ref and safetensors
 * write it); nothing is converted or copied until the returned writer streams it tensor by tensor.
 */
export function safetensorsWriter(tensors: Map<string, ShapedArray> | Record<string, ShapedArray>, opts: WriteOptions = {}): FileWriter {
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
  const json = Buffer.from(headerJson(entries, opts.metadata), 'utf8');
  const headerLen = json.length + ((8 - (json.length % 8)) % 8);
  const header = Buffer.alloc(8 + headerLen, 0x20);
  header.writeBigUInt64LE(BigInt(headerLen), 0);
  json.copy(header, 8);
  return (fd) => {
    writeAll(fd, header);
    for (const name of names) writeTensor(fd, map.get(name)!.data, dtype);
  };
}

/** Write a .safetensors file, streamed and atomically (a crash leaves the old file or the new one, never half of one). */
export function writeSafetensors(file: string, tensors: Map<string, ShapedArray> | Record<string, ShapedArray>,
  opts: WriteOptions = {}): void {
  writeFilesAtomic([{ target: file, fill: safetensorsWriter(tensors, opts) }]);
}
