// A worker that cannot train says why in the protocol TypeScript reads (one UAL_WORKER_ERROR line on stderr with
// the project's error code, the message and the fix), exits 1 through torch.distributed.run, and writes nothing.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { resolveTrainConfig } from '../../src/train/config.js';
import { describeWith } from '../helpers/needs.js';
import { ROOT } from '../helpers/cli.js';
import { needTorch, runWorker, writePlan, type PlanOptions, type WorkerRun } from '../helpers/worker.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-worker-errors-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const FIX = path.join(ROOT, 'fixtures', 'torch');

interface Case { name: string; nproc: number; batch: string; plan?: PlanOptions; spoil?: (engine: string) => void;
  code: string; message: RegExp; hint: RegExp }
const cases: Case[] = [
  { name: 'a batch the world size does not divide', nproc: 2, batch: '3', code: 'UAL_USAGE',
    message: /--batch-size 3 is not divisible by the world size 2/, hint: /multiple of 2/ },
  { name: 'bf16 on the CPU', nproc: 1, batch: '4', plan: { device: 'cpu', dtype: 'bf16' }, code: 'UAL_USAGE',
    message: /--dtype bf16 is autocast on CUDA/, hint: /--dtype fp32/ },
  { name: 'a corrupt plan (a truncated array)', nproc: 1, batch: '4', code: 'UAL_DATA_BAD_FILE',
    spoil: (e) => fs.truncateSync(path.join(e, 'order.i32'), 4), message: /order\.i32 has 4 bytes; the plan needs 8 values/, hint: /ual train --engine torch/ },
  ...(needTorch.cuda ? [] : [{ name: 'CUDA on a machine without it', nproc: 1, batch: '4', plan: { device: 'cuda' as const },
    code: 'UAL_USAGE', message: /--device cuda: torch .* sees no CUDA device/, hint: /--device cpu/ }]),
];

describeWith(needTorch, 'the worker refuses clearly', () => {
  const runs = new Map<string, { out: string; run: WorkerRun }>();
  beforeAll(async () => {
    const started = cases.map(async (c) => {
      const out = fs.mkdtempSync(path.join(tmp, 'run-'));
      const plan = await writePlan(resolveTrainConfig({ model: path.join(FIX, 'gpt2'), data: path.join(FIX, 'data.jsonl'), out,
        loss: 'sft', steps: '2', 'batch-size': c.batch }), c.plan);
      c.spoil?.(path.dirname(plan));
      runs.set(c.name, { out, run: await runWorker(plan, c.nproc) });
    });
    await Promise.all(started);
  });

  it.each(cases)('$name', ({ name, code, message, hint }) => {
    const { out, run } = runs.get(name)!;
    expect(run.status).toBe(1);
    expect(run.error, run.stderr).toMatchObject({ code });
    expect(run.error!.message).toMatch(message);
    expect(run.error!.hint).toMatch(hint);
    expect(run.stdout).toBe('');
    expect(fs.readdirSync(out)).toEqual(['engine']);
  });
});
