// The torch engine's input, written into <out>/engine/ before the worker starts: plan.json (every setting, the
// learning rate of each step) and little-endian arrays the worker memory-maps (tokens, labels, row offsets, each row's
// epsilon, the micro-step -> rows order; with --smooth-target teacher each position's top-k ids and probabilities),
// all from prepareData's rows and BatchOrder, so both engines train on the same thing. The layout is the contract
// with python/ual_worker (README "Beyond one machine").
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ADAMW_DEFAULTS } from '../engine/index.js';
import { saveOptions } from '../models/index.js';
import { writeAll, writeDirAtomic, writeFilesAtomic, type FileWriter } from '../util/atomic.js';
import type { TrainConfig } from './config.js';
import type { LoraWeights } from './lora.js';
import { ROW_EPSILON } from './losses.js';
import { collate } from '../data/collate.js';
import { BatchOrder, lrSchedule, type TrainData } from './prepare.js';

export const PLAN_VERSION = 1;
export const PLAN_FILE = 'plan.json';
export const ARRAYS = {
  tokens: 'tokens.i32', labels: 'labels.i32', offsets: 'offsets.i64', eps: 'eps.f32', order: 'order.i32',
  teacherIds: 'teacher_ids.i32', teacherProbs: 'teacher_probs.f32',
} as const;
const INIT_ADAPTER = 'init-adapter';

/**
 * The engine directory of a run: <out>/engine, or on several nodes <out>/engine/<host>.<pid>, so that nodes sharing
 * --out (as --resume from any node wants) never write or remove each other's files.
 */
export function engineDir(cfg: Pick<TrainConfig, 'out' | 'nnodes'>): string {
  const dir = path.join(path.resolve(cfg.out), 'engine');
  return cfg.nnodes > 1 ? path.join(dir, `${os.hostname()}.${process.pid}`) : dir;
}

/** plan.json's object (the contract's keys). */
export interface Plan {
  version: number;
  model: string;
  out: string;
  first: number;
  steps: number;
  grad_accum: number;
  micro_batch: number;
  loss: TrainConfig['loss'];
  eps_style: TrainConfig['epsStyle'];
  smooth_target: TrainConfig['smoothTarget'];
  /** entries per position of teacher_ids.i32 / teacher_probs.f32 (aligned with tokens.i32, zeros where no target); 0 = uniform */
  teacher_k: number;
  lr: number[];
  weight_decay: number;
  decay_all: boolean;
  adam: { beta1: number; beta2: number; eps: number };
  max_grad_norm: number;
  seed: number;
  lora: { r: number; alpha: number; dropout: number; targets: string[]; init: string } | null;
  merge: boolean;
  save_every: number;
  save_dtype: TrainConfig['saveDtype'];
  max_shard_size: number;
  gradient_checkpointing: boolean;
  /** the head and the loss chunked over target positions (--no-fused-loss: false), as the native engine */
  fused_loss: boolean;
  device: 'cpu' | 'cuda';
  dtype: TrainConfig['dtype'];
  /** torch.set_num_threads in each rank; 0 = torch's own default (`ual bench train --engine torch` sets it) */
  threads: number;
  resume: string | null;
  pad_id: 0;
  config: TrainConfig;
  rows: number;
  vocab_size: number;
}

/** Bytes of typed arrays appended to a file through one reused buffer: a dataset of any size in a few MB of memory. */
class ChunkedWriter {
  private buf = Buffer.allocUnsafe(4 << 20);
  private n = 0;
  constructor(private fd: number) {}

  write(a: Int32Array | Float32Array | BigInt64Array): void {
    const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    if (this.n + bytes.length > this.buf.length) this.flush();
    if (bytes.length > this.buf.length) writeAll(this.fd, bytes);
    else {
      this.buf.set(bytes, this.n);
      this.n += bytes.length;
    }
  }

  flush(): void {
    writeAll(this.fd, this.buf.subarray(0, this.n));
    this.n = 0;
  }
}

const streamed = (fill: (w: ChunkedWriter) => void): FileWriter => (fd) => {
  const w = new ChunkedWriter(fd);
  fill(w);
  w.flush();
};

/**
 * Write <out>/engine/: the init adapter (LoRA), the arrays, then plan.json (the file that makes the set visible);
 * each atomically. Returns plan.json's path.
 */
