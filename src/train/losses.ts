// The training losses, free functions chosen by config (TRL's loss_type habit); the trainer never branches on them.
// All three are the per-row smoothed cross-entropy of DESIGN.md with a different epsilon per row.
import { smoothedCrossEntropy, type Tensor } from '../engine/index.js';
import type { Batch } from '../data/collate.js';

export type LossType = 'sft' | 'ls' | 'ual';
export type EpsStyle = 'paper' | 'hf';

export interface LossOptions {
  /** the single epsilon of 'ls' */
  epsilon: number;
  epsStyle: EpsStyle;
}

export type LossFn = (logits: Tensor, batch: Batch, opts: LossOptions) => Tensor;

/** Plain supervised fine-tuning: cross-entropy, epsilon 0. */
export const sftLoss: LossFn = (logits, batch, opts) =>
  smoothedCrossEntropy(logits, batch.labels, new Float32Array(batch.B), opts.epsStyle);

/** Label smoothing with one epsilon for every row (Szegedy et al. 2016, arXiv 1512.00567). */
export const lsLoss: LossFn = (logits, batch, opts) =>
  smoothedCrossEntropy(logits, batch.labels, new Float32Array(batch.B).fill(opts.epsilon), opts.epsStyle);

/** Uncertainty-aware learning: each row's own epsilon from its elicited uncertainty (Wang et al. 2024, arXiv 2406.04854). */
export const ualLoss: LossFn = (logits, batch, opts) =>
  smoothedCrossEntropy(logits, batch.labels, batch.eps, opts.epsStyle);

export const LOSSES: Readonly<Record<LossType, LossFn>> = Object.freeze({ sft: sftLoss, ls: lsLoss, ual: ualLoss });
