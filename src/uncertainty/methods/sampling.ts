// `--method sampling`: the judge answers the sample's prompt k times at temperature T; the more its answers
// disagree, the more open the task (exact agreement for short answers, word-overlap diversity for long ones).
import { UalError } from '../../errors.js';
import type { Answer } from '../cache.js';
import { approxChatTokens } from '../estimate.js';
import { disagreement, toScore } from '../measures.js';
import { promptTurns } from '../rated.js';
import { maxTokensParam, usageOf, type Elicitor, type MethodOptions } from './types.js';

export function sampling(o: MethodOptions): Elicitor {
  if (o.samples < 2) throw new UalError('UAL_USAGE', `--samples must be at least 2 for --method sampling, got ${o.samples}`);
  const temperature = o.temperature ?? 1;
  const maxTokens = o.maxTokens ?? 256;
  return {
    name: 'sampling',
    server: true,
    promptId: 'sampling-v1',
    params: { temperature, maxTokens, samples: o.samples },
    answersPerSample: o.samples,
    estimate: (turns) => ({
      requests: o.samples,
      promptTokens: o.samples * approxChatTokens(promptTurns(turns)),
      completionTokens: o.samples * Math.min(maxTokens || 256, 128),
    }),
    async answer(turns, _idx, ctx): Promise<Answer> {
      const c = await ctx.chat({ model: o.model, messages: promptTurns(turns), temperature, ...maxTokensParam(maxTokens) });
      return { text: ctx.scrub(c.choices[0].message.content ?? ''), ...usageOf(c) };
    },
    score: (answers) => toScore(disagreement(answers.map((a) => a.text)).value),
  };
}
