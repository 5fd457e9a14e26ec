// `--method verbalized` (the paper's): the judge reads the whole sample and states a 0–99 open-endedness score.
// An unreadable reply is asked again with a short correction, at most --parse-retries times; never guessed.
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { RowFailure } from '../../errors.js';
import type { Answer } from '../cache.js';
import { approxChatTokens } from '../estimate.js';
import { parseScore } from '../parse.js';
import { builtinPrompt, filePrompt, REASK } from '../prompt.js';
import { maxTokensParam, usageOf, type Elicitor, type MethodOptions } from './types.js';

export function verbalized(o: MethodOptions): Elicitor {
  const prompt = o.promptFile ? filePrompt(o.promptFile) : builtinPrompt();
  const temperature = o.temperature ?? 0;
  const maxTokens = o.maxTokens ?? 64;
  return {
    name: 'verbalized',
    server: true,
    promptId: prompt.id,
    params: { temperature, maxTokens },
    answersPerSample: 1,
    estimate: (turns) => ({ requests: 1, promptTokens: approxChatTokens(prompt.build(turns)), completionTokens: 8 }),
    async answer(turns, _idx, ctx): Promise<Answer> {
      const base: ChatCompletionMessageParam[] = prompt.build(turns);
      let messages = base;
      const used = { promptTokens: 0, completionTokens: 0 };
      for (let ask = 0; ; ask++) {
        const c = await ctx.chat({ model: o.model, messages, temperature, ...maxTokensParam(maxTokens) });
        const u = usageOf(c);
        used.promptTokens += u.promptTokens;
        used.completionTokens += u.completionTokens;
        const text = c.choices[0].message.content ?? '';
        const value = parseScore(text);
        if (value !== null) return { text: ctx.scrub(text), value, ...used };
        if (ask >= o.parseRetries) {
          const cut = c.choices[0].finish_reason === 'length' ? ` (cut off at --max-tokens ${maxTokens})` : '';
          const shown = ctx.scrub(text.replace(/\s+/g, ' ').trim()).slice(0, 120);
          throw new RowFailure('UAL_ELICIT_PARSE', `no 0-99 score in ${ask + 1} replies${cut}; last reply: "${shown}"`);
        }
        ctx.reasked();
        messages = [...base, { role: 'assistant', content: text.slice(0, 500) }, { role: 'user', content: REASK }];
      }
    },
    score: (answers) => answers[0].value as number,
  };
}
