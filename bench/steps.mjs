// Per-step times of the benchmark's training step (forward, backward, AdamW), with the step's CPU time, page faults,
// the pool's size and the process's RSS: where a first step's extra time goes. Not a benchmark (no PyTorch beside
// it): a diagnostic. Needs the compiled dist/ (npx tsc -p tsconfig.build.json).
//   node bench/steps.mjs gpt|llama|gpt2|q05 [steps] [--no-plan]   (--no-plan: without the memory plan ual train makes)
import * as E from '../dist/engine/index.js';
import { initModel } from '../dist/models/index.js';
import { benchConfigJson } from '../dist/pipeline/bench.js';
import { Lora } from '../dist/train/lora.js';
import { LOSSES } from '../dist/train/losses.js';

const SHAPES = {
  gpt: { arch: 'gpt2', layers: 4, d: 256, heads: 4, vocab: 512, seq: 128, batchSize: 8 },
  llama: { arch: 'llama', layers: 4, d: 256, heads: 4, kvHeads: 2, vocab: 512, seq: 128, batchSize: 8 },
  gpt2: { arch: 'gpt2', layers: 12, d: 768, heads: 12, vocab: 50257, seq: 256, batchSize: 4 },
  q05: { arch: 'llama', layers: 24, d: 896, heads: 14, kvHeads: 2, vocab: 151936, ffn: 4864, tie: true, biasQkv: true, seq: 512, batchSize: 1, lora: ['q_proj', 'v_proj'] },
};
const s = SHAPES[process.argv[2]];
if (!s) throw new Error(`shape must be one of ${Object.keys(SHAPES).join(', ')}`);
const model = initModel(benchConfigJson({ ...s, ctx: s.seq }), 0, {});
const params = s.lora ? Lora.attach(model, { r: 8, alpha: 16, dropout: 0, targets: s.lora }).parameters() : model.parameters();
const ids = Int32Array.from({ length: s.batchSize * s.seq }, (_, i) => (i * 7919) % s.vocab);
const batch = { B: s.batchSize, T: s.seq, ids, labels: ids, eps: new Float32Array(s.batchSize).fill(0.1), targets: s.batchSize * (s.seq - 1), tokens: ids.length };
const t0 = performance.now();
const opt = new E.AdamW(params, { lr: 1e-4 });
console.log(`optimizer setup ${(performance.now() - t0).toFixed(0)} ms`);
if (!process.argv.includes('--no-plan')) {
  const p = E.planStepMemory(() => { const l = LOSSES.ls(model.forwardHidden(ids, s.batchSize, s.seq), batch, { epsilon: 0.1, epsStyle: 'paper', fused: true }); E.backward(l); });
  console.log(`memory plan ${p.ms.toFixed(0)} ms, pool ${(p.bytes / 1e6).toFixed(0)} MB`);
}
for (let i = 0; i < Number(process.argv[3] && !process.argv[3].startsWith('--') ? process.argv[3] : 6); i++) {
  const r0 = process.resourceUsage(), t = performance.now();
  opt.zeroGrad();
  const scope = E.openBufferScope();
  const loss = LOSSES.ls(model.forwardHidden(ids, s.batchSize, s.seq), batch, { epsilon: 0.1, epsStyle: 'paper', fused: true });
  const tf = performance.now();
  E.backward(loss);
  const tb = performance.now();
  E.closeBufferScope(scope);
  opt.step();
  const te = performance.now(), r1 = process.resourceUsage();
  const ms = (a, b) => ((b - a) / 1000).toFixed(0);
  console.log(`step ${i}: ${(te - t).toFixed(0)} ms (forward+loss ${(tf - t).toFixed(0)}, backward ${(tb - tf).toFixed(0)}, AdamW ${(te - tb).toFixed(0)}); ` +
    `user ${ms(r0.userCPUTime, r1.userCPUTime)} ms, sys ${ms(r0.systemCPUTime, r1.systemCPUTime)} ms, ${r1.minorPageFault - r0.minorPageFault} page faults; ` +
    `pool ${(E.pool.heldBytes / 1e6).toFixed(0)} MB, RSS ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB`);
}
