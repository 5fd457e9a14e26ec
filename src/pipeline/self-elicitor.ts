// `ual elicit --method self`: uncertainty without a judge server — the predictive entropy of a local checkpoint on the
// sample's responses (mean over response tokens of the next-token entropy), as a share of the maximum ln V, on 0–99.
// Lives in pipeline/ because it needs models and the engine, which the uncertainty layer does not import.
import fs from 'node:fs';
import path from 'node:path';
import { noGrad } from '../engine/index.js';
import { loadModel, positionLimit } from '../models/index.js';
import { loadTokenizer } from '../data/tokenizer.js';
import { Templater, type TemplateName } from '../data/template.js';
import { specialPrefix, tokenizeSegments, truncate } from '../data/tokenize.js';
import type { Message } from '../data/formats.js';
import type { Elicitor } from '../uncertainty/methods/index.js';
import { RowFailure } from '../errors.js';

/** Mean next-token entropy (nats) over the positions whose next token is a target; NaN when there is none. */
export function meanTargetEntropy(logits: Float32Array | Float64Array, labels: Int32Array, V: number): number {
  let sum = 0, n = 0;
  for (let t = 0; t + 1 < labels.length; t++) {
    if (labels[t + 1] < 0) continue;
    const o = t * V;
    let max = -Infinity;
    for (let v = 0; v < V; v++) if (logits[o + v] > max) max = logits[o + v];
    let z = 0, s = 0;
    for (let v = 0; v < V; v++) { const e = Math.exp(logits[o + v] - max); z += e; s += e * (logits[o + v] - max); }
    sum += Math.log(z) - s / z; // H = log Z - E[x - max]
    n++;
  }
  return n > 0 ? sum / n : NaN;
}

/** Entropy as a share of ln V, on the 0–99 scale the other methods use. */
export function entropyToScore(h: number, V: number): number {
  return Math.max(0, Math.min(99, Math.round((99 * h) / Math.log(V))));
}

/** An Elicitor for elicit(): identity in the cache key = the checkpoint's path, size and time of its weights. */
export function selfElicitor(modelDir: string, template: TemplateName = 'paper', maxLength = 1024): { elicitor: Elicitor; modelId: string } {
  const model = loadModel(modelDir);
  const tokenizer = loadTokenizer(modelDir);
  const templater = new Templater(template, tokenizer);
  const prefix = template === 'chat' ? [] : specialPrefix(tokenizer);
  const V = model.config.vocabSize;
  const weights = ['model.safetensors', 'model.safetensors.index.json'].map((f) => path.join(modelDir, f)).find((f) => fs.existsSync(f))!;
  const st = fs.statSync(weights);
  const modelId = `self:${path.resolve(modelDir)}:${st.size}:${Math.round(st.mtimeMs)}`;
  const ctx = Math.min(maxLength, positionLimit(model.config, 'eval').context);
  const elicitor: Elicitor = {
    name: 'self',
    server: false,
    promptId: `template:${template}`,
    params: { maxLength: ctx },
    answersPerSample: 1,
    estimate: () => ({ requests: 0, promptTokens: 0, completionTokens: 0 }),
    async answer(messages: Message[]) {
      if (!messages.some((m) => m.role === 'assistant')) throw new RowFailure('UAL_ELICIT_PARSE', 'the sample has no response to measure the entropy of');
      const { tokens } = truncate(tokenizeSegments(templater.segments(messages, '<sample>', 0), tokenizer, { prefix }), ctx);
      const { logits } = noGrad(() => model.forward(tokens.inputIds, 1, tokens.inputIds.length));
      const h = meanTargetEntropy(logits.data, tokens.labels, V);
      if (!Number.isFinite(h)) throw new RowFailure('UAL_ELICIT_PARSE', 'no response token is left within the context to measure');
      return { text: h.toFixed(6), entropy: h, value: entropyToScore(h, V), promptTokens: 0, completionTokens: 0 };
    },
    score: (answers) => answers[0].value ?? entropyToScore(answers[0].entropy ?? Number(answers[0].text), V),
  };
  return { elicitor, modelId };
}
