// Runs ../shared/reference/torch_ref.py (Debian python3-torch) beside our engine, for benchmarks side by side.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const PY = process.env.UAL_PYTHON ?? '/usr/bin/python3';

export function torchRefPath(): string {
  if (process.env.UAL_TORCH_REF) return process.env.UAL_TORCH_REF;
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  return path.resolve(root, '../shared/reference/torch_ref.py');
}

/** Why PyTorch cannot run here, or null when it can. */
export function torchUnavailable(): string | null {
  const ref = torchRefPath();
  if (!fs.existsSync(ref)) return `${ref} not found (set UAL_TORCH_REF)`;
  const r = spawnSync(PY, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (r.status !== 0) return `${PY} cannot import torch (apt-get install -y python3-torch)`;
  return null;
}

// runs torch_ref.py in-process and adds the process's peak RSS to its JSON line
const WRAP = `
import json, resource, runpy, sys, io, contextlib
ref = sys.argv[1]; sys.argv = [ref] + sys.argv[2:]
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    runpy.run_path(ref, run_name='__main__')
last = json.loads(buf.getvalue().strip().splitlines()[-1])
last['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(last))
`;

export interface TorchBench { engine: string; threads: number; tokens_per_s: number; step_ms: number; peak_rss_mb: number }

export function torchBench(modelDir: string, B: number, T: number, steps: number, threads = 1): TorchBench {
  const args = ['-c', WRAP, torchRefPath(), 'bench', '--model', modelDir, '--batch-size', String(B), '--seq', String(T),
    '--steps', String(steps), '--threads', String(threads)];
  const r = spawnSync(PY, args, { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(threads) }, maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`torch_ref.py bench failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as TorchBench;
}
