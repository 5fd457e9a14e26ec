// `ual train`: fine-tune a checkpoint on dataset rows with sft / ls / ual loss and write the run directory. The
// options are src/train/config.ts's table (its defaults and presets); the run is src/train/trainer.ts.
import { train } from '../train/trainer.js';
import { resolveTrainConfig, TRAIN_DEFAULTS, TRAIN_FLAGS } from '../train/config.js';
import { flags, readArgv, usage } from '../util/options.js';
import { jsonFlag, printJson, type Command } from './command.js';
import { progress, type Progress } from './progress.js';

const OPTIONS = flags({ ...TRAIN_FLAGS, ...jsonFlag('{"steps", "final_loss", "tokens_per_s", "out"} (and "note" on a torch node without rank 0)') });

const HEAD = `usage: ual train --model DIR --data FILE --out DIR (--steps N | --epochs E) [options]

FILE: JSONL or a JSON array of Alpaca, ShareGPT, OpenAI messages, GSM8K, MetaMathQA, LIMA or pretokenized rows
{input_ids, labels?, epsilon?}, laid out with --template and tokenized with the checkpoint's tokenizer.json.`;

export const command: Command = {
  name: 'train',
  summary: 'fine-tune a checkpoint with sft, ls or ual loss',
  options: OPTIONS,
  usage: usage(HEAD, OPTIONS, { defaults: TRAIN_DEFAULTS }),
  async run(argv) {
    const { raw } = readArgv('train', OPTIONS, argv);
    const cfg = resolveTrainConfig(raw);
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
        onWarning: (msg) => process.stderr.write(`ual train: warning: ${msg}\n`),
        onLog: (line) => process.stderr.write(`ual train: ${line}\n`),
      });
    } finally {
      (bar as Progress | null)?.stop();
    }
    process.stderr.write(result.note ? `ual train: ${result.note}\n`
      : `ual train: ${result.steps} steps, final loss ${result.final_loss.toFixed(4)}, ${Math.round(result.tokens_per_s)} tokens/s; wrote ${result.out}\n`);
    if (raw.json) printJson(result);
    return 0;
  },
};
