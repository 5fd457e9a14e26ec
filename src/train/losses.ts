// The training losses, free functions chosen by config (TRL's loss_type habit); the trainer never branches on them.
// All three are the per-row smoothed cross-entropy of DESIGN.md with a different epsilon per row, computed fused with
// the LM head (linearCrossEntropy): the model hands over its final hidden states and head weight, never logits.
import { linearCrossEntropy, type Tensor } from '../engine/index.js';
import type { Batch } from '../data/collate.js';
import type { HeadInput } from '../models/index.js';

export type LossType = 'sft' | 'ls' | 'ual';
export type EpsStyle = 'paper' | 'hf';

export interface LossOptions {
  /** the single epsilon of 'ls' */
  epsilon: number;
  epsStyle: EpsStyle;
}

export type LossFn = (out: HeadInput, batch: Batch, opts: LossOptions) => Tensor;

/** Plain supervised fine-tuning: cross-entropy, epsilon 0. */
export const sftLoss: LossFn = (out, batch, opts) =>
  linearCrossEntropy(out.hidden, out.head, batch.labels, new Float32Array(batch.B), opts.epsStyle);

/** Label smoothing with one epsilon for every row (Szegedy et al. 2016, arXiv 1512.00567). */
export const lsLoss: LossFn = (out, batch, opts) =>
  linearCrossEntropy(out.hidden, out.head, batch.labels, new Float32Array(batch.B).fill(opts.epsilon), opts.epsStyle);

/** Uncertainty-aware learning: each row's own epsilon from its elicited uncertainty (Wang et al. 2024, arXiv 2406.04854). */
export const ualLoss: LossFn = (out, batch, opts) =>
  linearCrossEntropy(out.hidden, out.head, batch.labels, batch.eps, opts.epsStyle);

export const LOSSES: Readonly<Record<LossType, LossFn>> = Object.freeze({ sft: sftLoss, ls: lsLoss, ual: ualLoss });
