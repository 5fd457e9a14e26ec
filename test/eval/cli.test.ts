// `ual eval` and `ual analyze` as a user runs them (child processes on compiled JS): JSON results on the last
// stdout line, bad files and mismatched lengths named by file and line with exit codes, outputs written atomically.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildCli, runCli, type Ran } from '../helpers/cli.js';
import { Tokenizer } from '../../src/data/tokenizer.js';
import { initConfigJson, initModel } from '../../src/models/index.js';
import { FIXTURES, QWEN_TOKENIZER, tmpDir } from './helpers.js';

let bin: string;
let cleanup: () => void;
let dir: string;
let textModel: string; // a tiny random GPT-2 with the Qwen tokenizer: text in, text out

beforeAll(() => {
  ({ bin, cleanup } = buildCli('eval'));
  dir = tmpDir('cli');
  textModel = path.join(dir, 'tiny');
  const V = Tokenizer.load(QWEN_TOKENIZER).vocabSize;
  initModel(initConfigJson({ arch: 'gpt2', layers: 1, d: 16, heads: 2, vocab: V, ctx: 512 }), 0).save(textModel);
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(QWEN_TOKENIZER, f), path.join(textModel, f));
});
afterAll(() => {
  cleanup?.();
  fs.rmSync(dir, { recursive: true, force: true });
});

const ual = (...args: string[]) => runCli(bin, args);
const lastJson = (r: Ran) => JSON.parse(r.stdout.trim().split('\n').pop()!);
function write(name: string, rows: unknown[] | string): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, typeof rows === 'string' ? rows : rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return f;
}
/** No temp files left beside outputs after a failure. */
const leftovers = () => fs.readdirSync(dir).filter((f) => f.includes('.tmp-'));

const GSM = [
  { question: 'Tom has 3 apples and buys 4. How many?', answer: 'He has 3 + 4 = <<3+4=7>>7.\n#### 7' },
  { question: 'A pen costs $2. How much do 6 pens cost?', answer: '6 * 2 = <<6*2=12>>12\n#### 12' },
  { question: 'What is 1,000 + 250?', answer: '#### 1250' },
];

