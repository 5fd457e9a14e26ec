// `ual demo`: the offline end-to-end UAL experiment (issue: the main job). Not built yet; says so plainly.
import type { Command } from './command.js';

export const command: Command = {
  name: 'demo',
  summary: 'run the offline end-to-end UAL experiment (not built yet)',
  usage: 'usage: ual demo\n\nThe end-to-end demo is not built yet: it lands with the demo issue.',
  async run() {
    process.stderr.write('ual demo: the end-to-end demo is not built yet. Today you can run: ual init, ual train, ual generate, ual bench train.\n');
    return 3;
  },
};
