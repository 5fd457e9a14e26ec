// The engine's front door: importing it loads a backend (native when the addon is built, else js; UAL_BACKEND=js
// forces js) and re-exports tensors, the tape, the ops and the optimizer.
import type { Kernels } from './kernels.js';
import { jsKernels } from './backends/js.js';
import { loadNativeKernels } from './backends/native.js';
import { activeKernels, registerJsKernels, setKernels } from './tensor.js';

export * from './tensor.js';
export * from './ops/index.js';
export * from './optim.js';
export { checkpoint } from './checkpoint.js';
export { EPS_STYLE_HF, EPS_STYLE_PAPER, type Arr, type Kernels } from './kernels.js';
export { jsKernels };

export type BackendName = 'js' | 'native';

// undefined = not tried yet; null = tried, unavailable (not built, or no compiler on this machine)
let native: Kernels | null | undefined;
function nativeKernels(): Kernels | null {
  if (native === undefined) native = loadNativeKernels();
  return native;
}

/** Switch the kernels used for float32 tensors (float64 always runs on js). */
export function useBackend(name: BackendName): void {
  if (name === 'js') {
    setKernels(jsKernels);
  } else if (name === 'native') {
    const k = nativeKernels();
    if (!k) {
      throw new Error(process.env.UAL_BACKEND === 'js'
        ? 'the native backend is disabled by UAL_BACKEND=js: unset it to use native'
        : 'the native backend is not available: build it with `node scripts/build-native.mjs` ' +
          '(needs a C compiler; OpenBLAS optional), or use the js backend');
    }
    setKernels(k);
  } else {
    throw new Error(`unknown backend '${String(name)}': expected 'js' or 'native'`);
  }
}

export function backendName(): BackendName {
  return activeKernels().name;
}

/** Backends that can run here, js first (for running one test table on each). */
export function availableBackends(): BackendName[] {
  return nativeKernels() ? ['js', 'native'] : ['js'];
}

registerJsKernels(jsKernels);
const requested = process.env.UAL_BACKEND;
if (requested === 'native') useBackend('native');
else if (requested !== undefined && requested !== '' && requested !== 'js') {
  throw new Error(`UAL_BACKEND=${requested} is not a backend: use 'js' or 'native' (or leave it unset)`);
} else if (requested !== 'js') {
  const k = nativeKernels();
  if (k) setKernels(k);
}