export function writePlan(cfg: TrainConfig, d: TrainData, lora: LoraWeights | null, o: { device: 'cpu' | 'cuda'; threads?: number }): string {
  // the arrays are the machine's own typed arrays: the worker reads them as little-endian
  if (os.endianness() !== 'LE') throw new Error('the torch engine writes little-endian arrays; this machine is big-endian');
  const dir = engineDir(cfg);
  const { rows } = d;
  let initDir = '';
  if (lora) {
    initDir = path.join(dir, INIT_ADAPTER);
    writeDirAtomic(initDir, (tmp) => lora.save(tmp, path.resolve(cfg.model)));
  }
  const lossOpts = { epsilon: cfg.epsilon, epsStyle: cfg.epsStyle };
  const micro = d.steps * cfg.gradAccum;
  const order = new BatchOrder(rows.length, cfg.batchSize, cfg.shuffle, cfg.seed);
  const files = [
    { target: path.join(dir, ARRAYS.tokens), fill: streamed((w) => { for (const r of rows) w.write(r.inputIds); }) },
    { target: path.join(dir, ARRAYS.labels), fill: streamed((w) => { for (const r of rows) w.write(r.labels); }) },
    {
      target: path.join(dir, ARRAYS.offsets), fill: streamed((w) => {
        let at = 0n;
        w.write(new BigInt64Array([at]));
        for (const r of rows) w.write(new BigInt64Array([(at += BigInt(r.inputIds.length))]));
      }),
    },
    { target: path.join(dir, ARRAYS.eps), fill: streamed((w) => w.write(Float32Array.from(rows, (r) => ROW_EPSILON[cfg.loss](r.epsilon, lossOpts)))) },
    { target: path.join(dir, ARRAYS.order), fill: streamed((w) => { for (let s = 0; s < micro; s++) w.write(Int32Array.from(order.rowsFor(s))); }) },
  ];
  const teacherK = cfg.smoothTarget === 'teacher' ? rows[0].teacher!.k : 0;
  if (teacherK) {
    // one row at a time in collate's per-position layout (the one the native engine hands to the loss)
    const perPosition = (pick: (t: { ids: Int32Array; probs: Float32Array }) => Int32Array | Float32Array) =>
      streamed((w) => { for (const r of rows) w.write(pick(collate([r]).teacher!)); });
    files.push({ target: path.join(dir, ARRAYS.teacherIds), fill: perPosition((t) => t.ids) },
      { target: path.join(dir, ARRAYS.teacherProbs), fill: perPosition((t) => t.probs) });
  }
  const plan: Plan = {
    version: PLAN_VERSION,
    model: path.resolve(d.weights),
    out: path.resolve(cfg.out),
    first: d.first,
    steps: d.steps,
    grad_accum: cfg.gradAccum,
    micro_batch: cfg.batchSize,
    loss: cfg.loss,
    eps_style: cfg.epsStyle,
    smooth_target: cfg.smoothTarget,
    teacher_k: teacherK,
    lr: lrSchedule(cfg, d.steps),
    weight_decay: cfg.weightDecay,
    decay_all: cfg.decayAll,
    adam: { ...ADAMW_DEFAULTS },
    max_grad_norm: cfg.maxGradNorm,
    seed: cfg.seed,
    lora: lora ? {
      r: lora.opts.r, alpha: lora.opts.alpha, dropout: lora.opts.dropout,
      targets: [...new Set(lora.adapters.map((a) => a.module.key.split('.').pop()!))], init: initDir,
    } : null,
    merge: cfg.merge,
    save_every: cfg.saveEvery,
    save_dtype: cfg.saveDtype,
    max_shard_size: saveOptions(cfg.saveDtype, cfg.maxShardSize).maxShardSize!,
    gradient_checkpointing: cfg.gradientCheckpointing,
    fused_loss: cfg.fusedLoss,
    device: o.device,
    dtype: cfg.dtype,
    threads: o.threads ?? 0,
    resume: d.resumeDir ? path.resolve(d.resumeDir) : null,
    pad_id: 0,
    config: cfg,
    rows: rows.length,
    vocab_size: d.config.vocabSize,
  };
  const planFile = path.join(dir, PLAN_FILE);
  writeFilesAtomic([...files, { target: planFile, fill: (fd) => writeAll(fd, Buffer.from(JSON.stringify(plan, null, 1) + '\n')) }]);
  return planFile;
}

/** Remove the arrays after a finished run (they can be as large as the tokenized dataset); plan.json stays as a record. */
export function removePlanArrays(planFile: string): void {
  for (const f of Object.values(ARRAYS)) fs.rmSync(path.join(path.dirname(planFile), f), { force: true });
}
