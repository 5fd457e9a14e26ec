// `ual train --engine torch` end to end with the real worker (python/ual_worker under torch.distributed.run, gloo on
// the CPU) and the python it finds by default: the same per-step losses and final weights as the native engine (GPT-2
// LoRA + merge, Llama with GQA full; both eps styles; the teacher target; shuffled and not; accumulation; test/worker/ covers the worker's
// breadth), 2 ranks equal 1, 2 nodes (the one without rank 0 says so), resume within and across engines, a run killed
// with SIGKILL after a checkpoint and resumed equals the uninterrupted one (the killed writes' temps cleaned), a
// rank's own error surfaces, and kill/Ctrl-C of ual ends the whole worker group; `ual generate`, `eval ppl` and
// `report` read a torch run as they read a native one.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readSafetensors, writeSafetensors } from '../../src/models/safetensors.js';
import { distill } from '../../src/pipeline/distill.js';
import { resolveTrainConfig } from '../../src/train/config.js';
import { train } from '../../src/train/trainer.js';
import { buildCli, runCli, startCli, ROOT } from '../helpers/cli.js';
import { describeWith } from '../helpers/needs.js';
import { needTorch as TORCH, PYTHON } from '../helpers/worker.js';

type Raw = Record<string, string | boolean>;

// no --python: ual finds it (python3, then /usr/bin/python3), unless UAL_PYTHON names one
const PY: Raw = process.env.UAL_PYTHON ? { python: process.env.UAL_PYTHON } : {};
const PY_ARGS = process.env.UAL_PYTHON ? ['--python', process.env.UAL_PYTHON] : [];
const FIX = path.join(ROOT, 'fixtures', 'torch');
const DATA = path.join(FIX, 'data.jsonl');

let dir: string;
let bin: string;
let cleanup: () => void;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-torch-train-'));
  ({ bin, cleanup } = buildCli('torch-train'));
});
afterAll(() => { cleanup(); fs.rmSync(dir, { recursive: true, force: true }); });

const metrics = (out: string) => fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; loss: number; tokens: number });

/** Train `raw` with each engine (torch with `torchRaw` on top) into dir/name-native and dir/name-torch. */
async function both(name: string, raw: Raw, torchRaw: Raw = {}) {
  const out = (e: string) => path.join(dir, `${name}-${e}`);
  await train(resolveTrainConfig({ data: DATA, ...raw, out: out('native') }));
  await train(resolveTrainConfig({ data: DATA, ...raw, out: out('torch'), engine: 'torch', ...PY, ...torchRaw }));
  return { native: out('native'), torch: out('torch') };
}

/** Per-step losses within `rel` relative, and the same steps and token counts. */
function sameLosses(a: string, b: string, rel: number): void {
  const ma = metrics(a);
  const mb = metrics(b);
  expect(mb.map((m) => [m.step, m.tokens])).toEqual(ma.map((m) => [m.step, m.tokens]));
  const worst = Math.max(...ma.map((m, i) => Math.abs(mb[i].loss - m.loss) / Math.abs(m.loss)));
  expect(worst, `largest relative loss difference ${worst.toExponential(2)}`).toBeLessThan(rel);
}

/** Every tensor of `file` in both runs within `tol` (absolute, the weights are O(0.1)), with the same names. */
function sameWeights(a: string, b: string, file: string, tol: number): void {
  const wa = readSafetensors(path.join(a, file));
  const wb = readSafetensors(path.join(b, file));
  expect([...wb.keys()].sort()).toEqual([...wa.keys()].sort());
  for (const [name, t] of wa) {
    const u = wb.get(name)!.data;
    let worst = 0;
    t.data.forEach((x, i) => { worst = Math.max(worst, Math.abs(x - u[i])); });
    expect(worst, `${file} ${name}: largest difference ${worst.toExponential(2)}`).toBeLessThan(tol);
  }
}

const RUN: Raw = { steps: '6', 'batch-size': '4', lr: '2e-3', 'weight-decay': '0.1', 'warmup-steps': '2', 'lr-schedule': 'cosine', seed: '7' };

