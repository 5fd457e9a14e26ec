// `ual analyze clusters` as a library function: the paper's feature-space analysis for one or more checkpoints on
// the same data — silhouette of 2-D PCA per pair of the K most frequent next tokens, mean ± sd per model, an SVG
// of one pair, everything as JSON.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { hasTokenizer, TOKENIZER_JSON } from '../data/tokenizer.js';
import { UsageError } from '../errors.js';
import { analyzePairs, collectStates, pairPca, selectPositions, type Selection } from '../eval/clusters.js';
import { readScoredRows } from '../eval/rows.js';
import { TEMPLATES } from '../data/template.js';
import { round } from '../util/stats.js';
import { loadCodec, type TextCodec } from '../eval/text.js';
import { loadModel, positionLimit, type CausalLM } from '../models/index.js';
import type { ScatterPanel } from './report/charts.js';
import { writeFileAtomic } from '../util/atomic.js';
import { flags, type Values } from '../util/options.js';

export const CLUSTERS_FLAGS = flags({
  model: { flag: 'model', kind: 'list', arg: 'DIR', help: 'a checkpoint; repeat it to compare models (they must share the tokenizer)' },
  data: { flag: 'data', kind: 'string', arg: 'FILE', required: true, exists: true, help: 'rows in any dataset format (text is tokenized with the first model\'s tokenizer) or {input_ids}' },
  k: { flag: 'k', kind: 'int', min: 2, default: 42, arg: 'K', help: 'most frequent next tokens (42 -> 861 pairs)' },
  perToken: { flag: 'per-token', kind: 'int', min: 2, default: 100, help: 'states sampled per token (seeded)' },
  seed: { flag: 'seed', kind: 'int', min: 0, default: 0, help: 'sampling seed' },
  maxLen: { flag: 'max-len', kind: 'int', min: 2, help: 'tokens per row kept (default min(model positions, 512))' },
  limit: { flag: 'limit', kind: 'int', min: 1, help: 'only the first N rows' },
  template: { flag: 'template', kind: TEMPLATES, default: 'paper', help: 'how text rows are formatted, as in ual train' },
  pair: { flag: 'pair', kind: 'string', arg: 'A,B', help: 'token ids of the pair drawn in the SVG (default the two most frequent)' },
  svg: { flag: 'svg', kind: 'string', arg: 'FILE', help: 'scatter of that pair, one panel per model, side by side' },
  out: { flag: 'out', kind: 'string', arg: 'FILE', help: 'everything as JSON, including each pair\'s silhouette per model' },
  batchSize: { flag: 'batch-size', kind: 'int', min: 1, default: 8, help: 'sequences per forward' },
});

export interface ClustersHooks {
  /** the positions are chosen: rows, tokens analysed, pairs, the most frequent tokens as text */
  onSelected?(s: { rows: number; k: number; pairs: number; perToken: number; frequent: string[] }): void;
  onPair?(model: string, done: number, total: number): void;
  onModel?(model: string, mean: number, sd: number, pairs: number): void;
}

/**
 * One model's clusters on chosen positions: the final hidden states there, the silhouette of every pair of tokens
 * (mean, sd, each pair's), and the 2-D PCA of the pair `shown` (slots in the selection) with its silhouette.
 */
export function clusterModel(model: CausalLM, seqs: readonly (readonly number[])[], sel: Selection, shown: [number, number],
  o: { batchSize: number; onPair?: (done: number, total: number) => void }) {
  const C = model.config.hiddenSize;
  const states = collectStates(model, seqs, sel, { batchSize: o.batchSize });
  const r = analyzePairs(states, C, o.onPair);
  const { scores, labels } = pairPca(states, shown[0], shown[1], C);
  const silhouette = r.pairs.find((q) => q.a === Math.min(...shown) && q.b === Math.max(...shown))!.silhouette;
  return { ...r, scores, labels, silhouette };
}

function tokenizerHash(dir: string): string | null {
  const f = path.join(dir, TOKENIZER_JSON);
  return fs.existsSync(f) ? crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex') : null;
}

