// `ual train`: placeholder until its implementation lands (being written now).
import { UalError } from '../errors.js';
import type { Command } from './command.js';

export const command: Command = {
  name: 'train',
  summary: '(train: not built yet)',
  usage: 'usage: ual train (not built yet)',
  async run() {
    throw new UalError('UAL_NOT_IMPLEMENTED', 'ual train is not built yet');
  },
};
