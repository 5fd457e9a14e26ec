// `ual report` as a user runs it (a child process on compiled JS): the report written and described on the last
// stdout line; a missing folder is one error line, exit code 1, and no file.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, runCli } from '../helpers/cli.js';
import { tmpDir, writeDemoDir, writeTrainDir } from './helpers.js';

let bin: string;
let cleanup: () => void;
let dir: string;

beforeAll(() => {
  ({ bin, cleanup } = buildCli('report'));
  dir = tmpDir('cli');
});
afterAll(() => {
  cleanup?.();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('ual report', () => {
  it('writes the HTML and prints {out, sections, bytes} with --json', async () => {
    const demo = writeDemoDir(path.join(dir, 'demo'));
    const run = writeTrainDir(path.join(dir, 'run'));
    const out = path.join(dir, 'x.html');
    const r = await runCli(bin, ['report', demo, run, '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(j).toEqual({ out, sections: [{ dir: demo, kind: 'demo' }, { dir: run, kind: 'train' }], bytes: fs.statSync(out).size });
    expect(r.stderr).toMatch(/^report: 2 sections -> .*x\.html \(\d+ KB\)\n$/);
  });

  it('a folder that does not exist: one error line, exit 1, nothing written', async () => {
    const out = path.join(dir, 'missing.html');
    const r = await runCli(bin, ['report', path.join(dir, 'nope'), '--out', out]);
    expect(r.code).toBe(1);
    const [first, ...rest] = r.stderr.trim().split('\n');
    expect(first).toBe(`ual report: error [UAL_DATA_BAD_FILE] ${path.join(dir, 'nope')} does not exist`);
    expect(rest.every((l) => l.startsWith('  hint: '))).toBe(true);
    expect(r.stdout).toBe('');
    expect(fs.existsSync(out)).toBe(false);
  });

  it('usage errors: no --out, no folder', async () => {
    const noOut = await runCli(bin, ['report', dir]);
    expect([noOut.code, noOut.stderr.split('\n')[0]]).toEqual([2, 'ual report: error [UAL_USAGE] --out is required']);
    const noDir = await runCli(bin, ['report', '--out', path.join(dir, 'y.html')]);
    expect([noDir.code, noDir.stderr.split('\n')[0]]).toEqual([2, 'ual report: error [UAL_USAGE] give at least one DIR']);
  });
});
