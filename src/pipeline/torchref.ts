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

/**
 * PyTorch's environment: every *_NUM_THREADS variable removed. Debian's pthread OpenBLAS reads the OpenMP and
 * OpenBLAS thread variables too, so setting one for torch's intra-op pool would also pin its GEMMs to one core;
 * torch's own pool is set inside the process with torch.set_num_threads.
 */
function torchEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (/_NUM_THREADS$/.test(k)) delete env[k];
  return env;
}

/** One PyTorch training benchmark with `threads` intra-op threads (torch.set_num_threads) and OpenBLAS free. */
export function torchBench(modelDir: string, B: number, T: number, steps: number, threads = 1): TorchBench {
  const args = ['-c', WRAP, torchRefPath(), 'bench', '--model', modelDir, '--batch-size', String(B), '--seq', String(T),
    '--steps', String(steps), '--threads', String(threads)];
  const r = spawnSync(PY, args, { encoding: 'utf8', env: torchEnv(), maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`torch_ref.py bench failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as TorchBench;
}

/** The PyTorch settings the benchmark tries; the fastest is reported, with every one tried. */
export const TORCH_SETTINGS = [
  { threads: 1, label: 'torch.set_num_threads(1), OpenBLAS free (all cores)' },
  { threads: 2, label: 'torch.set_num_threads(2), OpenBLAS free (all cores)' },
] as const;

/** PyTorch at its best setting here: each of TORCH_SETTINGS run, the highest throughput kept. */
export function torchBenchBest(modelDir: string, B: number, T: number, steps: number): TorchBench & { tried: Array<{ setting: string; tokens_per_s: number }> } {
  const runs = TORCH_SETTINGS.map((s) => ({ s, r: torchBench(modelDir, B, T, steps, s.threads) }));
  const best = runs.reduce((a, b) => (b.r.tokens_per_s > a.r.tokens_per_s ? b : a));
  return { ...best.r, tried: runs.map(({ s, r }) => ({ setting: s.label, tokens_per_s: r.tokens_per_s })) };
}

// greedy decoding with torch_ref's model (it has no KV cache: every new token recomputes the whole sequence, the
// reference's own `greedy` loop), timed after loading, batch 1
const GREEDY = `
import json, os, sys, time
sys.path.insert(0, os.path.dirname(sys.argv[1]))
import torch, torch_ref as R
torch.set_num_threads(int(sys.argv[5]))
m = R.load(sys.argv[2]); P, N = int(sys.argv[3]), int(sys.argv[4])
g = torch.Generator().manual_seed(0)
ids = torch.randint(0, m.cfg["vocab_size"], (P,), generator=g).tolist()
with torch.no_grad():
    m(torch.tensor([ids[:4]]))
    t = time.perf_counter()
    for _ in range(N):
        ids.append(int(m(torch.tensor([ids]))[0, -1].argmax()))
    dt = time.perf_counter() - t
print(json.dumps({"engine": "torch " + torch.__version__ + " (no KV cache: torch_ref greedy)", "tokens_per_s": N / dt}))
`;

export function torchGreedy(modelDir: string, promptLen: number, newTokens: number, threads = 1): { engine: string; tokens_per_s: number } {
  const r = spawnSync(PY, ['-c', GREEDY, torchRefPath(), modelDir, String(promptLen), String(newTokens), String(threads)],
    { encoding: 'utf8', env: torchEnv(), maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`torch greedy failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}
