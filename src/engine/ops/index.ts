// The ops models and losses are built from: each records its own backward on the tape (one op per file).
export { matmul, type MatmulOptions } from './matmul.js';
export { linear, type LinearLayout } from './linear.js';
export { add } from './add.js';
export { mul } from './mul.js';
export { scale } from './scale.js';
export { embedding } from './embedding.js';
export { layernorm } from './layernorm.js';
export { rmsnorm } from './rmsnorm.js';
export { biasGelu, gelu } from './gelu.js';
export { silu } from './silu.js';
export { swiglu } from './swiglu.js';
export { rope } from './rope.js';
export { attention, attentionQkv, keepsProbs } from './attention.js';
export { split } from './split.js';
export { dropout } from './dropout.js';
export { smoothedCrossEntropy, IGNORE_INDEX, type EpsStyle } from './cross_entropy.js';
export { TEACHER_SUM_TOLERANCE, type TeacherTargets } from './teacher.js';
export {
  linearCrossEntropy, defaultChunkRows, CE_CHUNK_BYTES, type LinearCrossEntropyOptions,
} from './linear_cross_entropy.js';
