// What every `ual generate --json` answer must be, exactly: the prompt's own ids first, then as many new tokens as
// asked (or fewer, ending in eos), and text and completion as the checkpoint's tokenizer decodes those ids.
import { expect } from 'vitest';
import { Tokenizer } from '../../src/data/tokenizer.js';

export interface Generated { ids: number[]; text: string; completion: string; new_tokens: number; stop_reason: string }

export function expectGenerated(res: Generated, modelDir: string, prompt: string, maxNewTokens: number): void {
  const tk = Tokenizer.load(modelDir);
  const promptIds = tk.encode(prompt);
  expect(res.ids.slice(0, promptIds.length)).toEqual(promptIds);
  expect(res.ids).toHaveLength(promptIds.length + res.new_tokens);
  if (res.stop_reason === 'stop') expect(res.ids.at(-1)).toBe(tk.eosId);
  else expect([res.stop_reason, res.new_tokens]).toEqual(['length', maxNewTokens]);
  expect(res.text).toBe(tk.decode(res.ids, { skipSpecialTokens: true }));
  expect(res.completion).toBe(tk.decode(res.ids.slice(promptIds.length), { skipSpecialTokens: true }));
}
