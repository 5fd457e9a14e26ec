// Library code never writes to stderr: warnings go through a hook (the trainer's onWarning) or a question the CLI
// asks (the native backend's load problem), and the CLI prints them, once, as `ual ...: warning` lines.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { prepareTraining } from '../../src/train/trainer.js';
import { resolveTrainConfig } from '../../src/train/config.js';
import { buildCli, ROOT, runCli } from '../helpers/cli.js';

const FIX = path.join(ROOT, 'fixtures', 'torch');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-warn-'));
const { bin, cleanup } = buildCli('warn');
afterAll(() => { cleanup(); fs.rmSync(tmp, { recursive: true, force: true }); });

/** Rows that all have epsilon 0: --loss ual would be plain SFT. */
function zeroEpsilonRows(): string {
  const f = path.join(tmp, 'eps0.jsonl');
  fs.writeFileSync(f, Array.from({ length: 4 }, (_, i) => JSON.stringify({ input_ids: [1, 2, 3, 4 + i], epsilon: 0 })).join('\n') + '\n');
  return f;
}

describe('warnings', () => {
  it('the trainer hands its warning to the hook', async () => {
    const data = zeroEpsilonRows();
    const seen: string[] = [];
    await prepareTraining(resolveTrainConfig({}, { model: path.join(FIX, 'gpt2'), data, out: path.join(tmp, 'unused'), steps: 1 }), (m) => seen.push(m));
    expect(seen).toEqual([`--loss ual but every row of ${data} has epsilon 0: this is plain SFT`]);
  });

  it('ual train prints it as a warning line and trains on', async () => {
    const data = zeroEpsilonRows();
    const r = await runCli(bin, ['train', '--model', path.join(FIX, 'gpt2'), '--data', data, '--out', path.join(tmp, 'run'), '--steps', '1', '--batch-size', '2']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.split('\n').filter((l) => l.includes('warning'))).toEqual([`ual train: warning: --loss ual but every row of ${data} has epsilon 0: this is plain SFT`]);
  });

  it('native kernels that are built but do not load: one line from the CLI, and the command runs on the js backend', async () => {
    // the compiled CLI finds build/Release/ual_native.node beside dist/: make it a file that is no addon (the link
    // to the real build is removed, never what it points to)
    const build = path.join(path.dirname(bin), '..', 'build');
    if (fs.existsSync(build)) fs.unlinkSync(build);
    fs.mkdirSync(path.join(build, 'Release'), { recursive: true });
    fs.writeFileSync(path.join(build, 'Release', 'ual_native.node'), 'not a shared library');
    const r = await runCli(bin, ['init', '--arch', 'gpt2', '--layers', '1', '--d', '8', '--heads', '2', '--vocab', '16', '--ctx', '8',
      '--out', path.join(tmp, 'init'), '--json'], { UAL_BACKEND: undefined });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^ual: cannot load the native kernels \(.+\); using the plain-TypeScript backend\. Rebuild with `npm rebuild ual`/);
    expect(JSON.parse(r.stdout.trim()).model_type).toBe('gpt2');
  });
});
