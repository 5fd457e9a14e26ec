// Write files and directories so that a crash never leaves a half-written result: write beside, fsync, then rename.
// Files are written in chunks (Node's writeSync takes at most 2 GiB at once), so a file may be as large as the disk.
// A write of a target first removes the temps a killed earlier writer of the same target left behind (temp names carry
// the writer's pid: `.<name>.tmp-<pid>-<n>`, `-old` for a replaced directory; python/ual_worker/atomic.py writes and
// cleans the same way), only those whose process no longer runs, so a live writer's temps are never touched.
import fs from 'node:fs';
import path from 'node:path';
import { UalError } from '../errors.js';

/** at most this many bytes per writeSync call */
const WRITE_CHUNK = 64 << 20;

let counter = 0;
function tmpName(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}-${counter++}`);
}

/** Append bytes to an open file, in chunks and across short writes. */
export function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) {
    done += fs.writeSync(fd, bytes, done, Math.min(bytes.length - done, WRITE_CHUNK));
  }
}

/** A file's content as a function that appends it to an open file descriptor. */
export type FileWriter = (fd: number) => void;

/**
 * Write `fill`'s output to a temp file beside `target` and fsync it; returns the temp path, for the caller to rename.
 * On any error the temp file is removed and the error is rethrown (write failures as UAL_IO naming `target`).
 */
function writeTemp(target: string, fill: FileWriter): string {
  const tmp = tmpName(target);
  let fd: number | null = null;
  try {
    fd = fs.openSync(tmp, 'w');
    fill(fd);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
    return tmp;
  } catch (e) {
    if (fd !== null) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    const { code, errno } = e as NodeJS.ErrnoException;
    if (typeof errno === 'number' && code) {
      throw new UalError('UAL_IO', `cannot write ${target} (${code}: ${(e as Error).message})`,
        code === 'ENOSPC' ? 'free disk space (or save in a smaller --save-dtype), then run again' : 'check that the directory is writable');
    }
    throw e;
  }
}

/** Make renames into `dir` durable (best effort: not every platform can fsync a directory). */
function syncDir(dir: string): void {
  let fd: number | null = null;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Windows cannot open directories; the renames are still atomic there
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}

/** Write a file atomically (temp file in the same directory, fsync, rename). */
export function writeFileAtomic(target: string, data: string | Uint8Array): void {
  writeFilesAtomic([{ target, fill: (fd) => writeAll(fd, typeof data === 'string' ? Buffer.from(data) : data) }]);
}

/**
 * Write a set of files that belong together: every file is written to a temp name first; only when all of them are
 * complete are they renamed into place, in the order given (put the file that makes the set visible, e.g. an
 * index, last). An error while writing leaves the targets as they were and no temp files.
 */
export function writeFilesAtomic(files: { target: string; fill: FileWriter }[]): void {
  const tmps: string[] = [];
  try {
    for (const f of files) {
      fs.mkdirSync(path.dirname(path.resolve(f.target)), { recursive: true });
      removeStaleTempsOf(f.target);
      tmps.push(writeTemp(f.target, f.fill));
    }
  } catch (e) {
    for (const t of tmps) fs.rmSync(t, { force: true });
    throw e;
  }
  files.forEach((f, i) => fs.renameSync(tmps[i], f.target));
  for (const dir of new Set(files.map((f) => path.dirname(path.resolve(f.target))))) syncDir(dir);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

/**
 * Remove temp files and directories in `dir` that a killed process left behind while writing a target `ours` accepts
 * (a SIGKILL gives no chance to clean up): only those of processes that no longer run on this machine, so a
 * concurrent writer is left alone. (A writer on another machine sharing the directory would look dead here: each
 * target of a run directory has one writing machine, the one that hosts rank 0.)
 */
export function removeStaleTemps(dir: string, ours: (target: string) => boolean): void {
  if (!fs.existsSync(dir)) return;
  for (const f of fs.readdirSync(dir)) {
    const m = /^\.(.+)\.tmp-(\d+)-\d+(?:-old)?$/.exec(f);
    if (m && ours(m[1]) && Number(m[2]) !== process.pid && !processAlive(Number(m[2]))) fs.rmSync(path.join(dir, f), { recursive: true, force: true });
  }
}

/** removeStaleTemps for one target: what a killed earlier write of this very file or directory left. */
function removeStaleTempsOf(target: string): void {
  const abs = path.resolve(target);
  removeStaleTemps(path.dirname(abs), (t) => t === path.basename(abs));
}

/**
 * Build a directory atomically: `fill` writes into a fresh temp directory beside `target`, which then replaces
 * `target` (an old `target` is moved aside and removed only after the rename succeeded).
 */
export function writeDirAtomic(target: string, fill: (tmpDir: string) => void): void {
  const abs = path.resolve(target);
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  removeStaleTempsOf(abs);
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
