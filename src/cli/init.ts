// `ual init`: write a randomly initialized GPT-2, Llama or Qwen2 checkpoint (or a published shape, --preset) in Hugging Face layout; the work is
// src/pipeline/init.ts, this prints what was written.
import { INIT_FLAGS, initCheckpoint } from '../pipeline/init.js';
import { flags } from '../util/options.js';
import { jsonFlag, printJson, tableCommand, type Command } from './command.js';

const HEAD = `usage: ual init --arch gpt2|llama|qwen2 --layers N --d N --heads N [--vocab N | --tokenizer DIR] [options] --out DIR
       ual init --preset qwen2.5-0.5b [--tokenizer DIR] [options] --out DIR

Writes a random checkpoint in Hugging Face layout: config.json + model.safetensors, or shards + index above
--max-shard-size (weights N(0, 0.02), norm scales 1, biases 0). With --tokenizer DIR the vocabulary size comes
from DIR/tokenizer.json, whose tokenizer files are copied into --out.`;

export const command: Command = tableCommand({
  name: 'init',
  summary: 'create a random GPT-2, Llama or Qwen2 checkpoint (Hugging Face layout)',
  head: HEAD,
  options: flags({ ...INIT_FLAGS, ...jsonFlag('{"out", "model_type", "params", ...}') }),
  async run(o) {
    const s = initCheckpoint(o);
    if (o.json) {
      printJson(s);
    } else {
      process.stdout.write(`wrote ${s.out}: ${s.model_type}, ${s.params.toLocaleString('en-US')} parameters, ` +
        `vocab ${s.vocab_size}${s.tokenizer_files.length ? `, tokenizer from ${o.tokenizer ?? 'the preset'}` : ''}\n`);
    }
    return 0;
  },
});
