// `ual bench`: placeholder until its implementation lands (being written now).
import { UalError } from '../errors.js';
import type { Command } from './command.js';

export const command: Command = {
  name: 'bench',
  summary: '(bench: not built yet)',
  usage: 'usage: ual bench (not built yet)',
  async run() {
    throw new UalError('UAL_NOT_IMPLEMENTED', 'ual bench is not built yet');
  },
};
