// Write files and directories so that a crash never leaves a half-written result: write beside, then rename.
import fs from 'node:fs';
import path from 'node:path';

let counter = 0;
function tmpName(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}-${counter++}`);
}

/** Write a file atomically (temp file in the same directory, fsync, rename). */
export function writeFileAtomic(target: string, data: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(path.resolve(target)), { recursive: true });
  const tmp = tmpName(target);
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, target);
}

/**
 * Build a directory atomically: `fill` writes into a fresh temp directory beside `target`, which then replaces
 * `target` (an old `target` is moved aside and removed only after the rename succeeded).
 */
export function writeDirAtomic(target: string, fill: (tmpDir: string) => void): void {
  const abs = path.resolve(target);
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  const tmp = tmpName(abs);
  fs.mkdirSync(tmp, { recursive: true });
  try {
    fill(tmp);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  let old: string | null = null;
  if (fs.existsSync(abs)) {
    old = tmpName(abs) + '-old';
    fs.renameSync(abs, old);
  }
  fs.renameSync(tmp, abs);
  if (old) fs.rmSync(old, { recursive: true, force: true });
}