describe('ual eval gsm8k --predictions', () => {
  test('accuracy, n and the Wilson interval as JSON; one row per question in --out', async () => {
    const data = write('gsm.jsonl', GSM);
    const preds = write('preds.jsonl', [
      { question: GSM[0].question, output: 'So he has 7 apples.' },
      { question: GSM[1].question, output: 'The answer is $12.00.' },
      { question: GSM[2].question, output: 'I think 1,200.' },
    ]);
    const out = path.join(dir, 'rows.jsonl');
    const r = await ual('eval', 'gsm8k', '--data', data, '--predictions', preds, '--out', out, '--json');
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r);
    expect(j).toMatchObject({ task: 'gsm8k', source: 'predictions', match: 'flexible', n: 3, correct: 2, no_answer: 0 });
    expect(j.accuracy).toBeCloseTo(2 / 3, 6);
    expect(j.ci95).toEqual([0.20766, 0.938508]); // scipy binomtest(2, 3) wilson: (0.2076596, 0.9385081), rounded to 6 digits
    expect(r.stderr).toContain('gsm8k: 66.67% (2/3');
    const rows = fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((x) => [x.extracted, x.gold, x.correct])).toEqual([['7', '7', true], ['12', '12', true], ['1200', '1250', false]]);

    const strict = lastJson(await ual('eval', 'gsm8k', '--data', data, '--predictions', preds, '--match', 'strict', '--json'));
    expect(strict).toMatchObject({ correct: 1, no_answer: 2 });
  });

  test('fewer predictions than data rows: an error naming both files, nothing written', async () => {
    const data = write('gsm.jsonl', GSM);
    const preds = write('short.jsonl', [{ question: GSM[0].question, output: '7' }, { question: GSM[1].question, output: '12' }]);
    const out = path.join(dir, 'kept.jsonl');
    fs.writeFileSync(out, 'OLD\n');
    const r = await ual('eval', 'gsm8k', '--data', data, '--predictions', preds, '--out', out);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`[UAL_DATA_BAD_FILE] ${preds} has 2 prediction rows but ${data} has 3 rows`);
    expect(r.stderr).toContain('hint:');
    expect(fs.readFileSync(out, 'utf8')).toBe('OLD\n');
    expect(leftovers()).toEqual([]);
  });

  test('a prediction for another question: the file and line of both', async () => {
    const data = write('gsm.jsonl', GSM);
    const preds = write('swapped.jsonl', [
      { question: GSM[0].question, output: '7' }, { question: GSM[2].question, output: '1250' }, { question: GSM[1].question, output: '12' },
    ]);
    const r = await ual('eval', 'gsm8k', '--data', data, '--predictions', preds);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`${preds}:2: question "What is 1,000 \\+ 250\\?" is not the question of ${data}:2`));
  });

  test('bad rows: broken JSON and a solution without "####", each by file and line', async () => {
    const broken = write('broken.jsonl', JSON.stringify(GSM[0]) + '\n{"question": "x", \n');
    let r = await ual('eval', 'gsm8k', '--data', broken, '--predictions', broken);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${broken}:2: not valid JSON`);
    const noGold = write('nogold.jsonl', [GSM[0], { question: 'q', answer: 'no final answer here' }]);
    r = await ual('eval', 'gsm8k', '--data', noGold, '--predictions', noGold);
    expect(r.stderr).toContain(`${noGold}:2 field "answer": has no "#### N" final answer`);
    r = await ual('eval', 'gsm8k', '--data', path.join(dir, 'missing.jsonl'), '--predictions', noGold);
    expect(r.stderr).toContain('--data');
    expect(r.stderr).toContain('does not exist');
  });

  test('usage errors exit 2: both sources, an unknown task, an option of another task', async () => {
    const data = write('gsm.jsonl', GSM);
    let r = await ual('eval', 'gsm8k', '--data', data, '--predictions', data, '--model', textModel);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('exactly one of --model DIR');
    r = await ual('eval', 'gsm9k');
    expect([r.code, r.stderr.includes('unknown task "gsm9k"')]).toEqual([2, true]);
    r = await ual('eval', 'gsm8k', '--data', data, '--predictions', data, '--svg', 'x.svg');
    expect([r.code, r.stderr.includes('--svg does not apply to gsm8k')]).toEqual([2, true]);
    r = await ual('eval', 'gsm8k', '--data', data, '--predictions', data, '--match', 'fuzzy');
    expect(r.code).toBe(2);
  });
});

describe('ual eval with a model', () => {
  test('gsm8k --model: batched greedy answers, scored; generation speed reported', async () => {
    const data = write('gsm.jsonl', GSM);
    const out = path.join(dir, 'gen-rows.jsonl');
    const r = await ual('eval', 'metamath', '--data', data, '--model', textModel, '--limit', '2', '--max-new-tokens', '6',
      '--template', 'qa', '--shots', '1', '--fewshot', data, '--out', out, '--json');
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r);
    expect(j).toMatchObject({ task: 'metamath', source: 'model', n: 2 });
    // pinned from a run (the same with UAL_THREADS=1 and 2): greedy decoding of the random model never hits eos,
    // so both answers run the full 6 tokens, and none holds a number
    expect(j).toMatchObject({ correct: 0, accuracy: 0, no_answer: 2, ci95: [0, 0.65762] });
    expect(j.generation.new_tokens).toBe(12);
    expect(fs.readFileSync(out, 'utf8').trim().split('\n')).toHaveLength(2);
  });

  test('mc: acc and acc_norm; a row with one choice is named by line', async () => {
    const data = write('mc.jsonl', [
      { question: 'Which is a colour?', choices: ['red', 'table'], answer: 0 },
      { question: 'Sky?', choices: { text: ['blue', 'green', 'loud'], label: ['A', 'B', 'C'] }, answerKey: 'A' },
      { ctx: 'A man walks', endings: ['his dog.', 'the sky.'], label: '0' },
    ]);
    const r = await ual('eval', 'mc', '--model', textModel, '--data', data, '--json', '--out', path.join(dir, 'mc-rows.jsonl'));
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r);
    expect(j.n).toBe(3);
    // pinned from a run (the same with UAL_THREADS=1 and 2); the intervals are Wilson's for 2/3 and 0/3
    expect(j).toMatchObject({ acc: 0.666667, acc_norm: 0, acc_ci95: [0.20766, 0.938508], acc_norm_ci95: [0, 0.561497] });
    const rows = fs.readFileSync(path.join(dir, 'mc-rows.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((x) => x.lls.length)).toEqual([2, 3, 2]);
    const bad = write('mc-bad.jsonl', [{ question: 'q', choices: ['a', 'b'], answer: 1 }, { question: 'q', choices: ['only'], answer: 0 }]);
    const e = await ual('eval', 'mc', '--model', textModel, '--data', bad);
    expect(e.code).toBe(1);
    expect(e.stderr).toContain(`${bad}:2 field "choices": must be a list of at least two strings`);
  });

  test('ppl and calibration on pretokenized rows; the reliability diagram and the result file are written', async () => {
    const data = path.join(FIXTURES, 'data.jsonl');
    const model = path.join(FIXTURES, 'gpt2');
    const p = await ual('eval', 'ppl', '--model', model, '--data', data, '--json');
    expect(p.code, p.stderr).toBe(0);
    const pj = lastJson(p);
    expect(pj.ppl).toBeCloseTo(Math.exp(pj.nll), 2);
    const svg = path.join(dir, 'rel.svg');
    const out = path.join(dir, 'cal.json');
    const c = await ual('eval', 'calibration', '--model', model, '--data', data, '--svg', svg, '--out', out, '--json');
    expect(c.code, c.stderr).toBe(0);
    const cj = lastJson(c);
    expect(cj.tokens).toBe(pj.tokens);
    // pinned from a run (the same with UAL_THREADS=1 and 2), to the 6 digits the JSON keeps, give or take one
    expect(cj).toMatchObject({ rows: 16, tokens: 149 });
    for (const [k, v] of Object.entries({ nll: 4.882409, accuracy: 0.020134, avg_confidence: 0.012796, ece: 0.007339, mce: 0.007339 })) {
      expect(cj[k], k).toBeCloseTo(v, 5);
    }
    const rel = fs.readFileSync(svg, 'utf8');
    expect(rel).toContain(`>Reliability: gpt2 on data.jsonl</text>`);
    expect(rel).toContain(`>ECE (15 bins) = ${cj.ece.toFixed(4)}</text>`);
    expect(rel).toContain('>149 tokens</text>');
    expect(rel.match(/<title>/g)).toHaveLength(JSON.parse(fs.readFileSync(out, 'utf8')).bins.filter((b: { count: number }) => b.count > 0).length);
    expect(JSON.parse(fs.readFileSync(out, 'utf8')).bins).toHaveLength(15);
    // ids outside the model's vocabulary are a data error with file and line
    const bad = write('bad-ids.jsonl', [{ input_ids: [1, 2, 3] }, { input_ids: [1, 500, 3] }]);
    const e = await ual('eval', 'ppl', '--model', model, '--data', bad);
    expect(e.code).toBe(1);
    expect(e.stderr).toContain(`${bad}:2 field "input_ids"`);
  });

  test('ppl on text rows through the training template', async () => {
    const data = write('alpaca.jsonl', [
      { instruction: 'Say hello.', input: '', output: 'Hello there!' },
      { instruction: 'Add 2 and 3.', input: '', output: 'The answer is 5.' },
    ]);
    const r = await ual('eval', 'ppl', '--model', textModel, '--data', data, '--template', 'plain', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r)).toMatchObject({ task: 'ppl', rows: 2, on: 'response' });
  });
});

describe('ual analyze clusters', () => {
  test('two checkpoints: mean ± sd per model, SVG and JSON written', async () => {
    const svg = path.join(dir, 'clusters.svg');
    const out = path.join(dir, 'clusters.json');
    const r = await ual('analyze', 'clusters', '--model', path.join(FIXTURES, 'gpt2'), '--model', path.join(FIXTURES, 'runs/gpt2-sft/trained'),
      '--data', path.join(FIXTURES, 'data.jsonl'), '--k', '6', '--per-token', '20', '--svg', svg, '--out', out, '--json');
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r);
    expect(j).toMatchObject({ task: 'clusters', k: 6, pairs: 15 });
    expect(j.models).toHaveLength(2);
    // pinned from a run (the same with UAL_THREADS=1 and 2)
    expect(j.models.map((m: { silhouette_mean: number; silhouette_sd: number }) => [m.silhouette_mean, m.silhouette_sd]))
      .toEqual([[0.021431, 0.124944], [0.046038, 0.086403]].map((r) => r.map((x) => expect.closeTo(x, 5))));
    expect(j.shown_pair).toEqual([85, 30]);
    const full = JSON.parse(fs.readFileSync(out, 'utf8'));
    expect(full.models[0].pairs).toHaveLength(15);
    // the report's scatter: one panel per model (title, axes), one point per sampled state of the shown pair
    const picture = fs.readFileSync(svg, 'utf8');
    const [a, b] = j.tokens.slice(0, 2);
    expect(picture.match(/aria-roledescription="point"/g)).toHaveLength(2 * (a.sampled + b.sampled));
    expect(picture.match(/next token: id 85"/g)).toHaveLength(2 * a.sampled);
    expect(picture).toContain('>Final hidden states before the next token id 85 vs id 30 (2-D PCA)</text>');
    full.models.forEach((m: { pairs: [number, number, number][] }, i: number) => {
      expect(picture).toContain(`>${['gpt2', 'trained'][i]}: silhouette ${m.pairs[0][2].toFixed(3)}</text>`);
    });
    expect(picture.match(/aria-label="X-axis titled 'PC 1'/g)).toHaveLength(2);
    expect(picture.match(/aria-label="Y-axis titled 'PC 2'/g)).toHaveLength(2);
  });

  test('a broken data file is named with its line', async () => {
    const bad = write('clusters-bad.jsonl', '{"input_ids": [1, 2, 3]}\n{"input_ids": [1, 2,\n');
    const r = await ual('analyze', 'clusters', '--model', path.join(FIXTURES, 'gpt2'), '--data', bad);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${bad}:2: not valid JSON`);
  });

  test('models with different vocabularies cannot be compared', async () => {
    const other = path.join(dir, 'v200');
    initModel(initConfigJson({ arch: 'gpt2', layers: 1, d: 8, heads: 2, vocab: 200, ctx: 64 }), 0).save(other);
    const r = await ual('analyze', 'clusters', '--model', path.join(FIXTURES, 'gpt2'), '--model', other, '--data', path.join(FIXTURES, 'data.jsonl'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('vocabulary (200 vs 128 tokens)');
  });
});