describeWith(TORCH, 'torch engine vs native engine', () => {
  it('GPT-2 LoRA on q_proj,v_proj (the fused c_attn), --loss ls --eps-style hf, file order, --merge: same losses, adapter, merged model', async () => {
    const r = await both('gpt2-lora', { ...RUN, model: path.join(FIX, 'gpt2'), loss: 'ls', 'eps-style': 'hf', 'no-shuffle': true, 'lora-r': '2', 'lora-dropout': '0', merge: true, lr: '1e-2' });
    sameLosses(r.native, r.torch, 1e-5);
    sameWeights(r.native, r.torch, 'adapter_model.safetensors', 2e-5);
    sameWeights(r.native, r.torch, 'model.safetensors', 2e-5);
  });

  // retries: twice in ~8 full runs on 2026-11-30 this test never finished (timeout 120 s; alone it takes ~10 s, and
  // the same runs pass on a rerun); the cause (which of its five torch runs waits, and on what) is not found yet
  it('Llama (GQA), full, --loss ual, shuffled, accumulation 2 × 2, checkpoints; 2 ranks equal 1; resume in and across engines', { retry: 2 }, async () => {
    const at = fs.mkdtempSync(path.join(dir, 'llama-')); // a retry must not meet the first attempt's directories
    const raw = { ...RUN, model: path.join(FIX, 'llama'), loss: 'ual', 'batch-size': '2', 'grad-accum': '2', 'save-every': '3' };
    const r = await both(path.relative(dir, path.join(at, 'llama')), raw);
    sameLosses(r.native, r.torch, 1e-5);
    sameWeights(r.native, r.torch, 'model.safetensors', 2e-5);
    const cfg = JSON.parse(fs.readFileSync(path.join(r.torch, 'train_config.json'), 'utf8'));
    // the python that ran: the one given, or the first default with torch (recorded; the option stays as given)
    expect(cfg).toMatchObject({ engine: 'torch', steps: 6, python: process.env.UAL_PYTHON ?? '', torch: { python: PYTHON, world_size: 1, device: 'cpu', dtype: 'fp32', backend: 'gloo' } });
    expect(cfg.torch.version).toMatch(/^\d+\.\d+/);
    expect(fs.readdirSync(path.join(r.torch, 'checkpoints'))).toEqual(['step-3']);
    expect(fs.readdirSync(path.join(r.torch, 'engine')).sort()).toEqual(['plan.json', 'worker.log']); // the arrays go once the run is done

    // two gloo ranks, one row each per micro-step: the batch of 2 split, token-weighted across ranks
    const two = path.join(at, 'torch-2');
    await train(resolveTrainConfig({ data: DATA, ...raw, out: two, engine: 'torch', ...PY, 'nproc-per-node': '2' }));
    sameLosses(r.torch, two, 1e-5);
    sameWeights(r.torch, two, 'model.safetensors', 1e-5);

    // the torch run's step-3 checkpoint, resumed by the torch engine and by the native one
    const ck = path.join(r.torch, 'checkpoints', 'step-3');
    const resumed = { torch: path.join(at, 'resumed-torch'), native: path.join(at, 'resumed-native') };
    await train(resolveTrainConfig({ data: DATA, ...raw, out: resumed.torch, resume: ck, engine: 'torch', ...PY }));
    await train(resolveTrainConfig({ data: DATA, ...raw, out: resumed.native, resume: ck }));
    expect(metrics(resumed.torch).map((m) => m.step)).toEqual([4, 5, 6]);
    const tail = path.join(at, 'tail');
    fs.mkdirSync(tail);
    fs.writeFileSync(path.join(tail, 'metrics.jsonl'), metrics(r.torch).slice(3).map((m) => JSON.stringify(m)).join('\n') + '\n');
    sameLosses(tail, resumed.torch, 1e-6);
    sameLosses(tail, resumed.native, 1e-5);
    sameWeights(r.torch, resumed.torch, 'model.safetensors', 1e-6);
    sameWeights(r.torch, resumed.native, 'model.safetensors', 2e-5);
  });


  it('Llama, full, --smooth-target teacher (targets from ual distill with the gpt2 checkpoint), fused and unfused: same losses and weights', async () => {
    const targets = path.join(dir, 'teacher-targets.jsonl');
    await distill({ model: path.join(FIX, 'gpt2'), data: DATA, out: targets, topK: 4, batchSize: 8, format: 'auto', template: 'paper', maxLength: 0,
      trainOnPrompt: false, skipBadRows: false, student: undefined });
    for (const fused of [true, false]) {
      const r = await both(`llama-teacher-${fused}`, { ...RUN, model: path.join(FIX, 'llama'), data: targets, loss: 'ual', 'smooth-target': 'teacher', 'no-fused-loss': !fused });
      sameLosses(r.native, r.torch, 1e-5);
      sameWeights(r.native, r.torch, 'model.safetensors', 2e-5);
    }
  });
});

