// `--method logprobs`: the judge answers the sample's prompt once, greedily, returning top_logprobs; the mean
// entropy of its first answer tokens is the uncertainty. Servers that return no logprobs stop the run clearly.
import { UalError } from '../../errors.js';
import type { Answer } from '../cache.js';
import { approxChatTokens } from '../estimate.js';
import { firstTokenEntropy, toScore } from '../measures.js';
import { promptTurns } from '../rated.js';
import { usageOf, type Elicitor, type MethodOptions } from './types.js';

export function logprobs(o: MethodOptions): Elicitor {
  if (o.topLogprobs < 1 || o.topLogprobs > 20) throw new UalError('UAL_USAGE', `--top-logprobs must be 1..20, got ${o.topLogprobs}`);
  const temperature = o.temperature ?? 0;
  const answerTokens = o.answerTokens;
  return {
    name: 'logprobs',
    server: true,
    promptId: 'logprobs-v1',
    params: { temperature, topLogprobs: o.topLogprobs, answerTokens },
    answersPerSample: 1,
    estimate: (turns) => ({ requests: 1, promptTokens: approxChatTokens(promptTurns(turns)), completionTokens: answerTokens }),
    async answer(turns, _idx, ctx): Promise<Answer> {
      const c = await ctx.chat({
        model: o.model, messages: promptTurns(turns), temperature, max_tokens: answerTokens,
        logprobs: true, top_logprobs: o.topLogprobs,
      });
      const content = c.choices[0].logprobs?.content ?? [];
      const positions = content.slice(0, answerTokens)
        .map((t) => ({ logprobs: (t.top_logprobs ?? []).map((x) => x.logprob).filter((x) => Number.isFinite(x)) }));
      if (positions.length === 0 || positions.every((p) => p.logprobs.length === 0)) {
        throw new UalError('UAL_ELICIT_UNSUPPORTED', `the server at ${ctx.baseURL} returned no top_logprobs for model ${o.model}`,
          'use a server that supports logprobs + top_logprobs (OpenAI, vLLM, llama.cpp server), or --method verbalized');
      }
      return { text: ctx.scrub(c.choices[0].message.content ?? ''), entropy: firstTokenEntropy(positions), ...usageOf(c) };
    },
    score: (answers) => toScore(answers[0].entropy as number),
  };
}
