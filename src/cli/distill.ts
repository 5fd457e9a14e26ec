// `ual distill`: add a teacher's top-k next-token probabilities to every training row ("teacher_topk"), the targets
// of `ual train --smooth-target teacher`. Flags and the work are src/pipeline/distill.ts; progress on stderr.
import { distill, DISTILL_FLAGS } from '../pipeline/distill.js';
import { flags } from '../util/options.js';
import { finish, jsonFlag, tableCommand, type Command } from './command.js';
import { progress, type Progress } from './progress.js';

const HEAD = `usage: ual distill --model TEACHER --data ROWS --out WITH_TARGETS.jsonl [--top-k 32] [options]

For every target token of every row, tokenized exactly as ual train does (give it the training run's --template,
--max-length, --train-on-prompt), the teacher's top-k next-token probabilities (raw softmax, descending) are added to
the row as "teacher_topk" {k, fingerprint, ids, probs}; rows keep every field. Train on the output with
"ual train --data WITH_TARGETS.jsonl --smooth-target teacher": it renormalises each top-k and refuses targets whose
fingerprint (tokenizer, template, max length) is not its own. Killed, a rerun continues after the last complete batch.`;

export const command: Command = tableCommand({
  name: 'distill',
  summary: 'add a teacher\'s top-k next-token targets to training rows',
  head: HEAD,
  options: flags({ ...DISTILL_FLAGS, ...jsonFlag('the summary') }),
  async run(o) {
    let bar: Progress | null = null;
    let s;
    try {
      s = await distill(o, {
        onProgress(done, total) {
          bar ??= progress('distill', total, '');
          bar.update(done, {});
        },
        onNote: (msg) => process.stderr.write(`ual distill: note: ${msg}\n`),
      });
    } finally {
      (bar as Progress | null)?.stop();
    }
    return finish(`distill: ${s.rows} rows -> ${s.out} (${s.targets_rows} with targets, ${s.tokens} target tokens, top-${s.k}` +
      `${s.resumed_rows ? `, ${s.resumed_rows} rows resumed` : ''}); mean kept mass ${s.mean_mass.toFixed(4)}, ${s.elapsed_s.toFixed(1)} s`, s, o.json);
  },
});
