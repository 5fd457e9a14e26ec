// The training losses, free functions chosen by config (TRL's loss_type habit); the trainer never branches on them.
// All three are the per-row smoothed cross-entropy of DESIGN.md with a different epsilon per row, smoothed toward the
// uniform q of --eps-style or, when the batch carries them (--smooth-target teacher), toward the teacher's top-k; the
// model hands over its final hidden states and head weight, and headLoss applies the head and the loss: unfused (the
// (B, T, V) logits, then smoothedCrossEntropy) or, with `fused`, chunked over positions (linearCrossEntropy: no full logits).
import { linear, linearCrossEntropy, smoothedCrossEntropy, type Tensor } from '../engine/index.js';
import type { Batch } from '../data/collate.js';
import type { HeadInput } from '../models/index.js';

export type LossType = 'sft' | 'ls' | 'ual';
export type EpsStyle = 'paper' | 'hf';

export interface LossOptions {
  /** the single epsilon of 'ls' */
  epsilon: number;
  epsStyle: EpsStyle;
  /** chunk the head and the loss over positions (the default; --no-fused-loss turns it off) */
  fused?: boolean;
}

export type LossFn = (out: HeadInput, batch: Batch, opts: LossOptions) => Tensor;

/** The smoothed cross-entropy of the head's logits with epsilon per row, fused with the head or not. */
function headLoss(out: HeadInput, batch: Batch, eps: Float32Array, opts: LossOptions): Tensor {
  const { labels, teacher } = batch;
  if (opts.fused) return linearCrossEntropy(out.hidden, out.head, labels, eps, opts.epsStyle, { teacher });
  return smoothedCrossEntropy(linear(out.hidden, out.head, null, 'out_in'), labels, eps, opts.epsStyle, teacher); // (B, T, V)
}

/**
 * The epsilon each loss gives a row whose own (elicited) epsilon is `own`: the one definition, used by the losses below
 * and by the torch engine's data writer (src/train/plan.ts).
 */
export const ROW_EPSILON: Readonly<Record<LossType, (own: number, opts: LossOptions) => number>> = Object.freeze({
  sft: () => 0,
  ls: (_own: number, opts: LossOptions) => opts.epsilon,
  ual: (own: number) => own,
});

const smoothedBy = (loss: LossType): LossFn => (out, batch, opts) =>
  headLoss(out, batch, batch.eps.map((e) => ROW_EPSILON[loss](e, opts)), opts);

/** Plain supervised fine-tuning: cross-entropy, epsilon 0. */
export const sftLoss: LossFn = smoothedBy('sft');

/** Label smoothing with one epsilon for every row (Szegedy et al. 2016, arXiv 1512.00567). */
export const lsLoss: LossFn = smoothedBy('ls');

/** Uncertainty-aware learning: each row's own epsilon from its elicited uncertainty (Wang et al. 2024, arXiv 2406.04854). */
export const ualLoss: LossFn = smoothedBy('ual');

export const LOSSES: Readonly<Record<LossType, LossFn>> = Object.freeze({ sft: sftLoss, ls: lsLoss, ual: ualLoss });
