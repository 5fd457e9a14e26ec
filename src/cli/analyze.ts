// `ual analyze clusters`: the paper's feature-space analysis for one or more checkpoints on the same data —
// silhouette of 2-D PCA per pair of the K most frequent next tokens, mean ± sd per model, an SVG, a JSON file.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { hasTokenizer, TOKENIZER_JSON } from '../data/tokenizer.js';
import { UalError, UsageError } from '../errors.js';
import { analyzePairs, collectStates, pairPca, selectPositions } from '../eval/clusters.js';
import { readScoredRows } from '../eval/rows.js';
import type { ScatterPanel } from '../pipeline/report/charts.js';
import { isTemplateName, TEMPLATES } from '../data/template.js';
import { round } from '../util/stats.js';
import { loadCodec, type TextCodec } from '../eval/text.js';
import { loadModel, positionLimit, type CausalLM } from '../models/index.js';
import { writeFileAtomic } from '../util/atomic.js';
import { numOpt, parseOptions, printJson, requireOpt, type Command } from './command.js';
import { progress } from './progress.js';

const USAGE = `usage: ual analyze clusters --model DIR [--model DIR2 ...] --data FILE [options]

The paper's analysis of the feature space: the final hidden states (after the final norm, the input of lm_head)
at every position, labelled by the next token; for each pair of the K most frequent next tokens, a 2-D PCA of
the two tokens' states and its silhouette score (scikit-learn's definition); mean ± sd over the pairs per model.
All models are compared on the same sampled positions, so they must share the tokenizer.

  --data FILE         rows in any dataset format (text is tokenized with the first model's tokenizer) or {input_ids}
  --k K               most frequent next tokens (default 42 -> 861 pairs)
  --per-token N       states sampled per token (default 100; seeded)       --seed N   sampling seed (default 0)
  --max-len N         tokens per row kept (default min(model positions, 512))  --limit N  first N rows
  --template T        paper (default) | chat | plain: how text rows are formatted, as in ual train
  --pair A,B          token ids of the pair drawn in the SVG (default the two most frequent)
  --svg FILE          scatter of that pair, one panel per model, side by side
  --out FILE          everything as JSON, including each pair's silhouette per model
  --batch-size N      sequences per forward (default 8)
  --json              last stdout line: {"models": [{"model", "silhouette_mean", "silhouette_sd"}], ...}`;

function tokenizerHash(dir: string): string | null {
  const f = path.join(dir, TOKENIZER_JSON);
  return fs.existsSync(f) ? crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex') : null;
}

