// Tests that need something outside the repository (Chromium, ../shared/data): where it is missing they skip with
// a message saying what to install, except in CI (CI set), where they fail: a CI machine that lost the browser or
// the data must not go green by skipping.
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'vitest';

export const IN_CI = !!process.env.CI && !/^(0|false)$/i.test(process.env.CI);

/** The repository's sibling data folder (../shared/data): Alpaca, GSM8K, AlpacaEval references. */
export const SHARED_DATA = path.resolve(import.meta.dirname, '../../../shared/data');

export interface Need {
  /** what the tests need, as a reader would name it */
  what: string;
  present: boolean;
  /** how to get it */
  fix: string;
}

export function needFile(file: string, fix = `put it at ${file}`): Need & { file: string } {
  return { what: file, present: fs.existsSync(file), fix, file };
}

/** A file under ../shared/data. */
export function needSharedData(rel: string): Need & { file: string } {
  return needFile(path.join(SHARED_DATA, rel), `the data lives beside the repository in ../shared/data/${rel}`);
}

function missing(n: Need, name: string): string {
  return `"${name}" needs ${n.what}, which is missing (${n.fix})`;
}

/** describe() that runs when the need is met; otherwise one failing test in CI, a skip with a warning elsewhere. */
export function describeWith(n: Need, name: string, fn: () => void): void {
  if (n.present) describe(name, fn);
  else if (IN_CI) describe(name, () => it(`${n.what} is there`, () => { throw new Error(missing(n, name)); }));
  else {
    console.warn(`skipped: ${missing(n, name)}; in CI this fails`);
    describe.skip(name, fn);
  }
}

/** it() that runs when the need is met; otherwise it fails in CI and is skipped with a warning elsewhere. */
export function itWith(n: Need, name: string, fn: () => Promise<void> | void, timeout?: number): void {
  if (n.present) it(name, fn, timeout);
  else if (IN_CI) it(name, () => { throw new Error(missing(n, name)); });
  else {
    console.warn(`skipped: ${missing(n, name)}; in CI this fails`);
    it.skip(name, fn);
  }
}
