// Small files and errors for tests: rows written as JSONL into a test's temp folder, and the error a promise rejects with.
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';

/** Write rows as JSONL (one JSON.stringify'd row a line) to dir/name; returns the path. */
export function writeJsonl(dir: string, name: string, rows: unknown[]): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return f;
}

/** The error p rejects with, asserted to be an instance of cls; a p that resolves fails the test. */
export async function rejection<E extends Error>(p: Promise<unknown>, cls: abstract new (...args: never[]) => E): Promise<E> {
  const e = await p.then(() => null, (x: unknown) => x);
  expect(e).toBeInstanceOf(cls);
  return e as E;
}

/** Every file under dir, recursively (to check that no file holds a secret). */
export function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}
