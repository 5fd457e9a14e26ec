// `ual init`: placeholder until its implementation lands (being written now).
import { UalError } from '../errors.js';
import type { Command } from './command.js';

export const command: Command = {
  name: 'init',
  summary: '(init: not built yet)',
  usage: 'usage: ual init (not built yet)',
  async run() {
    throw new UalError('UAL_NOT_IMPLEMENTED', 'ual init is not built yet');
  },
};
