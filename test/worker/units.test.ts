// The worker's pieces on their own (units.py prints what it measures, asserted here): the fused head + loss
// (python/ual_worker/loss.py) passes finite differences in float64 for both epsilon styles and equals the unfused
// (B, T, V) loss and its gradients, with the uniform and the teacher target; a frozen head (LoRA) gets no gradient; no target gives 0, not 0/0; under bf16
// autocast (on the CPU here: the code path of --dtype bf16 on CUDA) the loss stays float32 and the gradients take the
// parameters' dtype; a write removes only the temps of its own target whose writer is gone.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { describeWith } from '../helpers/needs.js';
import { needTorch, PYTHON } from '../helpers/worker.js';

describeWith(needTorch, 'the worker\'s loss and atomic writes', () => {
  let r: Record<string, unknown>;
  beforeAll(() => {
    const p = spawnSync(PYTHON, [path.join(ROOT, 'test', 'worker', 'units.py')], {
      encoding: 'utf8', env: { ...process.env, PYTHONPATH: path.join(ROOT, 'python'), OMP_NUM_THREADS: '1' },
    });
    expect(p.status, p.stderr).toBe(0);
    r = JSON.parse(p.stdout.trim().split('\n').pop()!);
  });

  it.each(['paper', 'hf'])('fused head + loss, %s: finite differences, the unfused loss, a frozen head, bf16 autocast', (style) => {
    expect(r[`gradcheck_${style}`]).toBe(true);
    const vs = r[`fused_vs_unfused_${style}`] as Record<string, number>;
    console.log(`${style}: fused vs unfused: loss ${vs.loss_rel.toExponential(2)} relative, d hidden ${vs.d_hidden.toExponential(2)}, d head ${vs.d_head.toExponential(2)}`);
    expect(vs.loss_rel).toBeLessThan(1e-6);
    expect(vs.d_hidden).toBeLessThan(1e-6);
    expect(vs.d_head).toBeLessThan(1e-6);
    expect(r[`frozen_head_${style}`]).toEqual({ head_grad: false, d_hidden: expect.any(Number) });
    expect((r[`frozen_head_${style}`] as { d_hidden: number }).d_hidden).toBeLessThan(1e-6);
    const bf = r[`bf16_autocast_${style}`] as { loss_dtype: string; grad_dtypes: string[]; loss_rel_vs_fp32: number; loss_rel_vs_unfused_bf16: number; d_hidden_rel: number };
    expect([bf.loss_dtype, bf.grad_dtypes]).toEqual(['torch.float32', ['torch.float32', 'torch.float32']]);
    expect(bf.loss_rel_vs_fp32).toBeGreaterThan(0); // autocast did run the head in bfloat16
    expect(bf.loss_rel_vs_fp32).toBeLessThan(1e-2);
    expect(bf.loss_rel_vs_unfused_bf16).toBeLessThan(1e-5);
    expect(bf.d_hidden_rel).toBeLessThan(5e-2);
  });

  it('teacher target: finite differences, fused = unfused, unfused = the dense target\'s cross-entropy', () => {
    expect(r.gradcheck_teacher).toBe(true);
    const t = r.teacher as { fused_vs_unfused: Record<string, number>; unfused_vs_dense: number };
    expect(t.fused_vs_unfused.loss_rel).toBeLessThan(1e-6);
    expect(t.fused_vs_unfused.d_hidden).toBeLessThan(1e-6);
    expect(t.fused_vs_unfused.d_head).toBeLessThan(1e-6);
    expect(t.unfused_vs_dense).toBeLessThan(1e-6);
  });

  it('epsilon 0 is cross-entropy; no target gives loss 0 and zero gradients', () => {
    expect(r.eps0_vs_cross_entropy).toBeLessThan(1e-6);
    expect(r.no_targets).toEqual([0, 0, 0]);
  });

  it('a write removes the temps a killed writer of the same target left, and nothing else', () => {
    expect(r.temps_left).toEqual(r.temps_expected);
  });
});
