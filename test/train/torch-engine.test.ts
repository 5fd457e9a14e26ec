// `ual train --engine torch` before the worker runs: flags of one engine refused on the other, the world-size checks,
// the torch probe's errors (no python, no torch, old torch, no CUDA) with their codes and nothing written to --out, and
// the default python (the first of python3, /usr/bin/python3 with torch); <out>/engine/'s plan.json and arrays,
// decoded here byte by byte, hold exactly the rows, epsilons, order and schedule the native engine trains on, and the
// init adapter, drawn from the checkpoint's headers without reading a weight, is the native engine's starting adapter;
// with --smooth-target teacher the per-position top-k arrays hold the rows' renormalised teacher targets.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UalError, UsageError } from '../../src/errors.js';
import { parseConfig } from '../../src/models/config.js';
import { llamaSpecs } from '../../src/models/llama.js';
import { readSafetensors } from '../../src/models/safetensors.js';
import { targetPositions } from '../../src/data/teacher-topk.js';
import { distill } from '../../src/pipeline/distill.js';
import { resolveTrainConfig } from '../../src/train/config.js';
import { checkEngineConfig, ENGINE_DEFAULTS } from '../../src/train/engine-config.js';
import { writePlan } from '../../src/train/plan.js';
import { loraStart, prepareData } from '../../src/train/prepare.js';
import { prepareTraining } from '../../src/train/trainer.js';
import { findTorch } from '../../src/train/torch-engine.js';
import { installHint, launchArgs } from '../../src/train/torch-launch.js';
import { buildCli, runCli, ROOT } from '../helpers/cli.js';

const FIX = path.join(ROOT, 'fixtures', 'torch');
const DATA = path.join(FIX, 'data.jsonl');
let bin: string;
let cleanup: () => void;
let dir: string;
beforeAll(() => {
  ({ bin, cleanup } = buildCli('torch-engine'));
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-torch-engine-'));
});
afterAll(() => { cleanup(); fs.rmSync(dir, { recursive: true, force: true }); });

const base = (out: string) => ({ model: path.join(FIX, 'llama'), data: DATA, out, steps: '3', 'batch-size': '4' });
const usage = (raw: Record<string, string | boolean>) => {
  try { resolveTrainConfig({ ...base(path.join(dir, 'unused')), ...raw }); } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as UsageError).message;
  }
  throw new Error('no usage error');
};

