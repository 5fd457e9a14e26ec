// How many positions a model takes, for each use: the one rule that forward's check, generation, training, scoring
// and the analysis read, so no two places compute a context length two ways.
import type { ModelConfig } from './config.js';

/** What the positions are for: one forward of any caller, decoding, training, scoring (eval), the analysis. */
export type PositionUse = 'forward' | 'generate' | 'train' | 'eval' | 'analyze';

export interface PositionLimit {
  /** the most positions one sequence may fill; forward refuses more (Infinity: no hard end) */
  max: number;
  /** what sets `max`, for error messages */
  by: 'n_positions' | 'sliding_window' | null;
  /** the length this use works at unless the user says otherwise (never more than max) */
  context: number;
}

/**
 * The rule.
 * - `max` is the same for every use. GPT-2's learned position table ends at n_positions. A sliding window
 *   (mistral's sliding_window, qwen2's with use_sliding_window) is not implemented, so a sequence longer than the
 *   window is refused rather than attended to in full. RoPE families have no other end (HF runs past
 *   max_position_embeddings too): Infinity.
 * - `context` for 'forward' and 'generate' is `max`: decoding goes as far as the model can, bounded by
 *   maxNewTokens, as HF's generate does. For 'train', 'eval' and 'analyze' it is min(max, max_position_embeddings
 *   or n_positions): the trained context, the sensible default length to train on and to score, since the model
 *   never saw positions past it. Cost caps a command adds on top (a default --max-len) stay with the command.
 */
export function positionLimit(config: ModelConfig, use: PositionUse): PositionLimit {
  let max = Infinity;
  let by: PositionLimit['by'] = null;
  if (config.family === 'gpt2') {
    max = config.maxPositions;
    by = 'n_positions';
  }
  if (config.slidingWindow !== null && config.slidingWindow < max) {
    max = config.slidingWindow;
    by = 'sliding_window';
  }
  const context = use === 'forward' || use === 'generate' ? max : Math.min(max, config.maxPositions);
  return { max, by, context };
}