export const command: Command = {
  name: 'analyze',
  summary: 'feature-space analysis: token clusters of final hidden states (silhouette, PCA)',
  usage: USAGE,
  async run(argv) {
    const [what, ...rest] = argv;
    if (what !== 'clusters') throw new UsageError(what ? `ual analyze: unknown analysis "${what}"` : 'ual analyze: which analysis?', 'the analysis is "clusters": run "ual analyze --help"');
    const o = parseOptions('analyze clusters', rest, {
      model: { type: 'string', multiple: true }, data: { type: 'string' }, k: { type: 'string' }, 'per-token': { type: 'string' },
      seed: { type: 'string' }, 'max-len': { type: 'string' }, limit: { type: 'string' }, template: { type: 'string' },
      pair: { type: 'string' }, svg: { type: 'string' }, out: { type: 'string' }, 'batch-size': { type: 'string' }, json: { type: 'boolean' },
    });
    const cmd = 'analyze clusters';
    const dirs = (o.model as unknown as string[] | undefined) ?? [];
    if (dirs.length === 0) throw new UsageError(`ual ${cmd}: --model DIR is required (repeat it to compare models)`);
    const data = requireOpt(cmd, 'data', o.data as string | undefined);
    if (!fs.existsSync(data)) throw new UalError('UAL_DATA_BAD_FILE', `--data ${data} does not exist`, 'check the path given to --data');
    const n = (k: string, d: number | undefined, min = 1) => (o[k] === undefined && d === undefined ? undefined : numOpt(cmd, k, o[k] as string | undefined, d, { int: true, min }));
    const K = n('k', 42, 2)!;
    const perToken = n('per-token', 100, 2)!;
    const seed = n('seed', 0, 0)!;

    const models: CausalLM[] = dirs.map((d) => loadModel(d));
    const V = models[0].config.vocabSize;
    const hashes = dirs.map(tokenizerHash);
    dirs.forEach((d, i) => {
      if (models[i].config.vocabSize !== V || hashes[i] !== hashes[0]) {
        throw new UsageError(`ual ${cmd}: ${d} does not share ${dirs[0]}'s ${models[i].config.vocabSize !== V ? `vocabulary (${models[i].config.vocabSize} vs ${V} tokens)` : 'tokenizer.json'}`,
          'the analysis compares the same tokens at the same positions: give models fine-tuned from one base');
      }
    });
    const template = (o.template as string | undefined) ?? 'paper';
    if (!isTemplateName(template)) throw new UsageError(`ual ${cmd}: --template must be one of ${TEMPLATES.join(', ')}, got "${template}"`);
    const codec: TextCodec | null = hasTokenizer(dirs[0]) ? loadCodec(dirs[0], `ual ${cmd}`) : null;
    const limitPos = Math.min(...models.map((m) => positionLimit(m.config, 'analyze').context));
    const maxLen = n('max-len', Math.min(limitPos, 512), 2)!;
    const seqs = (await readScoredRows(data, { tokenizer: codec?.tokenizer ?? null, template, on: 'all', vocabSize: V, maxLength: maxLen, limit: n('limit', undefined) }))
      .map((s) => Array.from(s.ids));
    const sel = selectPositions(seqs, K, perToken, seed);
    const Kused = sel.tokens.length;
    let shown: [number, number] = [0, 1];
    if (o.pair !== undefined) {
      const ids = (o.pair as string).split(',').map((x) => Number(x.trim()));
      const slots = ids.map((id) => sel.tokens.indexOf(id));
      if (ids.length !== 2 || slots.some((s) => s < 0) || slots[0] === slots[1]) {
        throw new UsageError(`ual ${cmd}: --pair ${o.pair as string} must name two different token ids among the ${Kused} analysed`,
          `the most frequent next tokens here are ${sel.tokens.slice(0, 8).join(', ')}, ...`);
      }
      shown = [slots[0], slots[1]];
    }
    const tokenText = (id: number) => (codec ? JSON.stringify(codec.decode([id])) : `id ${id}`);
    process.stderr.write(`analyze: ${seqs.length} rows, K = ${Kused} tokens (${(Kused * (Kused - 1)) / 2} pairs), ` +
      `up to ${perToken} states each; most frequent: ${sel.tokens.slice(0, 5).map(tokenText).join(', ')}\n`);

    const results = [];
    const names: [string, string] = [tokenText(sel.tokens[shown[0]]), tokenText(sel.tokens[shown[1]])];
    const panels: ScatterPanel[] = [];
    for (let i = 0; i < models.length; i++) {
      const p = progress(`analyze ${path.basename(path.resolve(dirs[i]))}`, (Kused * (Kused - 1)) / 2, '');
      const C = models[i].config.hiddenSize;
      const states = collectStates(models[i], seqs, sel, { batchSize: n('batch-size', 8) });
      const r = analyzePairs(states, C, (done) => p.update(done, {}));
      p.stop();
      const { scores, labels } = pairPca(states, shown[0], shown[1], C);
      const shownSil = r.pairs.find((q) => q.a === Math.min(...shown) && q.b === Math.max(...shown))!.silhouette;
      const points = Array.from(labels, (label, j) => ({ x: scores[2 * j], y: scores[2 * j + 1], label: label as 0 | 1 }));
      panels.push({ title: `${path.basename(path.resolve(dirs[i]))}: silhouette ${shownSil.toFixed(3)}`, tokens: names, points });
      results.push({ model: dirs[i], silhouette_mean: round(r.mean), silhouette_sd: round(r.sd), pairs: r.pairs });
      process.stderr.write(`  ${dirs[i]}: silhouette ${r.mean.toFixed(4)} ± ${r.sd.toFixed(4)} (mean ± sd over ${r.pairs.length} pairs)\n`);
    }
    const svg = o.svg as string | undefined;
    if (svg) {
      // loaded here: vega takes ~0.5 s to import, which "ual --help" (it lists every command) should not pay
      const { clusterScatterSvg } = await import('../pipeline/report/charts.js');
      writeFileAtomic(svg, await clusterScatterSvg(panels, `Final hidden states before the next token ${names[0]} vs ${names[1]} (2-D PCA)`));
    }
    const summary = {
      task: 'clusters', data, rows: seqs.length, k: Kused, pairs: (Kused * (Kused - 1)) / 2, per_token: perToken, seed,
      tokens: sel.tokens.map((id, j) => ({ id, text: codec ? codec.decode([id]) : null, count: sel.counts[j], sampled: sel.positions[j].length })),
      shown_pair: [sel.tokens[shown[0]], sel.tokens[shown[1]]],
      models: results.map(({ pairs: _p, ...m }) => m), svg: svg ?? null, out: (o.out as string | undefined) ?? null,
    };
    if (o.out) {
      const full = { ...summary, models: results.map((m) => ({ ...m, pairs: m.pairs.map((q) => [sel.tokens[q.a], sel.tokens[q.b], round(q.silhouette)]) })) };
      writeFileAtomic(o.out as string, JSON.stringify(full) + '\n');
    }
    if (o.json) printJson(summary);
    return 0;
  },
};
