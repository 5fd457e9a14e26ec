// Entry of a demo child process (forked by pool.ts with one OpenBLAS thread): receives one FinetuneJob, reports its
// steps, and sends back the result or the error (a UalError's code, message and hint survive the trip).
import { UalError } from '../../errors.js';
import { finetuneAndScore, type FinetuneJob } from './finetune.js';

export type JobMessage =
  | { type: 'step'; step: number; loss: number }
  | { type: 'evaluate' }
  | { type: 'warning'; message: string }
  | { type: 'done'; result: Awaited<ReturnType<typeof finetuneAndScore>> }
  | { type: 'error'; code: string; message: string; hint?: string };

const send = (m: JobMessage) => new Promise<void>((ok) => process.send!(m, () => ok()));

process.once('message', (job: FinetuneJob) => {
  finetuneAndScore(job, {
    onStep: (step, loss) => void send({ type: 'step', step, loss }),
    onEvaluate: () => void send({ type: 'evaluate' }),
    onWarning: (message) => void send({ type: 'warning', message }),
  })
    .then((result) => send({ type: 'done', result }))
    .catch((e: unknown) => send(e instanceof UalError
      ? { type: 'error', code: e.code, message: e.message, hint: e.hint }
      : { type: 'error', code: 'UAL_INTERNAL', message: (e as Error).stack ?? String(e) }))
    .finally(() => process.disconnect());
});
