// The demo's worker pool for --jobs: fine-tune/evaluate runs side by side, each in a child process (job.ts) with
// one OpenBLAS thread; results come back in job order, and a failing run stops the others.
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isUalCode, UalError } from '../../errors.js';
import type { FinetuneHooks, FinetuneJob, FinetuneResult } from './finetune.js';
import type { JobMessage } from './job.js';

/** Run every job, at most `width` at once; results in job order whatever order they finish in. */
export async function runPool<J, R>(jobs: readonly J[], width: number, run: (job: J) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(jobs.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await run(jobs[i]);
    }
  };
  try {
    await Promise.all(Array.from({ length: width }, lane));
  } catch (e) {
    next = jobs.length; // start nothing more
    throw e;
  }
  return results;
}

/** The compiled child entry; absent when running from TypeScript sources (then runs stay in this process). */
const JOB_ENTRY = fileURLToPath(new URL('./job.js', import.meta.url));

/** Runs still going, so that one failing stops the others instead of leaving them to finish for nothing. */
const liveChildren = new Set<ChildProcess>();

export function canRunInChildren(): boolean {
  return fs.existsSync(JOB_ENTRY);
}

/** Stop every run still going (one failed: the others would finish for nothing). */
export function stopChildren(): void {
  for (const c of liveChildren) c.kill();
}

/**
 * One run in a child process with one OpenBLAS thread: on the demo's small matrices a second BLAS thread buys no
 * wall time (measured: 13.4 s vs 13.7 s for the same steps), so two runs side by side use the two cores instead.
 */
export function runInChild(job: FinetuneJob, hooks: FinetuneHooks): Promise<FinetuneResult> {
  return new Promise((resolve, reject) => {
    const child = fork(JOB_ENTRY, [], { env: { ...process.env, UAL_THREADS: '1' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    liveChildren.add(child);
    let settled = false;
    const settle = (f: () => void) => { if (!settled) { settled = true; f(); } };
    child.on('message', (m: JobMessage) => {
      if (m.type === 'step') hooks.onStep?.(m.step, m.loss);
      else if (m.type === 'evaluate') hooks.onEvaluate?.();
      else if (m.type === 'warning') hooks.onWarning?.(m.message);
      else if (m.type === 'done') settle(() => resolve(m.result));
      else settle(() => reject(isUalCode(m.code) ? new UalError(m.code, m.message, m.hint) : new Error(m.message)));
    });
    child.on('error', (e) => settle(() => reject(e)));
    child.on('exit', (code, signal) => { liveChildren.delete(child); settle(() => reject(new Error(`the demo's run ${job.method} seed ${job.seed} stopped (exit ${code ?? signal}) before it reported`))); });
    child.send(job);
  });
}
