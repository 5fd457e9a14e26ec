// `ual smooth` as a user runs it (a child process on the compiled CLI): the summary and histogram on stderr, the
// --json object on the last stdout line, and bad input as a clear error with exit code != 0 and no output file.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, runCli } from '../helpers/cli.js';
import { paperMapping } from '../../src/uncertainty/mapping.js';

let dir: string;
let bin: string;
let cleanup: () => void;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-smooth-cli-'));
  ({ bin, cleanup } = buildCli('smooth'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
  cleanup();
});

const SCORES = [5, 80, 0, 40, 99, 12, 60, 33];

describe('ual smooth', () => {
  it('--mapping paper --target-mean 0.5: writes epsilon, prints summary + histogram, --json on the last line', async () => {
    const data = path.join(dir, 'scored.jsonl');
    fs.writeFileSync(data, SCORES.map((u, i) => JSON.stringify({ id: i, prompt: `p${i}`, uncertainty: u })).join('\n') + '\n');
    const out = path.join(dir, 'smoothed.jsonl');
    const r = await runCli(bin, ['smooth', '--data', data, '--out', out, '--mapping', 'paper', '--target-mean', '0.5', '--json']);
    expect(r.stderr).toMatch(/smooth: 8 rows -> .*smoothed\.jsonl \(mapping paper, target mean 0\.5\)/);
    expect(Math.abs(Number(/epsilon mean (\S+)/.exec(r.stderr)![1]) - 0.5)).toBeLessThan(1e-3);
    expect(r.stderr).toMatch(/quantiles min 0\.000 .* max 0\.990/);
    expect(r.stderr).toMatch(/█/);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(summary).toMatchObject({ rows: 8, mapping: 'paper', target_mean: 0.5, clipped_high: 2 });
    const want = Array.from(paperMapping(SCORES, 0.5).epsilon);
    const rows = fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((x) => x.epsilon)).toEqual(want);
    expect(rows.map((x) => [x.id, x.prompt, x.uncertainty])).toEqual(SCORES.map((u, i) => [i, `p${i}`, u]));
  });

  it('a row without uncertainty: exit 1, file:line named, nothing written', async () => {
    const data = path.join(dir, 'missing.jsonl');
    fs.writeFileSync(data, '{"uncertainty":1}\n{"prompt":"x"}\n');
    const out = path.join(dir, 'missing-out.jsonl');
    const r = await runCli(bin, ['smooth', '--data', data, '--out', out, '--mapping', 'paper', '--target-mean', '0.1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`ual smooth: error [UAL_DATA_BAD_ROW] ${data}:2 field "uncertainty": is missing`);
    expect(r.stderr).toMatch(/hint: .*ual elicit/);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('usage errors exit 2 and name the flag', async () => {
    const data = path.join(dir, 'scored.jsonl');
    const out = path.join(dir, 'x.jsonl');
    const bad = await runCli(bin, ['smooth', '--data', data, '--out', out, '--mapping', 'cosine']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--mapping must be one of paper, linear, constant, none, got "cosine"/);
    const noMean = await runCli(bin, ['smooth', '--data', data, '--out', out, '--mapping', 'paper']);
    expect(noMean.code).toBe(2);
    expect(noMean.stderr).toMatch(/--mapping paper needs --target-mean/);
    const help = await runCli(bin, ['smooth', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/usage: ual smooth/);
    expect(fs.existsSync(out)).toBe(false);
  });
});
