// `ual train`: fine-tune a checkpoint on pretokenized rows with sft / ls / ual loss and write the run directory.
import { train } from '../train/trainer.js';
import { resolveTrainConfig, trainParseOptions, trainUsage } from '../train/config.js';
import { parseOptions, printJson, type Command } from './command.js';
import { progress, type Progress } from './progress.js';

export const command: Command = {
  name: 'train',
  summary: 'fine-tune a checkpoint with sft, ls or ual loss',
  usage: trainUsage(),
  async run(argv) {
    const opts = parseOptions('train', argv, { ...trainParseOptions(), json: { type: 'boolean' } });
    const cfg = resolveTrainConfig(opts);
    let bar: Progress | null = null;
    let result;
    try {
      result = await train(cfg, {
        onStart(steps, first, summary) {
          const s = summary;
          process.stderr.write(`ual train: ${s.rows} rows (${s.format}${s.template ? `, template ${s.template}` : ''}; ` +
            `${s.skipped} skipped, ${s.truncated} truncated, ${s.dropped} without targets), ${s.tokens} tokens, ${steps} steps` +
            `${first ? `, resuming after step ${first}` : ''}\n`);
          bar = progress('train', steps, 'loss {loss} lr {lr} tok/s {tps}');
        },
        onStep: (m) => bar?.update(m.step, { loss: m.loss.toFixed(4), lr: m.lr.toExponential(2), tps: Math.round(m.tokens_per_s) }),
      });
    } finally {
      (bar as Progress | null)?.stop();
    }
    process.stderr.write(`ual train: ${result.steps} steps, final loss ${result.final_loss.toFixed(4)}, ${Math.round(result.tokens_per_s)} tokens/s; wrote ${result.out}\n`);
    if (opts.json) printJson(result);
    return 0;
  },
};
