// swiglu: silu(gate) * up, the gated MLP of Llama-family models, fused so silu(gate) is never materialized.
import { Tensor, gradOrScratch, allocOutput, kernelsFor, needsGrad, record, saveForBackward } from '../tensor.js';
import { checkDtypes, checkShape } from './util.js';

export function swiglu(gate: Tensor, up: Tensor): Tensor {
  checkDtypes('swiglu', gate, up);
  checkShape('swiglu', 'up', up, gate.shape);
  const n = gate.size;
  const k = kernelsFor(gate.data);
  const out = allocOutput(gate.data, n);
  k.swigluForward(gate.data, up.data, out, n);
  const y = new Tensor(out, [...gate.shape], needsGrad(gate, up));
  if (!y.requiresGrad) return y;
  saveForBackward(gate, up);

  record(() => {
    if (!y.grad) return;
    // the kernel writes both gradients; a frozen input's lands in a throwaway buffer
    const dgate = gradOrScratch(gate);
    const dup = gradOrScratch(up, gate.data);
    k.swigluBackward(y.grad, gate.data, up.data, dgate, dup, n);
  }, y);
  return y;
}