export async function analyzeClusters(o: Values<typeof CLUSTERS_FLAGS>, hooks: ClustersHooks = {}) {
  const cmd = 'analyze clusters';
  const dirs = o.model;
  if (dirs.length === 0) throw new UsageError(`ual ${cmd}: --model DIR is required (repeat it to compare models)`);
  const data = o.data;
  const K = o.k;
  const perToken = o.perToken;
  const seed = o.seed;

  const models: CausalLM[] = dirs.map((d) => loadModel(d));
  const V = models[0].config.vocabSize;
  const hashes = dirs.map(tokenizerHash);
  dirs.forEach((d, i) => {
    if (models[i].config.vocabSize !== V || hashes[i] !== hashes[0]) {
      throw new UsageError(`ual ${cmd}: ${d} does not share ${dirs[0]}'s ${models[i].config.vocabSize !== V ? `vocabulary (${models[i].config.vocabSize} vs ${V} tokens)` : 'tokenizer.json'}`,
        'the analysis compares the same tokens at the same positions: give models fine-tuned from one base');
    }
  });
  const template = o.template;
  const codec: TextCodec | null = hasTokenizer(dirs[0]) ? loadCodec(dirs[0], `ual ${cmd}`) : null;
  const limitPos = Math.min(...models.map((m) => positionLimit(m.config, 'analyze').context));
  const maxLen = o.maxLen ?? Math.min(limitPos, 512);
  const seqs = (await readScoredRows(data, { tokenizer: codec?.tokenizer ?? null, template, on: 'all', vocabSize: V, maxLength: maxLen, limit: o.limit }))
    .map((s) => Array.from(s.ids));
  const sel = selectPositions(seqs, K, perToken, seed);
  const Kused = sel.tokens.length;
  let shown: [number, number] = [0, 1];
  if (o.pair !== undefined) {
    const ids = o.pair.split(',').map((x) => Number(x.trim()));
    const slots = ids.map((id) => sel.tokens.indexOf(id));
    if (ids.length !== 2 || slots.some((s) => s < 0) || slots[0] === slots[1]) {
      throw new UsageError(`ual ${cmd}: --pair ${o.pair} must name two different token ids among the ${Kused} analysed`,
        `the most frequent next tokens here are ${sel.tokens.slice(0, 8).join(', ')}, ...`);
    }
    shown = [slots[0], slots[1]];
  }
  const tokenText = (id: number) => (codec ? JSON.stringify(codec.decode([id])) : `id ${id}`);
  hooks.onSelected?.({ rows: seqs.length, k: Kused, pairs: (Kused * (Kused - 1)) / 2, perToken, frequent: sel.tokens.slice(0, 5).map(tokenText) });

  const results = [];
  const names: [string, string] = [tokenText(sel.tokens[shown[0]]), tokenText(sel.tokens[shown[1]])];
  const panels: ScatterPanel[] = [];
  for (let i = 0; i < models.length; i++) {
    const r = clusterModel(models[i], seqs, sel, shown, { batchSize: o.batchSize, onPair: (done, total) => hooks.onPair?.(dirs[i], done, total) });
    const points = Array.from(r.labels, (label, j) => ({ x: r.scores[2 * j], y: r.scores[2 * j + 1], label: label as 0 | 1 }));
    panels.push({ title: `${path.basename(path.resolve(dirs[i]))}: silhouette ${r.silhouette.toFixed(3)}`, tokens: names, points });
    results.push({ model: dirs[i], silhouette_mean: round(r.mean), silhouette_sd: round(r.sd), pairs: r.pairs });
    hooks.onModel?.(dirs[i], r.mean, r.sd, r.pairs.length);
  }
  const svg = o.svg;
  if (svg) {
    // loaded here: vega takes ~0.5 s to import, which "ual --help" (it lists every command) should not pay
    const { clusterScatterSvg } = await import('./report/charts.js');
    writeFileAtomic(svg, await clusterScatterSvg(panels, `Final hidden states before the next token ${names[0]} vs ${names[1]} (2-D PCA)`));
  }
  const summary = {
    task: 'clusters', data, rows: seqs.length, k: Kused, pairs: (Kused * (Kused - 1)) / 2, per_token: perToken, seed,
    tokens: sel.tokens.map((id, j) => ({ id, text: codec ? codec.decode([id]) : null, count: sel.counts[j], sampled: sel.positions[j].length })),
    shown_pair: [sel.tokens[shown[0]], sel.tokens[shown[1]]],
    models: results.map(({ pairs: _p, ...m }) => m), svg: svg ?? null, out: o.out ?? null,
  };
  if (o.out) {
    const full = { ...summary, models: results.map((m) => ({ ...m, pairs: m.pairs.map((q) => [sel.tokens[q.a], sel.tokens[q.b], round(q.silhouette)]) })) };
    writeFileAtomic(o.out, JSON.stringify(full) + '\n');
  }
  return summary;
}
