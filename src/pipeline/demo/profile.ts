// How big the demo is: the full experiment (about three minutes on 2 cores) and --quick (a smoke run of the same
// pipeline in under two minutes, which CI runs). Every size the demo uses lives here, and is written to results.json.
import type { EvalSettings } from './evaluate.js';

export interface ModelShape { layers: number; d: number; heads: number; ctx: number }

export interface DemoProfile {
  name: 'full' | 'quick';
  /** test arithmetic problems per step count (1, 2, 3) */
  testPerSteps: number;
  /** training rows per seed: arithmetic per step count, rows per open request type */
  train: { arithmetic: number; open: number };
  /** the teacher's fine-tuning rows (more data, more steps: the "stronger model") */
  teacher: { arithmetic: number; open: number; epochs: number };
  base: ModelShape;
  pretrain: { docs: number; steps: number; batchSize: number; blockLength: number; lr: number };
  finetune: { epochs: number; batchSize: number; lr: number; warmupRatio: number };
  /** mean epsilon of UAL's mapping and LS's constant: equal smoothing budgets */
  targetMeanEpsilon: number;
  eval: EvalSettings;
}

export const PROFILES: Readonly<Record<'full' | 'quick', DemoProfile>> = Object.freeze({
  full: {
    name: 'full',
    testPerSteps: 100,
    train: { arithmetic: 200, open: 150 },
    teacher: { arithmetic: 600, open: 450, epochs: 2 },
    base: { layers: 4, d: 128, heads: 4, ctx: 96 },
    pretrain: { docs: 30000, steps: 700, batchSize: 16, blockLength: 64, lr: 3e-3 },
    finetune: { epochs: 2, batchSize: 32, lr: 1e-3, warmupRatio: 0.1 },
    targetMeanEpsilon: 0.1,
    eval: { samples: 40, topP: 0.9, clusterTokens: 12, perToken: 40, panelPoints: 60 },
  },
  quick: {
    name: 'quick',
    testPerSteps: 20,
    train: { arithmetic: 60, open: 45 },
    teacher: { arithmetic: 120, open: 90, epochs: 3 },
    base: { layers: 2, d: 64, heads: 4, ctx: 96 },
    pretrain: { docs: 8000, steps: 300, batchSize: 16, blockLength: 64, lr: 3e-3 },
    finetune: { epochs: 2, batchSize: 32, lr: 1e-3, warmupRatio: 0.1 },
    targetMeanEpsilon: 0.1,
    eval: { samples: 12, topP: 0.9, clusterTokens: 6, perToken: 20, panelPoints: 30 },
  },
});
