// `ual bench train --engine torch`'s PyTorch side: the benchmarked shape trained by the torch engine itself (ual train
// --engine torch: plan, torchrun, python/ual_worker, one rank; CUDA when torch sees a GPU), timed from the worker's own
// step events, PyTorch set up as the reference benchmarks run it (torch.set_num_threads per setting, OpenBLAS free:
// no *_NUM_THREADS variables).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveTrainConfig } from '../train/config.js';
import { trainTorch } from '../train/torch-engine.js';
import { Rng } from '../util/rng.js';
import { median } from '../util/stats.js';
import type { TrainBenchSpec } from './bench.js';
import { TORCH_PY, torchEnv, type TorchBench } from './torchref.js';

/** Rows of random token ids, `seq` long, one micro-batch of them per step (every token a target). */
function benchRows(s: TrainBenchSpec, steps: number, file: string): void {
  const rng = new Rng(1);
  const rows = Array.from({ length: steps * s.batchSize }, () =>
    JSON.stringify({ input_ids: Array.from({ length: s.seq }, () => Math.floor(rng.next() * s.vocab)) }));
  fs.writeFileSync(file, rows.join('\n') + '\n');
}

/**
 * `steps` timed training steps of checkpoint `dir` (the shape `s`) on the torch engine after the spec's warmup steps,
 * with `threads` intra-op threads: the median step's tokens/s, the first step, the worker group's peak RSS.
 */
export async function torchEngineBench(dir: string, s: TrainBenchSpec, steps: number, threads: number): Promise<TorchBench & { first_step_ms: number }> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-bench-torch-'));
  try {
    const warmup = s.warmup ?? 2;
    const data = path.join(tmp, 'rows.jsonl');
    benchRows(s, warmup + steps, data);
    const lora = s.lora ? { 'lora-r': String(s.lora.r), 'lora-alpha': String(2 * s.lora.r), 'lora-dropout': '0', 'lora-targets': s.lora.targets.join(',') } : {};
    const cfg = resolveTrainConfig({
      model: dir, data, out: path.join(tmp, 'run'), steps: String(warmup + steps), 'batch-size': String(s.batchSize), lr: '1e-4',
      loss: 'ls', 'max-length': String(s.seq), 'max-grad-norm': '0', 'no-shuffle': true, engine: 'torch', python: TORCH_PY, ...lora,
      ...(s.unfused ? { 'no-fused-loss': true } : {}), // the head and loss path ours runs
    });
    const { worker } = await trainTorch(cfg, {}, { threads, env: torchEnv() });
    const ms = worker.steps.map((m) => (1000 * m.tokens) / m.tokens_per_s);
    const step = median(ms.slice(warmup));
    return {
      engine: `torch ${String(worker.start.torch)} engine (ual_worker via torchrun, 1 rank, ${String(worker.start.device)}, ${String(worker.start.backend)})${s.lora ? ` + LoRA r ${s.lora.r}` : ''}`,
      // the intra-op threads the rank ran with (its start event), not only the ones asked for
      threads: Number(worker.start.threads), tokens_per_s: (s.batchSize * s.seq) / (step / 1000), step_ms: step, first_step_ms: ms[0], peak_rss_mb: worker.peak_rss_mb,
    };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
