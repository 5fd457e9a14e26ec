// Loads the native kernels (build/Release/ual_native.node: C++ with OpenBLAS or a portable GEMM) as a Kernels object.
// The addon's functions take the contract's arguments in the contract's order, so they are used as-is (no wrapper).
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Kernels } from '../kernels.js';

/** the binding version these sources expect (UAL_NATIVE_ABI in native/addon.cc) */
export const NATIVE_ABI = 3;

export interface NativeInfo {
  /** the binding's version (UAL_NATIVE_ABI): a binary built from other sources is not loaded */
  abi: number;
  /** linked against OpenBLAS (false: the portable blocked GEMM) */
  openblas: boolean;
  /** threads of the kernels' pool (GEMM splits, attention heads, row kernels; OpenBLAS itself runs on one) */
  threads: number;
  /** compiler flags and target features the addon was built with */
  flags: string;
  /** OpenBLAS's build configuration, or a description of the portable GEMM */
  blas: string;
}

type Addon = Omit<Kernels, 'name'> & { info(): NativeInfo; setThreads(n: number): void };

const ADDON_FILE = path.join('build', 'Release', 'ual_native.node');

// undefined = not tried yet; null = unavailable
let addon: Addon | null | undefined;
// why a binary that exists could not load; the CLI tells the user (library code never writes to stderr)
let loadProblem: string | null = null;

/** The package root holding build/: the nearest ancestor of this file that has one (src/engine/backends or dist/...). */
function findBinary(): string | null {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const p = path.join(dir, ADDON_FILE);
    if (fs.existsSync(p)) return p;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return null;
}

function loadAddon(): Addon | null {
  if (addon !== undefined) return addon;
  addon = null;
  if (process.env.UAL_BACKEND === 'js') return addon;
  const file = findBinary();
  if (!file) return addon;
  try {
    const a = createRequire(import.meta.url)(file) as Addon;
    const abi = a.info().abi;
    if (abi !== NATIVE_ABI) {
      loadProblem = `the native kernels in ${file} were built from other sources (binding version ${abi ?? 'none'}, ` +
        `these sources need ${NATIVE_ABI}); using the plain-TypeScript backend. Rebuild with \`npm run build\`.`;
      return addon;
    }
    addon = a;
  } catch (err) {
    // a binary that exists but cannot load (e.g. libopenblas removed since the build) should be heard about once
    loadProblem = `cannot load the native kernels (${(err as Error).message.split('\n')[0]}); ` +
      'using the plain-TypeScript backend. Rebuild with `npm rebuild ual` (or `npm run build`).';
  }
  return addon;
}

/** Why the native kernels were built but did not load (null when they loaded, were not built, or were not tried). */
export function nativeLoadProblem(): string | null {
  return loadProblem;
}

/** The native Kernels, or null when the addon is not built (or UAL_BACKEND=js). Float32Array only: Float64Array throws. */
export function loadNativeKernels(): Kernels | null {
  const a = loadAddon();
  if (!a) return null;
  return {
    name: 'native',
    gemm: a.gemm,
    gemmBf16: a.gemmBf16,
    embeddingForwardBf16: a.embeddingForwardBf16,
    layernormForward: a.layernormForward,
    layernormBackward: a.layernormBackward,
    rmsnormForward: a.rmsnormForward,
    rmsnormBackward: a.rmsnormBackward,
    geluForward: a.geluForward,
    geluBackward: a.geluBackward,
    swigluForward: a.swigluForward,
    swigluBackward: a.swigluBackward,
    ropeForward: a.ropeForward,
    ropeBackward: a.ropeBackward,
    attentionForward: a.attentionForward,
    attentionBackward: a.attentionBackward,
    embeddingForward: a.embeddingForward,
    embeddingBackward: a.embeddingBackward,
    crossEntropy: a.crossEntropy,
    adamw: a.adamw,
    sumSquares: a.sumSquares,
    attentionQkvForward: a.attentionQkvForward,
    attentionQkvBackward: a.attentionQkvBackward,
    axpy: a.axpy,
    addRows: a.addRows,
    biasGeluForward: a.biasGeluForward,
    biasGeluBackward: a.biasGeluBackward,
    populate: a.populate,
  };
}

/** How the addon was built and how many threads sgemm uses; null when it is not loaded. */
export function nativeInfo(): NativeInfo | null {
  const a = loadAddon();
  return a ? a.info() : null;
}

/** Set the kernels' thread count (their pool); default UAL_THREADS or every usable core. No-op without the addon. */
export function setNativeThreads(n: number): void {
  const a = loadAddon();
  if (a) a.setThreads(n);
}