describe('engine flags', () => {
  it('torch-only flags are refused with the native engine, native-only ones with torch', () => {
    expect(usage({ 'nproc-per-node': '2' })).toBe('ual train: --nproc-per-node applies to --engine torch only');
    expect(usage({ engine: 'native', device: 'cpu', python: '/usr/bin/python3' })).toBe('ual train: --device, --python apply to --engine torch only');
    // what the worker does not implement is refused by name (nothing today: the table is the caller's)
    const given = new Set(['fusedLoss']);
    expect(() => checkEngineConfig({ ...ENGINE_DEFAULTS, engine: 'torch', batchSize: 4 }, given, { fusedLoss: '--no-fused-loss' }))
      .toThrow('ual train: --no-fused-loss applies to --engine native only');
    expect(resolveTrainConfig({ ...base(dir), engine: 'torch', 'no-fused-loss': true }).fusedLoss).toBe(false);
  });

  it('--batch-size must split over nproc-per-node × nnodes; launch settings must fit together', () => {
    expect(usage({ engine: 'torch', 'nproc-per-node': '3' }))
      .toBe('ual train: --batch-size 4 does not split evenly over the world size 3 (--nproc-per-node 3 × --nnodes 1)');
    expect(usage({ engine: 'torch', 'nproc-per-node': '2', nnodes: '4', 'master-addr': 'n0' }))
      .toBe('ual train: --batch-size 4 does not split evenly over the world size 8 (--nproc-per-node 2 × --nnodes 4)');
    expect(usage({ engine: 'torch', nnodes: '2' }))
      .toBe('ual train: --nnodes 2 needs --master-addr (node 0\'s address, with --node-rank on each node) or --rdzv-endpoint HOST:PORT');
    expect(usage({ engine: 'torch', nnodes: '2', 'rdzv-endpoint': 'n0:29400', 'node-rank': '1' }))
      .toBe('ual train: --rdzv-endpoint and --master-addr/--master-port/--node-rank are two ways to meet; give one');
    expect(usage({ engine: 'torch', nnodes: '2', 'rdzv-endpoint': 'n0' })).toBe('ual train: --rdzv-endpoint must be HOST:PORT, got "n0"');
    expect(usage({ engine: 'torch', nnodes: '2', 'master-addr': 'n0', 'node-rank': '2' })).toBe('ual train: --node-rank 2 must be below --nnodes 2');
    expect(usage({ engine: 'torch', device: 'cpu', dtype: 'bf16' })).toBe('ual train: --dtype bf16 is autocast on CUDA; on --device cpu train in fp32');
  });

  it('torchrun is given the standalone, static or c10d rendezvous the flags describe', () => {
    const cfg = (raw: Record<string, string>) => resolveTrainConfig({ ...base(dir), engine: 'torch', ...raw });
    expect(launchArgs(cfg({ 'nproc-per-node': '2' }))).toEqual(['-m', 'ual_worker.launch', '--nproc_per_node', '2', '--nnodes', '1', '--monitor_interval', '1', '--standalone']);
    expect(launchArgs(cfg({ 'nproc-per-node': '2', nnodes: '2', 'node-rank': '1', 'master-addr': '10.0.0.1' })).slice(8))
      .toEqual(['--node_rank', '1', '--master_addr', '10.0.0.1', '--master_port', '29500']);
    expect(launchArgs(cfg({ nnodes: '2', 'rdzv-endpoint': 'n0:29400' })).slice(8)).toEqual(['--rdzv_backend', 'c10d', '--rdzv_endpoint', 'n0:29400']);
  });
});

/** A stand-in for `python`: a shell script that prints `stdout` and exits with `status`, whatever it is asked. */
function fakePython(name: string, stdout: string, status = 0, stderr = ''): string {
  const f = path.join(dir, name);
  const q = (t: string) => `'${t.replaceAll("'", "'\\''")}'`; // one shell word
  fs.writeFileSync(f, `#!/bin/sh\nprintf '%s\\n' ${q(stdout)}\nprintf '%s\\n' ${q(stderr)} >&2\nexit ${status}\n`, { mode: 0o755 });
  return f;
}

