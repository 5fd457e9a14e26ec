// split: copies of consecutive slices of the last dim (a fused qkv projection into q, k, v; gate/up halves).
import { Tensor, allocOutput, needsGrad, record } from '../tensor.js';
import { describe, fail, lastDim } from './util.js';

export function split(x: Tensor, sizes: number[]): Tensor[] {
  const C = lastDim('split', x);
  const total = sizes.reduce((a, b) => a + b, 0);
  if (total !== C || sizes.some((s) => !Number.isInteger(s) || s < 0)) {
    fail('split', `sizes [${sizes}] must be non-negative integers summing to the last dim of ${describe(x)}`);
  }
  const N = x.size / C;
  const X = x.data;
  const grad = needsGrad(x);
  const parts: Tensor[] = [];
  let start = 0;
  for (const S of sizes) {
    const out = allocOutput(X, N * S); // (N, S)
    for (let n = 0; n < N; n++) out.set(X.subarray(n * C + start, n * C + start + S), n * S);
    parts.push(new Tensor(out, [...x.shape.slice(0, -1), S], grad));
    start += S;
  }
  if (!grad) return parts;

  // one closure for all parts: every consumer of any part was recorded later, so it has already run
  record(() => {
    let dx: typeof X | null = null;
    let off = 0;
    for (let p = 0; p < parts.length; p++) {
      const S = sizes[p];
      const dp = parts[p].grad;
      if (dp) {
        dx ??= x.ensureGrad();
        for (let n = 0; n < N; n++) {
          const src = n * S, dst = n * C + off;
          for (let j = 0; j < S; j++) dx[dst + j] += dp[src + j];
        }
      }
      off += S;
    }
  }, parts);
  return parts;
}
