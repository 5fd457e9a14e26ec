// Runs ../shared/reference/torch_ref.py and scripts/lora_ref.py (Debian python3-torch) beside our engine, for
// benchmarks side by side, PyTorch at the best of the thread settings it is given.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from '../util/stats.js';

/** the python the benchmarks run PyTorch with (Debian's python3-torch unless UAL_PYTHON names another) */
export const TORCH_PY = process.env.UAL_PYTHON ?? '/usr/bin/python3';

export function torchRefPath(): string {
  if (process.env.UAL_TORCH_REF) return process.env.UAL_TORCH_REF;
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  return path.resolve(root, '../shared/reference/torch_ref.py');
}

/** Why PyTorch cannot run here, or null when it can. */
export function torchUnavailable(): string | null {
  const ref = torchRefPath();
  if (!fs.existsSync(ref)) return `${ref} not found (set UAL_TORCH_REF)`;
  const r = spawnSync(TORCH_PY, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (r.status !== 0) return `${TORCH_PY} cannot import torch (apt-get install -y python3-torch)`;
  return null;
}

// runs a reference script (torch_ref.py, lora_ref.py) in-process and adds the process's peak RSS to its JSON line
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
 * torch's own pool is set inside the process with torch.set_num_threads. lora_ref.py finds torch_ref.py through
 * UAL_TORCH_REF_DIR.
 */
export function torchEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, UAL_TORCH_REF_DIR: path.dirname(torchRefPath()) };
  for (const k of Object.keys(env)) if (/_NUM_THREADS$/.test(k)) delete env[k];
  return env;
}

function runWrapped(script: string, args: string[]): TorchBench {
  const r = spawnSync(TORCH_PY, ['-c', WRAP, script, ...args], { encoding: 'utf8', env: torchEnv(), maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${path.basename(script)} ${args[0]} failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as TorchBench;
}

/** One PyTorch full fine-tuning benchmark with `threads` intra-op threads (torch.set_num_threads) and OpenBLAS free. */
export function torchBench(modelDir: string, B: number, T: number, steps: number, threads = 1): TorchBench {
  return runWrapped(torchRefPath(), ['bench', '--model', modelDir, '--batch-size', String(B), '--seq', String(T),
    '--steps', String(steps), '--threads', String(threads)]);
}

/** The project's PyTorch LoRA reference (scripts/lora_ref.py, beside torch_ref.py's model). */
export function loraRefPath(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../scripts/lora_ref.py');
}

/**
 * One PyTorch LoRA benchmark (frozen base, adapters on `targets`, PEFT's x·Aᵀ·Bᵀ path), as torchBench. With a bf16
 * base the matrices are read tensor by tensor into bf16 and upcast to fp32 a block of rows per matmul (lora_ref.py).
 */
export function torchLoraBench(modelDir: string, B: number, T: number, steps: number, lora: { r: number; targets: string[] },
  threads = 1, baseDtype: 'fp32' | 'bf16' = 'fp32'): TorchBench {
  return runWrapped(loraRefPath(), ['bench', '--model', modelDir, '--batch-size', String(B), '--seq', String(T),
    '--steps', String(steps), '--threads', String(threads), '--r', String(lora.r), '--targets', lora.targets.join(','),
    '--base-dtype', baseDtype]);
}

/** The PyTorch settings the benchmark tries; the fastest is reported, with every one tried. */
export const TORCH_SETTINGS = [
  { threads: 1, label: 'torch.set_num_threads(1), OpenBLAS free (all cores)' },
  { threads: 2, label: 'torch.set_num_threads(2), OpenBLAS free (all cores)' },
] as const;

export interface TorchBest extends TorchBench {
  /** the winning setting's label */
  setting: string;
  /** the winning setting's tokens/s in each round (tokens_per_s is their median) */
  runs: number[];
  tried: Array<{ setting: string; threads: number; tokens_per_s: number; runs: number[] }>;
}

/**
 * PyTorch at its best setting: per setting the median over rounds (rounds[i][j] = round i, TORCH_SETTINGS[j]), the
 * setting with the highest median kept; its step time is the median too, its peak RSS the largest of its rounds.
 */
export function torchBest(rounds: TorchBench[][]): TorchBest {
  const per = TORCH_SETTINGS.map((s, j) => {
    const rs = rounds.map((r) => r[j]);
    return { s, rs, tps: median(rs.map((r) => r.tokens_per_s)) };
  });
  const best = per.reduce((a, b) => (b.tps > a.tps ? b : a));
  return {
    ...best.rs[0],
    tokens_per_s: best.tps,
    step_ms: median(best.rs.map((r) => r.step_ms)),
    peak_rss_mb: Math.max(...best.rs.map((r) => r.peak_rss_mb)),
    setting: best.s.label,
    runs: best.rs.map((r) => r.tokens_per_s),
    tried: per.map(({ s, rs, tps }) => ({ setting: s.label, threads: s.threads, tokens_per_s: tps, runs: rs.map((r) => r.tokens_per_s) })),
  };
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
  const r = spawnSync(TORCH_PY, ['-c', GREEDY, torchRefPath(), modelDir, String(promptLen), String(newTokens), String(threads)],
    { encoding: 'utf8', env: torchEnv(), maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`torch greedy failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}
