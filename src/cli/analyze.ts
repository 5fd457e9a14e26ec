// `ual analyze clusters`: the paper's feature-space analysis (src/pipeline/analyze.ts) with progress and the
// silhouette of each model on stderr, the summary as JSON on the last stdout line.
import path from 'node:path';
import { analyzeClusters, CLUSTERS_FLAGS } from '../pipeline/analyze.js';
import { flags } from '../util/options.js';
import { groupCommand, jsonFlag, printJson, tableCommand, type Command } from './command.js';
import { stagedProgress } from './progress.js';

const HEAD = `usage: ual analyze clusters --model DIR [--model DIR2 ...] --data FILE [options]

The paper's analysis of the feature space: the final hidden states (after the final norm, the input of lm_head)
at every position, labelled by the next token; for each pair of the K most frequent next tokens, a 2-D PCA of
the two tokens' states and its silhouette score (scikit-learn's definition); mean ± sd over the pairs per model.
All models are compared on the same sampled positions, so they must share the tokenizer.`;

const clusters = tableCommand({
  name: 'analyze clusters',
  summary: 'token clusters of final hidden states: silhouette per pair of frequent tokens, PCA scatter',
  head: HEAD,
  options: flags({ ...CLUSTERS_FLAGS, ...jsonFlag('{"models": [{"model", "silhouette_mean", "silhouette_sd"}], ...}') }),
  async run(o) {
    const bars = stagedProgress();
    let summary;
    try {
      summary = await analyzeClusters(o, {
        onSelected: (s) => process.stderr.write(`analyze: ${s.rows} rows, K = ${s.k} tokens (${s.pairs} pairs), ` +
          `up to ${s.perToken} states each; most frequent: ${s.frequent.join(', ')}\n`),
        onPair: (model, done, total) => bars.update(`analyze ${path.basename(path.resolve(model))}`, done, total),
        onModel: (model, mean, sd, pairs) => {
          bars.stop();
          process.stderr.write(`  ${model}: silhouette ${mean.toFixed(4)} ± ${sd.toFixed(4)} (mean ± sd over ${pairs} pairs)\n`);
        },
      });
    } finally {
      bars.stop();
    }
    if (o.json) printJson(summary);
    return 0;
  },
});

export const command: Command = groupCommand('analyze', 'feature-space analysis: token clusters of final hidden states (silhouette, PCA)',
  ['analysis', 'analyses'], 'usage: ual analyze <analysis> [options]', { clusters });
