// `ual elicit`: placeholder until its implementation lands (being written now).
import { UalError } from '../errors.js';
import type { Command } from './command.js';

export const command: Command = {
  name: 'elicit',
  summary: '(elicit: not built yet)',
  usage: 'usage: ual elicit (not built yet)',
  async run() {
    throw new UalError('UAL_NOT_IMPLEMENTED', 'ual elicit is not built yet');
  },
};
