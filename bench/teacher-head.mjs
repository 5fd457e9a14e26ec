// Cost of smoothing toward a teacher (issue 13) in the fused LM head + loss on the Qwen2.5-0.5B head shape
// (V = 151,936, C = 896, T = 512, k = 32): linearCrossEntropy forward + backward with the uniform q vs a top-k teacher,
// trained and frozen head, plus the crossEntropy kernel alone over 512 rows. Run: npx tsc -p tsconfig.build.json &&
// node bench/teacher-head.mjs [repeats]   (uses dist/ and the native addon in build/; medians, uniform and teacher run alternately)
import { Tensor, activeKernels, backward, backendName, jsKernels, linearCrossEntropy } from '../dist/engine/index.js';

const [V, C, T, K] = [151936, 896, 512, 32];
const repeats = Number(process.argv[2] ?? 3);
let seed = 1;
const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296);
const fill = (n, s) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * s);

const hidden = fill(T * C, 1), weight = fill(V * C, 0.05);
const labels = Int32Array.from({ length: T }, () => Math.floor(rand() * V));
const ids = Int32Array.from({ length: T * K }, () => Math.floor(rand() * V));
const probs = new Float32Array(T * K);
for (let n = 0; n < T; n++) {
  let s = 0;
  for (let j = 0; j < K; j++) s += probs[n * K + j] = rand() ** 4;
  for (let j = 0; j < K; j++) probs[n * K + j] /= s;
}
const teacher = { k: K, ids, probs };

const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
/** median ms of a and of b, run alternately (a shared machine's load drifts) after one warm-up each */
function timePair(a, b) {
  a(); b();
  const ta = [], tb = [];
  for (let r = 0; r < repeats; r++) {
    for (const [fn, ts] of [[a, ta], [b, tb]]) { const t = performance.now(); fn(); ts.push(performance.now() - t); }
  }
  return [median(ta), median(tb)];
}

function head(trainHead, withTeacher) {
  return () => {
    const h = Tensor.from(hidden, [1, T, C], 'float32', true);
    const w = Tensor.from(weight, [V, C], 'float32', trainHead);
    backward(linearCrossEntropy(h, w, labels, [0.1], 'paper', withTeacher ? { teacher } : {}));
  };
}

console.log(`backend ${backendName()}, V ${V}, C ${C}, T ${T}, k ${K}, median of ${repeats}`);
for (const trainHead of [true, false]) {
  const [u, q] = timePair(head(trainHead, false), head(trainHead, true));
  console.log(`fused head + loss, ${trainHead ? 'trained' : 'frozen '} head: uniform ${u.toFixed(0)} ms, ` +
    `teacher ${q.toFixed(0)} ms (${((q / u - 1) * 100).toFixed(1)}%)`);
}
// the kernel alone over all 512 rows, in place (as the chunks call it between GEMMs); its output is fed back in as
// the next call's logits: the cost does not depend on the values
const y = fill(T * V, 3), eps = new Float32Array(T).fill(0.1), losses = new Float32Array(T);
const kernels = backendName() === 'native' ? [['native', activeKernels()], ['js', jsKernels]] : [['js', jsKernels]];
for (const [name, kk] of kernels) {
  const [u, q] = timePair(() => kk.crossEntropy(y, labels, eps, T, V, 0, losses, y, 1 / T),
    () => kk.crossEntropy(y, labels, eps, T, V, 0, losses, y, 1 / T, K, ids, probs));
  console.log(`crossEntropy kernel (${name}, ${T} x ${V}, in place): uniform ${u.toFixed(0)} ms, teacher ${q.toFixed(0)} ms`);
}
