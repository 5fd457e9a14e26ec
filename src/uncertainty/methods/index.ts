// The method table behind --method. Adding a method is one entry here; `self` (entropy of a local checkpoint) needs
// models and the engine, so pipeline/self-elicitor.ts builds it and passes it to elicit() as `elicitor`.
import { UalError } from '../../errors.js';
import { logprobs } from './logprobs.js';
import { sampling } from './sampling.js';
import type { Elicitor, MethodOptions } from './types.js';
import { verbalized } from './verbalized.js';

export type { Elicitor, MethodContext, MethodOptions } from './types.js';

export const METHODS = {
  verbalized,
  sampling,
  logprobs,
  self: (): Elicitor => {
    throw new UalError('UAL_USAGE', '--method self is built from a local checkpoint: pass it to elicit() as `elicitor` (the CLI does, from --model-dir)');
  },
} satisfies Record<string, (o: MethodOptions) => Elicitor>;

export type MethodName = keyof typeof METHODS;

export function isMethodName(s: string): s is MethodName {
  return Object.prototype.hasOwnProperty.call(METHODS, s);
}
