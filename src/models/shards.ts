// A checkpoint's weights in Hugging Face's layout: model.safetensors, or above --max-shard-size the shards
// model-0000i-of-0000N.safetensors + model.safetensors.index.json, split as transformers' save_pretrained splits
// (huggingface_hub split_state_dict_into_shards_factory); the set is streamed to temp names and renamed into place.
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { removeStaleTemps, writeAll, writeFilesAtomic, type FileWriter } from '../util/atomic.js';
import { SAFETENSORS_FILE, SAFETENSORS_INDEX, safetensorsWriter, type ShapedArray, type WriteDtype } from './safetensors.js';

/** --save-dtype values: the safetensors dtype and the name config.json's torch_dtype gives it */
export const SAVE_DTYPES = {
  fp32: { stored: 'F32', torch: 'float32' },
  bf16: { stored: 'BF16', torch: 'bfloat16' },
  fp16: { stored: 'F16', torch: 'float16' },
} as const satisfies Record<string, { stored: WriteDtype; torch: string }>;
export type SaveDtype = keyof typeof SAVE_DTYPES;
export const SAVE_DTYPE_NAMES = Object.keys(SAVE_DTYPES) as SaveDtype[];

/** transformers' save_pretrained default */
export const DEFAULT_MAX_SHARD_SIZE = '5GB';

export interface SaveOptions {
  /** default fp32: training runs in float32, so saving it loses nothing */
  dtype?: SaveDtype;
  /** bytes; default 5 GB */
  maxShardSize?: number;
}

const UNITS: Record<string, number> = {
  '': 1, B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, KIB: 2 ** 10, MIB: 2 ** 20, GIB: 2 ** 30, TIB: 2 ** 40,
};

/** "5GB", "500MB", "1GiB", "1.5GB" or plain bytes -> bytes (GB = 10^9 and GiB = 2^30, as huggingface_hub reads them). */
export function parseSize(text: string, flag = '--max-shard-size'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? UNITS[m[2].toUpperCase()] : undefined;
  const bytes = m && unit !== undefined ? Math.floor(Number(m[1]) * unit) : NaN;
  if (!(bytes >= 1)) {
    throw new UsageError(`${flag} must be a size such as 5GB, 500MB, 1GiB or a number of bytes, got "${text}"`,
      'units: B, KB, MB, GB, TB (powers of 1000) and KiB, MiB, GiB, TiB (powers of 1024)');
  }
  return bytes;
}

/** --save-dtype and --max-shard-size as a command line gives them -> SaveOptions; errors name the flag. */
export function saveOptions(dtype = 'fp32', maxShardSize = DEFAULT_MAX_SHARD_SIZE): SaveOptions {
  if (!(SAVE_DTYPE_NAMES as string[]).includes(dtype)) {
    throw new UsageError(`--save-dtype must be one of ${SAVE_DTYPE_NAMES.join(', ')}, got "${dtype}"`);
  }
  return { dtype: dtype as SaveDtype, maxShardSize: parseSize(maxShardSize) };
}

/** model-00001-of-00003.safetensors, as transformers names shards */
export function shardName(i: number, n: number): string {
  return `model-${String(i + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`;
}
const SHARD_RE = /^model-\d{5}-of-\d{5}\.safetensors$/;

/**
 * Group tensors (name, bytes) into shards in their given order: a shard is closed when the next tensor would take it
 * past `max`; a tensor larger than `max` gets a shard of its own, placed where it occurs (before the open shard).
 */
export function planShards(tensors: [string, number][], max: number): string[][] {
  const shards: string[][] = [];
  let cur: string[] = [];
  let size = 0;
  for (const [name, bytes] of tensors) {
    if (bytes > max) {
      shards.push([name]);
      continue;
    }
    if (size + bytes > max) {
      shards.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(name);
    size += bytes;
  }
  if (cur.length) shards.push(cur);
  return shards;
}

/** config.json's dtype key follows the saved weights (transformers loads torch_dtype="auto" with it); fp32 is HF's
 *  default, so a config without the key keeps not having it. */
export function configForDtype(raw: Record<string, unknown>, dtype: SaveDtype = 'fp32'): Record<string, unknown> {
  const out = { ...raw };
  const keys = ['torch_dtype', 'dtype'].filter((k) => k in out);
  if (keys.length === 0 && dtype !== 'fp32') keys.push('torch_dtype');
  for (const k of keys) out[k] = SAVE_DTYPES[dtype].torch;
  return out;
}

const isWeightFile = (f: string): boolean => f === SAFETENSORS_FILE || f === SAFETENSORS_INDEX || SHARD_RE.test(f);

/**
 * Write the weights into dir (other files there are kept): one model.safetensors, or shards plus the index, each
 * streamed to a temp name and renamed only when all are complete (the index last); then the weight files of an
 * earlier save that the new set does not replace are removed.
 */
export function saveWeights(dir: string, tensors: Map<string, ShapedArray>, opts: SaveOptions = {}): void {
  const dtype = SAVE_DTYPES[opts.dtype ?? 'fp32'].stored;
  const max = opts.maxShardSize ?? parseSize(DEFAULT_MAX_SHARD_SIZE);
  const width = dtype === 'F32' ? 4 : 2;
  const sizes: [string, number][] = [...tensors].map(([name, t]) => [name, t.data.length * width]);
  const shards = planShards(sizes, max);
  const meta = { metadata: { format: 'pt' } };
  const files: { name: string; fill: FileWriter }[] = shards.length <= 1
    ? [{ name: SAFETENSORS_FILE, fill: safetensorsWriter(tensors, { dtype, ...meta }) }]
    : shards.map((names, i) => ({
      name: shardName(i, shards.length),
      fill: safetensorsWriter(new Map(names.map((n) => [n, tensors.get(n)!])), { dtype, ...meta }),
    }));
  if (shards.length > 1) {
    const fileOf = new Map(shards.flatMap((names, i) => names.map((n) => [n, files[i].name] as const)));
    const weightMap: Record<string, string> = {};
    for (const name of [...fileOf.keys()].sort()) weightMap[name] = fileOf.get(name)!;
    const totalParameters = [...tensors.values()].reduce((n, t) => n + t.data.length, 0);
    const totalSize = sizes.reduce((n, [, b]) => n + b, 0);
    // json.dumps(index, indent=2, sort_keys=True) + "\n", as transformers writes it
    const index = JSON.stringify({ metadata: { total_parameters: totalParameters, total_size: totalSize }, weight_map: weightMap }, null, 2) + '\n';
    files.push({ name: SAFETENSORS_INDEX, fill: (fd) => writeAll(fd, Buffer.from(index)) });
  }
  fs.mkdirSync(dir, { recursive: true });
  removeStaleTemps(dir, isWeightFile);
  writeFilesAtomic(files.map((f) => ({ target: path.join(dir, f.name), fill: f.fill })));
  const written = new Set(files.map((f) => f.name));
  for (const f of fs.readdirSync(dir)) if (isWeightFile(f) && !written.has(f)) fs.rmSync(path.join(dir, f), { force: true });
}
