// `ual train`: fine-tune a checkpoint on pretokenized rows with sft / ls / ual loss and write the run directory.
import { train } from '../train/trainer.js';
import { resolveTrainConfig, trainParseOptions, trainUsage } from '../train/config.js';
import { parseOptions, printJson, type Command } from './command.js';
import { progress } from './progress.js';

export const command: Command = {
  name: 'train',
  summary: 'fine-tune a checkpoint with sft, ls or ual loss',
  usage: trainUsage(),
  async run(argv) {
    const opts = parseOptions('train', argv, { ...trainParseOptions(), json: { type: 'boolean' } });
    const cfg = resolveTrainConfig(opts);
    const bar = progress('train', cfg.steps, 'loss {loss} lr {lr} tok/s {tps}');
    let result;
    try {
      result = train(cfg, (m) => bar.update(m.step, { loss: m.loss.toFixed(4), lr: m.lr.toExponential(2), tps: Math.round(m.tokens_per_s) }));
    } finally {
      bar.stop();
    }
    process.stderr.write(`ual train: ${result.steps} steps, final loss ${result.final_loss.toFixed(4)}, ${Math.round(result.tokens_per_s)} tokens/s; wrote ${result.out}\n`);
    if (opts.json) printJson(result);
    return 0;
  },
};
