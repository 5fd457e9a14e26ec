// Atomic writes clean up after a killed writer: writing a target first removes the temps an earlier write of the same
// target left behind when its process died (SIGKILL leaves no chance to clean up: `.<name>.tmp-<pid>-<n>`, and
// `-old` for a directory moved aside), and only those: a live process's temps and other targets' stay.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { writeDirAtomic, writeFileAtomic } from '../../src/util/atomic.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-atomic-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

it('removes the stale temps of the target it writes, files and directories, and nothing else', () => {
  const dead = spawnSync(process.execPath, ['-e', '']).pid; // exited: its temps are stale
  const live = process.ppid;
  const temps = {
    staleFile: `.x.json.tmp-${dead}-0`, liveFile: `.x.json.tmp-${live}-1`, otherTarget: `.y.json.tmp-${dead}-2`,
    staleDir: `.step-4.tmp-${dead}-3`, staleOld: `.step-4.tmp-${dead}-4-old`, liveDir: `.step-4.tmp-${live}-5`,
  };
  for (const t of Object.values(temps)) {
    if (t.startsWith('.step')) fs.mkdirSync(path.join(dir, t, 'inner'), { recursive: true });
    else fs.writeFileSync(path.join(dir, t), 'half');
  }
  writeFileAtomic(path.join(dir, 'x.json'), '{}\n');
  writeDirAtomic(path.join(dir, 'step-4'), (tmp) => writeFileAtomic(path.join(tmp, 'trainer_state.json'), '{}\n'));
  expect(fs.readdirSync(dir).sort()).toEqual([temps.liveFile, temps.liveDir, temps.otherTarget, 'step-4', 'x.json'].sort());
  expect(fs.readdirSync(path.join(dir, 'step-4'))).toEqual(['trainer_state.json']);
});
