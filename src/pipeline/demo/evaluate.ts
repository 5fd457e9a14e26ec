// Scores one fine-tuned demo model against the benchmark's ground truth: greedy accuracy on the arithmetic, sampled
// answers to the open requests against their true distributions, token calibration (ECE), and how well the final
// hidden states separate by next token (silhouette) — all through the eval layer, as `ual eval`/`analyze` do.
import { loadModel, positionLimit, type CausalLM } from '../../models/index.js';
import { loadTokenizer, type Tokenizer } from '../../data/tokenizer.js';
import { Templater } from '../../data/template.js';
import { specialPrefix, tokenizeSegments } from '../../data/tokenize.js';
import { selectPositions } from '../../eval/clusters.js';
import { clusterModel } from '../analyze.js';
import { scoreTokens } from '../../eval/calibration.js';
import { generateAll } from '../../eval/generate.js';
import { codecFromTokenizer } from '../../eval/text.js';
import { promptEncoder } from '../../eval/prompts.js';
import { scoreAnswer } from '../../eval/extract.js';
import { mean, round } from '../../util/stats.js';
import type { TokenSeq } from '../../eval/rows.js';
import { Rng } from '../../util/rng.js';
import { TASK_TYPES, taskType, type TestSplit } from './benchmark.js';
import { openScores } from './metrics.js';
import type { ClusterPanel, SampleCounts } from './results.js';

export interface EvalSettings {
  /** sampled answers per open prompt */
  samples: number;
  /** nucleus mass of the second decoding (the first samples the raw distribution: temperature 1, no truncation) */
  topP: number;
  /** most frequent next tokens whose pairs the silhouette averages over */
  clusterTokens: number;
  /** states sampled per token */
  perToken: number;
  /** scatter points kept per token in the report's panel */
  panelPoints: number;
}

export interface ModelEval {
  metrics: Record<string, number>;
  per_type: Record<string, Record<string, number>>;
  /** how many samples each metric bounded to [0, 1] is over (for its interval across seeds) */
  samples: SampleCounts;
  panel: Omit<ClusterPanel, 'method' | 'seed'>;
  /** a few decoded answers per open type, to show in logs */
  examples: Record<string, string[]>;
}

/** Reference sequences (prompt + gold answer) with the response as targets, exactly as training tokenizes them. */
export function referenceSeqs(tk: Tokenizer, pairs: readonly { instruction: string; output: string }[]): TokenSeq[] {
  const t = new Templater('paper', tk);
  const prefix = specialPrefix(tk);
  return pairs.map((p, i) => {
    const segs = t.segments([{ role: 'user', content: p.instruction }, { role: 'assistant', content: p.output }], '<demo test>', i + 1);
    const tok = tokenizeSegments(segs, tk, { prefix });
    return { ids: tok.inputIds, labels: tok.labels, line: i + 1 };
  });
}

/** Greedy answers to the arithmetic problems, scored: 1 right, 0 wrong, per task type. */
function arithmeticRight(model: CausalLM, tk: Tokenizer, test: TestSplit): Map<string, number[]> {
  const codec = codecFromTokenizer(tk);
  const enc = promptEncoder(codec, 'paper');
  const { newIds } = generateAll(model, test.arithmetic.map((s) => enc(s.instruction)), { maxNewTokens: 48, stopIds: codec.eosIds, batchSize: 32 });
  const right = new Map<string, number[]>();
  test.arithmetic.forEach((s, i) => {
    const ok = scoreAnswer(codec.decode(newIds[i]), s.gold!, 'strict').correct ? 1 : 0;
    if (!right.has(s.type)) right.set(s.type, []);
    right.get(s.type)!.push(ok);
  });
  return right;
}

function sampleOpen(model: CausalLM, tk: Tokenizer, test: TestSplit, s: EvalSettings, seed: number, topP: number): Map<string, string[]> {
  const codec = codecFromTokenizer(tk);
  const enc = promptEncoder(codec, 'paper');
  const prompts: number[][] = [], seeds: number[] = [], types: string[] = [];
  test.open.forEach((p, i) => {
    const ids = enc(p.instruction);
    for (let k = 0; k < s.samples; k++) { prompts.push(ids); seeds.push(seed * 1_000_003 + i * s.samples + k); types.push(p.type); }
  });
  const { newIds } = generateAll(model, prompts, { maxNewTokens: 10, stopIds: codec.eosIds, temperature: 1, topP, rowSeeds: seeds, batchSize: 64 });
  const byType = new Map<string, string[]>();
  newIds.forEach((ids, i) => {
    if (!byType.has(types[i])) byType.set(types[i], []);
    byType.get(types[i])!.push(codec.decode(ids).trim());
  });
  return byType;
}

