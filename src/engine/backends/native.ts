// Placeholder for the native (C + OpenBLAS) backend loader, until its real implementation lands.
// The engine calls loadNativeKernels() at import and falls back to the js kernels when it returns null.
import type { Kernels } from "../kernels.js";

export function loadNativeKernels(): Kernels | null {
  return null;
}
