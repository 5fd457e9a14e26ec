// `ual generate`: continue a prompt from a checkpoint (src/pipeline/generate.ts); text streams to stdout, and with
// --json the last line is {"ids": [prompt + new], "text": ...}.
import { GENERATE_FLAGS, generateText } from '../pipeline/generate.js';
import { flags } from '../util/options.js';
import { jsonFlag, printJson, tableCommand, type Command } from './command.js';

const HEAD = `usage: ual generate --model DIR (--prompt TEXT | --prompt-ids 1,2,3) [--max-new-tokens N] [--temperature T]
                    [--top-k K] [--top-p P] [--seed N] [--stop ID,..] [--json]`;

export const command: Command = tableCommand({
  name: 'generate',
  summary: 'generate text from a checkpoint (greedy, temperature, top-k, top-p)',
  head: HEAD,
  options: flags({ ...GENERATE_FLAGS, ...jsonFlag('{"ids", "text", "completion", "new_tokens", "stop_reason"} (instead of the streamed text)') }),
  async run(o) {
    // stream text as it is produced, except in --json mode, whose stdout is the JSON line alone
    const r = generateText(o, o.json ? undefined : (piece) => process.stdout.write(piece));
    if (!o.json && r.text !== null) process.stdout.write('\n');
    process.stderr.write(`generated ${r.new_tokens} tokens in ${r.seconds.toFixed(2)} s ` +
      `(${(r.new_tokens / Math.max(r.seconds, 1e-9)).toFixed(1)} tokens/s), stop: ${r.stop_reason}\n`);
    if (o.json) {
      printJson({ ids: r.ids, text: r.text, completion: r.completion, new_tokens: r.new_tokens, stop_reason: r.stop_reason });
    } else if (r.text === null) {
      process.stdout.write(r.ids.join(',') + '\n');
    }
    return 0;
  },
});