export function evaluateModel(dir: string, test: TestSplit, s: EvalSettings, seed: number): ModelEval {
  const model = loadModel(dir);
  const tk = loadTokenizer(dir);
  const per_type: Record<string, Record<string, number>> = {};
  const samples: SampleCounts = { metrics: {}, per_type: {} };
  const right = arithmeticRight(model, tk, test);
  for (const t of TASK_TYPES) {
    if (t.entropy !== 'low') continue;
    const xs = right.get(t.id) ?? [];
    per_type[t.id] = { accuracy: round(mean(xs)) };
    samples.per_type[t.id] = { accuracy: xs.length };
  }
  const allRight = [...right.values()].flat();
  samples.metrics.accuracy = allRight.length;

  // two decodings of the open requests: the raw distribution (what TV against the truth is about) and nucleus
  // sampling as deployed, which drops the long tail a smoothed model spreads over the whole vocabulary
  const open: Record<string, number> = {};
  const examples: Record<string, string[]> = {};
  for (const [suffix, topP] of [['', 1], ['_p', s.topP]] as const) {
    const answers = sampleOpen(model, tk, test, s, seed, topP);
    const counts = { validity: 0, coverage: 0, tv: 0 };
    const scores = [...answers.entries()].map(([type, xs]) => {
      const sc = openScores(xs, taskType(type).answers);
      // validity and tv are over the sampled answers, coverage over the valid answers
      const n = { validity: xs.length, coverage: taskType(type).answers.length, tv: xs.length };
      Object.assign((per_type[type] ??= {}), { [`validity${suffix}`]: round(sc.validity), [`coverage${suffix}`]: round(sc.coverage), [`tv${suffix}`]: round(sc.tv) });
      Object.assign((samples.per_type[type] ??= {}), { [`validity${suffix}`]: n.validity, [`coverage${suffix}`]: n.coverage, [`tv${suffix}`]: n.tv });
      for (const k of ['validity', 'coverage', 'tv'] as const) counts[k] += n[k];
      if (suffix === '') examples[type] = xs.slice(0, 5);
      return sc;
    });
    for (const k of ['validity', 'coverage', 'tv'] as const) {
      open[k + suffix] = round(mean(scores.map((x) => x[k])));
      samples.metrics[k + suffix] = counts[k];
    }
  }

  const arithSeqs = referenceSeqs(tk, test.arithmetic);
  const cal = scoreTokens(model, arithSeqs, { maxLen: positionLimit(model.config, 'eval').context, batchSize: 32 });

  // hidden-state clusters over every test reference (one gold or modal answer per open prompt)
  const openRefs = test.open.map((p) => ({ instruction: p.instruction, output: taskType(p.type).answers[0].text }));
  const seqs = [...arithSeqs, ...referenceSeqs(tk, openRefs)].map((q) => Array.from(q.ids));
  const sel = selectPositions(seqs, s.clusterTokens, s.perToken, 0);
  const clusters = clusterModel(model, seqs, sel, [0, 1], { batchSize: 32 });
  const { scores, labels } = clusters;
  const keep = new Rng(seed).permutation(labels.length).slice(0, 2 * s.panelPoints);
  const points = Array.from(keep, (i) => ({ x: round(scores[2 * i], 4), y: round(scores[2 * i + 1], 4), label: labels[i] as 0 | 1 }));
  const name = (id: number) => tk.idToToken(id) ?? String(id);
  samples.metrics.ece = cal.tokens; // ECE averages over the scored tokens

  return {
    metrics: {
      accuracy: round(mean(allRight)),
      ...open,
      ece: round(cal.ece),
      silhouette: round(clusters.mean),
    },
    per_type,
    samples,
    panel: { tokens: [name(sel.tokens[0]), name(sel.tokens[1])], silhouette: round(clusters.silhouette), points },
    examples,
  };
}
