// Start the torch engine's worker group and follow it: `python -m ual_worker.launch` (torch.distributed.run) under a
// keeper process that ends the whole process group with ual, the ranks' JSON-lines progress (rank 0 prints it) as
// callbacks, their stderr into <out>/engine/worker.log, and the first rank's UAL_WORKER_ERROR as ual's error.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { isUalCode, UalError } from '../errors.js';
import type { TrainConfig } from './config.js';
import type { StepMetrics } from './trainer.js';

/** How to get torch for `which` python(s). */
export const installHint = (which: string) => `install PyTorch >= 1.13 for ${which} (Debian/Ubuntu: apt-get install python3-torch; elsewhere: pip install torch), ` +
  'or point --python at a python that has it';

/** The repository's python/ folder (PYTHONPATH of the worker): beside src/ or dist/. */
export function workerRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../python');
}

/**
 * The launcher's arguments: python/ual_worker/launch.py is `python -m torch.distributed.run` itself, with the one
 * parser fixed that torch < 2.1 breaks on Python 3.11 (so Debian's torch 1.13 starts); torch 1.13 knows only the
 * underscore spellings of its options, later versions accept them too.
 */
export function launchArgs(cfg: TrainConfig): string[] {
  const a = ['-m', 'ual_worker.launch', '--nproc_per_node', String(cfg.nprocPerNode), '--nnodes', String(cfg.nnodes), '--monitor_interval', '1'];
  if (cfg.rdzvEndpoint) a.push('--rdzv_backend', 'c10d', '--rdzv_endpoint', cfg.rdzvEndpoint);
  else if (cfg.nnodes === 1 && !cfg.masterAddr) a.push('--standalone');
  else {
    a.push('--node_rank', String(cfg.nodeRank), '--master_addr', cfg.masterAddr, '--master_port', String(cfg.masterPort));
  }
  return a;
}

// The worker group's keeper: runs torchrun in this (new) process group and kills the whole group when its stdin
// closes, i.e. when ual is gone however it died (SIGKILL included), so no rank outlives the run it belongs to. At the
// end it reports the largest resident set of any process of the group (the launcher waits for its ranks, so
// RUSAGE_CHILDREN covers them).
const KEEPER = `
import json, os, resource, signal, subprocess, sys, threading
p = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL)
def watch():
    sys.stdin.buffer.read()
    os.killpg(0, signal.SIGKILL)
threading.Thread(target=watch, daemon=True).start()
rc = p.wait()
sys.stderr.write("UAL_KEEPER " + json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}) + "\\n")
sys.stderr.flush()
os._exit(rc if rc >= 0 else 128 - rc)  # not sys.exit: finalizing would wait on the watcher's read of stdin
`;

/** One UAL_WORKER_ERROR line of a rank: its code, message and hint. */
interface WorkerError { rank?: number; code?: string; message?: string; hint?: string }

export interface WorkerRun {
  /** every progress event rank 0 printed, in order */
  events: Record<string, unknown>[];
  /** the step events, as StepMetrics */
  steps: StepMetrics[];
  /** rank 0 reported itself (this node hosts it and writes the run directory's metrics) */
  started: boolean;
  /** rank 0's start event: world_size, device, dtype, torch, backend */
  start: Record<string, unknown>;
  done: boolean;
  /** the largest resident set of any process of the group (launcher, ranks), MB */
  peak_rss_mb: number;
}

export interface LaunchOptions {
  env?: NodeJS.ProcessEnv;
  onStart?(ev: Record<string, unknown>): void;
  onStep?(m: StepMetrics): void;
}

/**
 * Start the worker group on plan.json and follow it: stdout JSON lines to the callbacks, stderr into
 * <out>/engine/worker.log. Resolves when it ends well; rejects with the first rank's UAL_WORKER_ERROR (or the log's
 * tail) when it does not. SIGINT/SIGTERM/SIGHUP of ual stop the whole group first.
 */