describe('ual train --engine torch refuses before writing anything', () => {
  async function refused(args: string[], code: number): Promise<string[]> {
    const out = path.join(dir, `out-${Math.random().toString(36).slice(2)}`);
    const r = await runCli(bin, ['train', '--model', path.join(FIX, 'llama'), '--data', DATA, '--out', out, '--steps', '2', '--batch-size', '4', '--engine', 'torch', ...args]);
    expect(r.code, r.stderr).toBe(code);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(fs.existsSync(out), 'nothing may be written to --out').toBe(false);
    return r.stderr.trim().split('\n');
  }

  it('a usage error: exit 2', async () => {
    expect((await refused(['--nproc-per-node', '3', '--python', '/nonexistent'], 2))[0])
      .toBe('ual train: error [UAL_USAGE] --batch-size 4 does not split evenly over the world size 3 (--nproc-per-node 3 × --nnodes 1)');
  });

  it('no such python, a python without torch, an old torch: UAL_TORCH_UNAVAILABLE with the install hint', async () => {
    const hint = '  hint: install PyTorch >= 1.13 for that python (Debian/Ubuntu: apt-get install python3-torch; elsewhere: pip install torch), or point --python at a python that has it';
    expect(await refused(['--python', '/nonexistent/python3'], 1)).toEqual([
      'ual train: error [UAL_TORCH_UNAVAILABLE] --engine torch: cannot run --python /nonexistent/python3 (no such program)',
      '  hint: give --python the path of a python 3 that has torch; then ' + hint.slice('  hint: '.length),
    ]);
    const noTorch = fakePython('no-torch', '', 1, "ModuleNotFoundError: No module named 'torch'");
    expect(await refused(['--python', noTorch], 1)).toEqual([
      `ual train: error [UAL_TORCH_UNAVAILABLE] --engine torch: ${noTorch} cannot import torch (ModuleNotFoundError: No module named 'torch')`, hint,
    ]);
    const old = fakePython('old-torch', '{"torch": "1.12.1", "python": "3.10.0", "cuda": false, "gpus": 0}');
    expect(await refused(['--python', old], 1)).toEqual([`ual train: error [UAL_TORCH_UNAVAILABLE] --engine torch: ${old} has torch 1.12.1; the worker needs torch >= 1.13`, hint]);
  });

  it('CUDA asked for but absent, more ranks than GPUs, bf16 without CUDA', async () => {
    const cpu = fakePython('cpu-torch', '{"torch": "2.1.0", "python": "3.11.2", "cuda": false, "gpus": 0}');
    expect(await refused(['--python', cpu, '--device', 'cuda'], 1)).toEqual([
      `ual train: error [UAL_TORCH_UNAVAILABLE] --device cuda: torch 2.1.0 (${cpu}) sees no CUDA device`,
      '  hint: train on a machine with a GPU and a CUDA build of torch, or use --device cpu',
    ]);
    expect((await refused(['--python', cpu, '--dtype', 'bf16'], 1))[0])
      .toBe('ual train: error [UAL_TORCH_UNAVAILABLE] --dtype bf16: torch 2.1.0 sees no CUDA device, and bf16 is autocast on CUDA');
    const oneGpu = fakePython('one-gpu', '{"torch": "2.1.0", "python": "3.11.2", "cuda": true, "gpus": 1}');
    expect(await refused(['--python', oneGpu, '--nproc-per-node', '2'], 1)).toEqual([
      'ual train: error [UAL_TORCH_UNAVAILABLE] --nproc-per-node 2: torch sees 1 CUDA device(s) on this node',
      '  hint: one rank per GPU: use --nproc-per-node 1 or less',
    ]);
  });
});

