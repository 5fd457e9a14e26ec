// Gradient checkpointing (Chen et al. 2016, arXiv 1604.06174; torch.utils.checkpoint): a block runs forward without
// the tape and keeps only its input; backward reruns it with the tape and backpropagates through the rerun. Exact:
// the rerun sees the same input, parameters and random draws (dropout), so it reproduces the forward bit for bit.
import {
  Tensor, adoptGrad, closeBufferScope, isGradEnabled, noGradProbed, openBufferScope, record, recordSeparately,
  dropGrad, releaseBuffer, runTape, setGrad, watchRandom, type RandomSource,
} from './tensor.js';
import type { Arr } from './kernels.js';

export function checkpoint(x: Tensor, block: (x: Tensor) => Tensor): Tensor {
  if (!isGradEnabled()) return block(x);
  // the block's inner activations go back to the pool as soon as it has run; only its output stays
  const scope = openBufferScope();
  const { result: { result: y, wanted }, states } = watchRandom(() => noGradProbed(() => block(x)));
  closeBufferScope(scope, [y.data]);
  if (!wanted) return y; // nothing inside needs a gradient: nothing to recompute
  const out = new Tensor(y.data, y.shape, true, y.name);

  record(() => {
    if (!out.grad) return;
    const scope2 = openBufferScope();
    const xIn = new Tensor(x.data, x.shape, x.requiresGrad, x.name); // the rerun's own leaf: its gradient is dx
    const now = [...states.keys()].map((r): [RandomSource, number[]] => [r, r.getState()]);
    for (const [r, s] of states) r.setState(s);
    const { result: y2, steps } = recordSeparately(() => block(xIn));
    for (const [r, s] of now) r.setState(s); // later forwards (the next micro-batch) continue where they were
    setGrad(y2, out.grad);
    runTape(steps);
    const keep: Arr[] = [];
    if (x.requiresGrad && xIn.grad) {
      // the block is x's only consumer in our models, so x has no gradient yet and takes dx's buffer as is
      if (adoptGrad(x, xIn.grad)) {
        keep.push(xIn.grad);
        dropGrad(xIn); // x is its only holder now
      } else {
        const dx = x.ensureGrad(), g = xIn.grad;
        for (let i = 0; i < dx.length; i++) dx[i] += g[i];
        releaseBuffer(g);
      }
    }
    closeBufferScope(scope2, keep);
  }, out);
  return out;
}