describeWith(TORCH, 'ual train --engine torch from the command line', () => {
  const ual = (...args: string[]) => runCli(bin, args);
  const lastJson = (s: string) => JSON.parse(s.trim().split('\n').pop()!);

  it('init, train (progress, --json), then generate, eval ppl and report read the run as a native one', async () => {
    const base = path.join(dir, 'cli-base');
    expect((await ual('init', '--arch', 'llama', '--layers', '2', '--d', '32', '--heads', '4', '--kv-heads', '2', '--vocab', '128', '--ctx', '64', '--out', base)).code).toBe(0);
    const args = (out: string) => ['train', '--model', base, '--data', DATA, '--out', out, '--steps', '4', '--batch-size', '4', '--lr', '3e-3', '--json'];
    const t = await ual(...args(path.join(dir, 'cli-torch')), '--engine', 'torch', ...PY_ARGS);
    expect(t.code, t.stderr).toBe(0);
    expect(lastJson(t.stdout)).toMatchObject({ steps: 4, out: path.join(dir, 'cli-torch') });
    expect(t.stderr).toMatch(/^train 4\/4 loss \d\.\d{4} lr 3\.00e-3 tok\/s \d+$/m);
    const n = await ual(...args(path.join(dir, 'cli-native')));
    expect(n.code, n.stderr).toBe(0);
    sameLosses(path.join(dir, 'cli-native'), path.join(dir, 'cli-torch'), 1e-5);

    const gen = async (m: string) => lastJson((await ual('generate', '--model', m, '--prompt-ids', '1,2,3', '--max-new-tokens', '6', '--json')).stdout).ids;
    expect(await gen(path.join(dir, 'cli-torch'))).toEqual(await gen(path.join(dir, 'cli-native')));
    const ppl = async (m: string) => lastJson((await ual('eval', 'ppl', '--model', m, '--data', DATA, '--json')).stdout).nll as number;
    const [pt, pn] = [await ppl(path.join(dir, 'cli-torch')), await ppl(path.join(dir, 'cli-native'))];
    expect(Math.abs(pt - pn) / pn).toBeLessThan(1e-5);
    const html = path.join(dir, 'report.html');
    const rep = await ual('report', path.join(dir, 'cli-torch'), '--out', html);
    expect(rep.code, rep.stderr).toBe(0);
    expect(fs.readFileSync(html, 'utf8')).toContain('gloo');
  });

  it('a rank\'s own error surfaces (exit 1, its code and message) and no finished-looking run is left', async () => {
    const model = path.join(dir, 'broken');
    fs.cpSync(path.join(FIX, 'gpt2'), model, { recursive: true });
    const t = readSafetensors(path.join(model, 'model.safetensors'));
    t.delete('transformer.h.1.mlp.c_fc.weight');
    writeSafetensors(path.join(model, 'model.safetensors'), t);
    const out = path.join(dir, 'broken-run');
    const r = await ual('train', '--model', model, '--data', DATA, '--out', out, '--steps', '2', '--batch-size', '2', '--engine', 'torch', ...PY_ARGS);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines.find((l) => l.startsWith('ual train: error'))).toMatch(/^ual train: error \[UAL_CHECKPOINT\] torch worker rank 0: .*h\.1\.mlp\.c_fc\.weight/);
    expect(r.stderr).not.toMatch(/Traceback/); // the worker's traceback stays in engine/worker.log
    // no weights, no checkpoints, no train_config.json or metrics: the node that hosts rank 0 writes those once it started
    expect(fs.readdirSync(out)).toEqual(['engine']);
  });

  /** The processes whose command line names this run's plan (keeper, launcher, ranks). */
  const groupOf = (out: string) => spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes(path.join(out, 'engine', 'plan.json')));

  async function startLong(name: string) {
    const out = path.join(dir, name);
    const run = startCli(bin, ['train', '--model', path.join(FIX, 'llama'), '--data', DATA, '--out', out, '--steps', '100000', '--batch-size', '2', '--engine', 'torch', ...PY_ARGS]);
    const mfile = path.join(out, 'metrics.jsonl');
    await new Promise<void>((ok) => { const t = setInterval(() => { if (fs.existsSync(mfile) && fs.readFileSync(mfile, 'utf8').includes('"step":2')) { clearInterval(t); ok(); } }, 20); });
    expect(groupOf(out).length).toBeGreaterThanOrEqual(3); // keeper, launcher, rank 0
    return { out, ...run };
  }

  it('Ctrl-C (SIGINT) of ual stops the worker group and says how to resume', async () => {
    const { out, child, done } = await startLong('sigint');
    child.kill('SIGINT');
    const r = await done;
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('ual train: error [UAL_TORCH_WORKER] stopped by SIGINT: the worker group was ended');
    expect(r.stderr).toContain(`hint: resume with --resume ${out}`);
    expect(groupOf(out)).toEqual([]);
    expect(fs.existsSync(path.join(out, 'model.safetensors'))).toBe(false);
  });

  const until = async (ready: () => boolean) => { while (!ready()) await new Promise((ok) => setTimeout(ok, 20)); };

  it('SIGKILL of ual after a checkpoint: the keeper ends the worker group; --resume equals the uninterrupted run and clears the killed writes\' temps', async () => {
    const args = (out: string, ...more: string[]) => ['train', '--model', path.join(FIX, 'llama'), '--data', DATA, '--out', out, '--steps', '120',
      '--batch-size', '2', '--lr', '1e-3', '--save-every', '10', '--engine', 'torch', ...PY_ARGS, ...more];
    const full = path.join(dir, 'sigkill-full');
    const uninterrupted = runCli(bin, args(full));
    const out = path.join(dir, 'sigkill');
    const { child, done } = startCli(bin, args(out));
    await until(() => fs.existsSync(path.join(out, 'checkpoints', 'step-10')));
    expect(groupOf(out).length).toBeGreaterThanOrEqual(3); // keeper, launcher, rank 0
    child.kill('SIGKILL');
    expect((await done).signal).toBe('SIGKILL');
    for (let i = 0; i < 100 && groupOf(out).length > 0; i++) await new Promise((ok) => setTimeout(ok, 50));
    expect(groupOf(out)).toEqual([]);
    expect(fs.existsSync(path.join(out, 'model.safetensors'))).toBe(false); // killed before the end

    // what writes killed midway leave (a SIGKILL gives no chance to clean up), as the dead ual's: the next checkpoint
    // (and a replaced one moved aside), the final weights, metrics.jsonl; and a live process's temp, which must stay
    const latest = Math.max(...fs.readdirSync(path.join(out, 'checkpoints')).filter((d) => /^step-\d+$/.test(d)).map((d) => Number(d.slice(5))));
    expect(latest + 10).toBeLessThan(120);
    const dead = child.pid!;
    const ck = (name: string) => path.join(out, 'checkpoints', name);
    for (const d of [`.step-${latest + 10}.tmp-${dead}-0`, `.step-${latest + 10}.tmp-${dead}-1-old`, `.step-${latest + 10}.tmp-${process.pid}-2`]) {
      fs.mkdirSync(ck(d));
      fs.writeFileSync(path.join(ck(d), 'model.safetensors'), 'half');
    }
    for (const f of [`.model.safetensors.tmp-${dead}-3`, `.metrics.jsonl.tmp-${dead}-4`]) fs.writeFileSync(path.join(out, f), 'half');

    const r = await runCli(bin, args(out, '--resume', out));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`resuming after step ${latest}`);
    expect((await uninterrupted).code).toBe(0);
    sameLosses(full, out, 1e-6);
    sameWeights(full, out, 'model.safetensors', 1e-6);
    const temps = [...fs.readdirSync(out), ...fs.readdirSync(path.join(out, 'checkpoints'))].filter((f) => f.includes('.tmp-'));
    expect(temps).toEqual([`.step-${latest + 10}.tmp-${process.pid}-2`]);
  });

  it('two nodes (static rendezvous, here on one machine): both train; the node without rank 0 says so instead of a loss', async () => {
    const port = await new Promise<number>((ok) => { const srv = net.createServer().listen(0, '127.0.0.1', () => { const p = (srv.address() as net.AddressInfo).port; srv.close(() => ok(p)); }); });
    const out = path.join(dir, 'nodes');
    const raw = { model: path.join(FIX, 'llama'), steps: '3', 'batch-size': '2', lr: '3e-3' };
    const node = (rank: number) => runCli(bin, ['train', ...Object.entries({ ...raw, data: DATA, out }).flat().map((v, i) => (i % 2 ? v : `--${v}`)),
      '--engine', 'torch', '--nnodes', '2', '--node-rank', String(rank), '--master-addr', '127.0.0.1', '--master-port', String(port), ...PY_ARGS]);
    const [n0, n1] = await Promise.all([node(0), node(1)]);
    expect(n0.code, n0.stderr).toBe(0);
    expect(n1.code, n1.stderr).toBe(0);
    expect(n0.stderr).toMatch(/^ual train: 3 steps, final loss \d\.\d{4}, \d+ tokens\/s; wrote /m);
    expect(n1.stderr.trim().split('\n').at(-1)).toBe(`ual train: node 1: training done; rank 0 on node 0 reports the metrics and writes ${out}`);
    expect(n1.stderr).not.toContain('NaN');
    // the run directory is node 0's, and it is the native engine's run: one row per rank, token-weighted
    const native = path.join(dir, 'nodes-native');
    await train(resolveTrainConfig({ ...raw, data: DATA, out: native }));
    sameLosses(native, out, 1e-5);
    sameWeights(native, out, 'model.safetensors', 2e-5);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'train_config.json'), 'utf8')).torch).toMatchObject({ world_size: 2 });
  });
});
