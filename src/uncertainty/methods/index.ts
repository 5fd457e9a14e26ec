// The method table behind --method. Adding a method is one entry here; `self` (entropy of a local checkpoint)
// joins once the engine lands.
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
    throw new UalError('UAL_NOT_IMPLEMENTED', '--method self needs the training engine, which has not landed yet',
      'use --method verbalized (default), sampling or logprobs with a judge server');
  },
} satisfies Record<string, (o: MethodOptions) => Elicitor>;

export type MethodName = keyof typeof METHODS;

export function isMethodName(s: string): s is MethodName {
  return Object.prototype.hasOwnProperty.call(METHODS, s);
}
