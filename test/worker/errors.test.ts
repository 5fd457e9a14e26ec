// A worker that cannot train says why in the protocol TypeScript reads (one UAL_WORKER_ERROR line on stderr with
// the project's error code, the message and the fix, raised by ual as that UalError), exits 1 through
// torch.distributed.run, prints no progress (unless training had begun), and writes nothing.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { resolveTrainConfig } from '../../src/train/config.js';
import { describeWith } from '../helpers/needs.js';
import { ROOT } from '../helpers/cli.js';
import { launch, needTorch, writePlan, type Launched } from '../helpers/worker.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-worker-errors-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const FIX = path.join(ROOT, 'fixtures', 'torch');

interface Case { name: string; nproc: number; flags: Record<string, string>; device?: 'cpu' | 'cuda'; spoil?: (engine: string) => void;
  code: string; message: RegExp; hint: RegExp; started?: boolean }
const cases: Case[] = [
  // the plan written for one world size, launched on another (TypeScript checks it first; the worker checks again)
  { name: 'a batch the world size does not divide', nproc: 2, flags: { 'batch-size': '3' }, code: 'UAL_USAGE',
    message: /--batch-size 3 is not divisible by the world size 2/, hint: /multiple of 2/ },
  { name: 'bf16 on the CPU', nproc: 1, flags: { engine: 'torch', dtype: 'bf16' }, device: 'cpu', code: 'UAL_USAGE',
    message: /--dtype bf16 is autocast on CUDA/, hint: /--dtype fp32/ },
  { name: 'a corrupt plan (a truncated array)', nproc: 1, flags: {}, code: 'UAL_DATA_BAD_FILE',
    spoil: (e) => fs.truncateSync(path.join(e, 'order.i32'), 4), message: /order\.i32 has 4 bytes; the plan needs 8 values/, hint: /ual train --engine torch/ },
  // training that diverges stops before the update that would write non-finite weights, and saves nothing
  { name: 'a loss that overflows', nproc: 1, flags: { lr: '1e30', 'max-grad-norm': '0' }, code: 'UAL_TRAIN_NONFINITE', started: true,
    message: /step 2: (loss|gradient norm) is (nan|inf); stopped before the update, no model was written/, hint: /lower --lr/ },
  ...(needTorch.cuda ? [] : [{ name: 'CUDA on a machine without it', nproc: 1, flags: {}, device: 'cuda' as const,
    code: 'UAL_USAGE', message: /--device cuda: torch .* sees no CUDA device/, hint: /--device cpu/ }]),
];

describeWith(needTorch, 'the worker refuses clearly', () => {
  const runs = new Map<string, { out: string; launched: Launched }>();
  beforeAll(async () => {
    const started = cases.map(async (c) => {
      const out = fs.mkdtempSync(path.join(tmp, 'run-'));
      const cfg = resolveTrainConfig({ model: path.join(FIX, 'gpt2'), data: path.join(FIX, 'data.jsonl'), out,
        loss: 'sft', steps: '2', 'batch-size': '4', ...c.flags });
      const plan = await writePlan(cfg, { device: c.device });
      c.spoil?.(path.dirname(plan));
      runs.set(c.name, { out, launched: await launch(cfg, plan, c.nproc) });
    });
    await Promise.all(started);
  });

  it.each(cases)('$name', ({ name, code, message, hint, started }) => {
    const { out, launched } = runs.get(name)!;
    expect(launched.run).toBeNull();
    expect(launched.error, launched.log).toMatchObject({ code });
    expect(launched.error!.message).toMatch(/^torch worker rank \d: /);
    expect(launched.error!.message).toMatch(message);
    expect(launched.error!.hint).toMatch(hint);
    expect(launched.started).toBe(started ?? false);
    expect(launched.log).not.toContain('[stdout]'); // nothing but the protocol on stdout
    expect(fs.readdirSync(out)).toEqual(['engine']);
  });
});
