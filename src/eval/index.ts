// The evaluation layer's front door: answer extraction, batched scoring and generation, math accuracy, multiple
// choice, pairwise judging, perplexity and calibration, the clustering analysis, and generation speed.
export * from './extract.js';
export * from './text.js';
export * from './prompts.js';
export * from './batch.js';
export * from './generate.js';
export * from './rows.js';
export * from './math.js';
export * from './mc.js';
export * from './judge.js';
export * from './calibration.js';
export * from './linalg.js';
export * from './clusters.js';
export * from './speed.js';
export * from './lc.js';
