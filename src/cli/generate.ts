// `ual generate`: placeholder until its implementation lands (being written now).
import { UalError } from '../errors.js';
import type { Command } from './command.js';

export const command: Command = {
  name: 'generate',
  summary: '(generate: not built yet)',
  usage: 'usage: ual generate (not built yet)',
  async run() {
    throw new UalError('UAL_NOT_IMPLEMENTED', 'ual generate is not built yet');
  },
};