describe('the default python: the first of python3, /usr/bin/python3 whose torch is >= 1.13', () => {
  it('takes the first that has torch, and says what each lacks when none has', () => {
    const noTorch = fakePython('default-no-torch', '', 1, "ModuleNotFoundError: No module named 'torch'");
    const old = fakePython('default-old', '{"torch": "1.12.1", "python": "3.10.0", "cuda": false, "gpus": 0}');
    const good = fakePython('default-good', '{"torch": "2.1.0", "python": "3.11.2", "cuda": false, "gpus": 0}');
    expect(findTorch('', [noTorch, '/nonexistent/python3', good])).toEqual({ torch: '2.1.0', python: '3.11.2', cuda: false, gpus: 0, executable: good });
    expect(findTorch(good, [noTorch])).toMatchObject({ executable: good }); // --python is taken as given
    let err: unknown;
    try { findTorch('', [noTorch, '/nonexistent/python3', old]); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(UalError);
    expect((err as UalError).code).toBe('UAL_TORCH_UNAVAILABLE');
    expect((err as UalError).message).toBe(`--engine torch: no python with torch >= 1.13 (without --python, ${noTorch} and /nonexistent/python3 and ${old} are tried): ` +
      `${noTorch} cannot import torch (ModuleNotFoundError: No module named 'torch'); cannot run /nonexistent/python3 (no such program); ` +
      `${old} has torch 1.12.1; the worker needs torch >= 1.13`);
    expect((err as UalError).hint).toBe(installHint('one of them'));
    expect(installHint('one of them')).toMatch(/apt-get install python3-torch.*pip install torch/);
  });
});

/** <out>/engine/'s arrays, read back independently of the writer: little-endian int32 / int64 / float32. */
function readEngine(out: string) {
  const e = path.join(out, 'engine');
  const buf = (f: string) => fs.readFileSync(path.join(e, f));
  const i32 = (f: string) => { const b = buf(f); return Array.from({ length: b.length / 4 }, (_, i) => b.readInt32LE(4 * i)); };
  const offs = buf('offsets.i64');
  const offsets = Array.from({ length: offs.length / 8 }, (_, i) => Number(offs.readBigInt64LE(8 * i)));
  const epsB = buf('eps.f32');
  const eps = Array.from({ length: epsB.length / 4 }, (_, i) => epsB.readFloatLE(4 * i));
  const tokens = i32('tokens.i32');
  const labels = i32('labels.i32');
  const rows = offsets.slice(0, -1).map((o, i) => ({ ids: tokens.slice(o, offsets[i + 1]), labels: labels.slice(o, offsets[i + 1]), eps: eps[i] }));
  return { plan: JSON.parse(fs.readFileSync(path.join(e, 'plan.json'), 'utf8')), rows, order: i32('order.i32'), tokens: tokens.length };
}

describe('<out>/engine/: what the worker reads', () => {
  const fileRows = fs.readFileSync(DATA, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { input_ids: number[]; labels: number[]; epsilon: number });

  /** <out>/engine/ as trainTorch writes it: prepareData, LoRA's start from the checkpoint's headers, writePlan */
  async function planFor(name: string, raw: Record<string, string | boolean>) {
    const out = path.join(dir, name);
    const cfg = resolveTrainConfig({ ...base(out), engine: 'torch', ...raw });
    const data = await prepareData(cfg);
    writePlan(cfg, data, data.useLora ? loraStart(cfg, data) : null, { device: 'cpu' });
    return { cfg, data, ...readEngine(out) };
  }

  it('rows and labels are the file\'s; --loss ual: each row\'s epsilon; --no-shuffle: rows kB..kB+B-1, wrapping, per micro-step', async () => {
    const { plan, rows, order } = await planFor('ual', { steps: '5', 'grad-accum': '2', 'no-shuffle': true });
    expect(rows.map((r) => r.ids)).toEqual(fileRows.map((r) => r.input_ids));
    expect(rows.map((r) => r.labels)).toEqual(fileRows.map((r) => r.labels));
    expect(rows.map((r) => r.eps)).toEqual(fileRows.map((r) => Math.fround(r.epsilon)));
    const n = fileRows.length;
    expect(order).toEqual(Array.from({ length: 5 * 2 * 4 }, (_, i) => i % n));
    expect(plan).toMatchObject({
      version: 1, model: path.join(FIX, 'llama'), out: path.join(dir, 'ual'), first: 0, steps: 5, grad_accum: 2, micro_batch: 4, loss: 'ual',
      eps_style: 'paper', smooth_target: 'uniform', weight_decay: 0, decay_all: false, adam: { beta1: 0.9, beta2: 0.999, eps: 1e-8 },
      max_grad_norm: 1, seed: 0, lora: null, merge: false, save_every: 0, save_dtype: 'fp32', max_shard_size: 5e9,
      gradient_checkpointing: false, fused_loss: true, device: 'cpu', dtype: 'fp32', threads: 0, resume: null, pad_id: 0, rows: n, vocab_size: 128,
    });
    expect(plan.lr).toEqual([3e-4, 3e-4, 3e-4, 3e-4, 3e-4]);
    expect(plan.config).toMatchObject({ engine: 'torch', batchSize: 4, gradAccum: 2, shuffle: false });
  });

  it('--loss ls: --epsilon on every row; --loss sft: 0; shuffled: a seeded permutation per epoch; the schedule per step', async () => {
    const ls = await planFor('ls', { loss: 'ls', epsilon: '0.3', steps: '10', seed: '5', 'warmup-steps': '2', 'lr-schedule': 'linear', lr: '1e-3' });
    expect(ls.rows.map((r) => r.eps)).toEqual(fileRows.map(() => Math.fround(0.3)));
    const n = fileRows.length;
    expect(ls.order.length).toBe(40);
    for (let e = 0; e * n < 40; e++) {
      const epoch = ls.order.slice(e * n, (e + 1) * n);
      if (epoch.length === n) expect([...epoch].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
    }
    expect(ls.order.slice(0, n)).not.toEqual(Array.from({ length: n }, (_, i) => i));
    // transformers' linear schedule: k/2 · lr in warmup, then lr · (10 - k)/8
    expect(ls.plan.lr).toEqual(Array.from({ length: 10 }, (_, k) => expect.closeTo(k < 2 ? 1e-3 * k / 2 : 1e-3 * (10 - k) / 8, 15)));
    const sft = await planFor('sft', { loss: 'sft', steps: '1', 'no-fused-loss': true });
    expect(sft.rows.map((r) => r.eps)).toEqual(fileRows.map(() => 0));
    expect(sft.plan.fused_loss).toBe(false);
  });

  it('--smooth-target teacher: teacher_ids.i32 / teacher_probs.f32 hold each target position\'s renormalised top-k, zeros elsewhere', async () => {
    const targets = path.join(dir, 'teacher-targets.jsonl');
    await distill({ model: path.join(FIX, 'gpt2'), data: DATA, out: targets, topK: 3, batchSize: 8, format: 'auto', template: 'paper', maxLength: 0,
      trainOnPrompt: false, skipBadRows: false, student: undefined });
    const { plan, data, tokens } = await planFor('teacher', { data: targets, 'smooth-target': 'teacher' });
    expect(plan).toMatchObject({ smooth_target: 'teacher', teacher_k: 3 });
    const e = path.join(dir, 'teacher', 'engine');
    const ids = new Int32Array(new Uint8Array(fs.readFileSync(path.join(e, 'teacher_ids.i32'))).buffer);
    const probs = new Float32Array(new Uint8Array(fs.readFileSync(path.join(e, 'teacher_probs.f32'))).buffer);
    expect(ids.length).toBe(tokens * 3);
    const file = fs.readFileSync(targets, 'utf8').trim().split('\n').map((l) => JSON.parse(l).teacher_topk as { ids: number[][]; probs: number[][] });
    let at = 0;
    data.rows.forEach((r, n) => {
      const where = new Map(targetPositions(r.labels).map((t, i) => [t, i]));
      for (let t = 0; t < r.inputIds.length; t++, at++) {
        const i = where.get(t);
        const got = [Array.from(ids.subarray(at * 3, at * 3 + 3)), Array.from(probs.subarray(at * 3, at * 3 + 3))];
        if (i === undefined) expect(got).toEqual([[0, 0, 0], [0, 0, 0]]);
        else {
          const s = file[n].probs[i].reduce((a, b) => a + b, 0);
          expect(got).toEqual([file[n].ids[i], file[n].probs[i].map((p) => Math.fround(p / s))]);
        }
      }
    });
    const uniform = await planFor('uniform', {});
    expect(uniform.plan).toMatchObject({ smooth_target: 'uniform', teacher_k: 0 });
    expect(fs.existsSync(path.join(dir, 'uniform', 'engine', 'teacher_ids.i32'))).toBe(false);
  });

  it('the order is the one the native engine batches: its BatchOrder, micro-step by micro-step', async () => {
    const { data, order, cfg } = await planFor('order', { steps: '7', 'grad-accum': '3', seed: '11' });
    const { BatchOrder } = await import('../../src/train/prepare.js');
    const native = new BatchOrder(data.rows.length, cfg.batchSize, cfg.shuffle, cfg.seed);
    expect(order).toEqual(Array.from({ length: 7 * 3 }, (_, s) => native.rowsFor(s)).flat());
  });

  it('LoRA: the init adapter holds the native engine\'s starting A (drawn from the seed) and B = 0, PEFT-named', async () => {
    const { plan, cfg } = await planFor('lora', { 'lora-r': '2', 'lora-targets': 'q_proj,v_proj', seed: '3', merge: true });
    const setup = await prepareTraining(cfg); // the native engine's: Lora.attach on the loaded model
    expect(plan.lora).toEqual({ r: 2, alpha: 16, dropout: 0.05, targets: ['q_proj', 'v_proj'], init: path.join(dir, 'lora', 'engine', 'init-adapter') });
    expect(plan.merge).toBe(true);
    const saved = readSafetensors(path.join(plan.lora.init, 'adapter_model.safetensors'));
    expect(saved.size).toBe(8); // 2 layers × (q, v) × (A, B)
    for (const a of setup.lora!.adapters) {
      expect(saved.get(`base_model.model.${a.module.stored}.lora_A.weight`)!.data).toEqual(a.A.data);
      expect(saved.get(`base_model.model.${a.module.stored}.lora_B.weight`)!.data).toEqual(new Float32Array(a.B.size));
    }
    expect(JSON.parse(fs.readFileSync(path.join(plan.lora.init, 'adapter_config.json'), 'utf8'))).toMatchObject({ r: 2, lora_alpha: 16, target_modules: ['q_proj', 'v_proj'] });
  });

  it('LoRA on a checkpoint whose weights would take 1.2 GB: the start is drawn from config.json and the headers alone', async () => {
    // a Llama of 311M parameters, stored as a sparse file: the headers are real, the 1.2 GB of data a hole; reading
    // the weights (as loading the model would) would grow this process by that much
    const model = path.join(dir, 'sparse-model');
    fs.mkdirSync(model);
    const raw = { model_type: 'llama', hidden_size: 2048, intermediate_size: 5632, num_hidden_layers: 4, num_attention_heads: 16,
      num_key_value_heads: 4, vocab_size: 32000, max_position_embeddings: 64, tie_word_embeddings: false };
    fs.writeFileSync(path.join(model, 'config.json'), JSON.stringify(raw));
    let offset = 0;
    const header: Record<string, unknown> = {};
    for (const s of llamaSpecs(parseConfig(raw, 'config.json'))) {
      const bytes = 4 * s.shape.reduce((a, b) => a * b, 1);
      header[s.key.startsWith('lm_head.') ? s.key : `model.${s.key}`] = { dtype: 'F32', shape: s.shape, data_offsets: [offset, offset + bytes] };
      offset += bytes;
    }
    const json = Buffer.from(JSON.stringify(header));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    const file = path.join(model, 'model.safetensors');
    fs.writeFileSync(file, Buffer.concat([len, json]));
    fs.truncateSync(file, 8 + json.length + offset);
    expect(offset).toBeGreaterThan(1.2e9);

    const out = path.join(dir, 'sparse-run');
    const cfg = resolveTrainConfig({ model, data: DATA, out, steps: '2', 'batch-size': '4', engine: 'torch', 'lora-r': '8', seed: '5' });
    const peak = () => process.resourceUsage().maxRSS * 1024;
    const before = peak();
    const data = await prepareData(cfg);
    const plan = writePlan(cfg, data, loraStart(cfg, data), { device: 'cpu' });
    const grown = peak() - before;
    console.log(`LoRA start of a 1.2 GB checkpoint: peak RSS grew by ${(grown / 2 ** 20).toFixed(1)} MB`);
    expect(grown).toBeLessThan(64 * 2 ** 20);
    const saved = readSafetensors(path.join(path.dirname(plan), 'init-adapter', 'adapter_model.safetensors'));
    expect([...saved].map(([name, t]) => [name, t.shape]).sort()).toEqual([0, 1, 2, 3].flatMap((i) => [
      [`base_model.model.model.layers.${i}.self_attn.q_proj.lora_A.weight`, [8, 2048]], [`base_model.model.model.layers.${i}.self_attn.q_proj.lora_B.weight`, [2048, 8]],
      [`base_model.model.model.layers.${i}.self_attn.v_proj.lora_A.weight`, [8, 2048]], [`base_model.model.model.layers.${i}.self_attn.v_proj.lora_B.weight`, [512, 8]],
    ]).sort());
    // a header that does not fit config.json is refused before anything is written
    fs.writeFileSync(path.join(model, 'config.json'), JSON.stringify({ ...raw, num_key_value_heads: 8 }));
    expect(() => loraStart(cfg, data)).toThrow(/tensor "model\.layers\.0\.self_attn\.k_proj\.weight" has shape \[512,2048\], expected \[1024,2048\]/);
  });
});