export function runWorker(cfg: TrainConfig, planFile: string, o: LaunchOptions = {}): Promise<WorkerRun> {
  const logFile = path.join(path.dirname(planFile), 'worker.log');
  const log = fs.createWriteStream(logFile);
  const env = { ...(o.env ?? process.env) };
  env.PYTHONPATH = [workerRoot(), env.PYTHONPATH].filter(Boolean).join(path.delimiter);
  env.PYTHONUNBUFFERED = '1';
  const args = ['-c', KEEPER, cfg.python, ...launchArgs(cfg), '-m', 'ual_worker', planFile];
  const child = spawn(cfg.python, args, { env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  const run: WorkerRun = { events: [], steps: [], started: false, start: {}, done: false, peak_rss_mb: NaN };
  let firstError: WorkerError | null = null;
  const tail: string[] = [];
  let stopping: NodeJS.Signals | null = null;

  const killGroup = (sig: NodeJS.Signals) => {
    try { if (child.pid) process.kill(-child.pid, sig); } catch { /* the group is gone already */ }
  };
  let escalate: NodeJS.Timeout | null = null;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping) return killGroup('SIGKILL'); // asked twice: no more grace
    stopping = sig;
    killGroup('SIGTERM');
    escalate = setTimeout(() => killGroup('SIGKILL'), 10_000);
  };
  const onExit = () => killGroup('SIGKILL');
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);
  process.on('exit', onExit);

  // a callback that throws (the run directory cannot be written) ends the group and becomes the run's error
  let callbackError: unknown = null;
  const guarded = (fn: () => void) => {
    if (callbackError) return;
    try { fn(); } catch (e) {
      callbackError = e;
      killGroup('SIGKILL');
    }
  };
  readline.createInterface({ input: child.stdout! }).on('line', (line) => {
    let ev: Record<string, unknown>;
    try { ev = JSON.parse(line); } catch { log.write(`[stdout] ${line}\n`); return; }
    run.events.push(ev);
    if (ev.event === 'start') {
      run.started = true;
      run.start = ev;
      guarded(() => o.onStart?.(ev));
    } else if (ev.event === 'step') {
      // the native engine's keys in its order, so metrics.jsonl reads the same whichever engine wrote it
      const m: StepMetrics = {
        step: Number(ev.step), loss: Number(ev.loss), lr: Number(ev.lr), grad_norm: Number(ev.grad_norm), tokens: Number(ev.tokens),
        tokens_per_s: Number(ev.tokens_per_s), elapsed_s: Number(ev.elapsed_s),
      };
      run.steps.push(m);
      guarded(() => o.onStep?.(m));
    } else if (ev.event === 'done') run.done = true;
  });
  readline.createInterface({ input: child.stderr! }).on('line', (line) => {
    const keeper = /^UAL_KEEPER (\{.*\})$/.exec(line);
    if (keeper) {
      run.peak_rss_mb = (JSON.parse(keeper[1]) as { peak_rss_mb: number }).peak_rss_mb;
      return;
    }
    log.write(line + '\n');
    const m = /^UAL_WORKER_ERROR (\{.*\})\s*$/.exec(line);
    if (m && !firstError) {
      try { firstError = JSON.parse(m[1]) as WorkerError; } catch { firstError = { message: m[1] }; }
    }
    tail.push(line);
    if (tail.length > 12) tail.shift();
  });

  return new Promise<WorkerRun>((resolve, reject) => {
    child.on('error', (e) => reject(new UalError('UAL_TORCH_UNAVAILABLE', `--engine torch: cannot start ${cfg.python} (${e.message})`, installHint(cfg.python))));
    child.on('close', (code, signal) => {
      for (const s of signals) process.off(s, onSignal);
      process.off('exit', onExit);
      if (escalate) clearTimeout(escalate);
      killGroup('SIGKILL'); // nothing of the group may stay behind
      log.end();
      const where = `${cfg.out}: checkpoints/step-N written before it are complete; the worker's log is ${logFile}`;
      if (callbackError) reject(callbackError);
      else if (stopping) {
        reject(new UalError('UAL_TORCH_WORKER', `stopped by ${stopping}: the worker group was ended`, `resume with --resume ${cfg.out} (${where})`));
      } else if (firstError) {
        const e = firstError as WorkerError;
        const code = e.code && isUalCode(e.code) ? e.code : 'UAL_TORCH_WORKER';
        reject(new UalError(code, `torch worker${e.rank !== undefined ? ` rank ${e.rank}` : ''}: ${e.message ?? 'failed'}`, e.hint || where));
      } else if (code !== 0 || (run.started && !run.done)) { // a node without rank 0 sees no events at all
        reject(new UalError('UAL_TORCH_WORKER', `the torch worker ${code !== 0 ? `exited with status ${code ?? signal}` : 'ended without finishing'}; its last lines:\n${tail.join('\n')}`, where));
      } else resolve(run);
    });
  });
}

