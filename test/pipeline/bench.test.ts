// `ual bench train`'s shape, preset and LoRA flags -> the benchmarked spec (and back, for bench all's children); our
// LoRA training bench on a tiny shape; the PyTorch LoRA bench's JSON where python3-torch is installed.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { benchTrain, peakRssMb, presetShape, TRAIN_BENCH_FLAGS, trainBenchArgs, trainBenchSpec, trainFlopsPerStep, writeBenchCheckpoint, type TrainBenchSpec } from '../../src/pipeline/bench.js';
import { torchLoraBench, torchUnavailable } from '../../src/pipeline/torchref.js';
import { torchEngineBench } from '../../src/pipeline/bench-torch.js';
import { parseFlags } from '../../src/util/options.js';
import { itWith, type Need } from '../helpers/needs.js';

const spec = (argv: string[]) => trainBenchSpec(parseFlags('bench train', TRAIN_BENCH_FLAGS, argv).values);
const RUN = ['--seq', '16', '--batch-size', '2', '--steps', '2', '--warmup', '1'];
const TINY_QWEN = ['--arch', 'llama', '--layers', '1', '--d', '32', '--heads', '4', '--kv-heads', '2', '--vocab', '64', '--ffn', '48',
  '--tie', '--bias-qkv', ...RUN, '--lora-r', '2', '--lora-targets', 'q_proj,v_proj'];

describe('bench train flags', () => {
  it('shape, tying, q/k/v bias and LoRA flags give the spec, and trainBenchArgs gives the flags back', () => {
    const s = spec(TINY_QWEN);
    expect(s).toEqual({
      arch: 'llama', layers: 1, d: 32, heads: 4, kvHeads: 2, vocab: 64, ffn: 48, tie: true, biasQkv: true,
      seq: 16, batchSize: 2, steps: 2, warmup: 1, ctx: 64, lora: { r: 2, targets: ['q_proj', 'v_proj'] },
    });
    expect(spec(trainBenchArgs(s))).toEqual(s);
  });

  it('without the optional flags: no kv heads, ffn, tying, bias or LoRA in the spec', () => {
    const s = spec(['--arch', 'gpt2', '--layers', '2', '--d', '64', '--heads', '4', '--vocab', '128', ...RUN]);
    expect(s).toEqual({ arch: 'gpt2', layers: 2, d: 64, heads: 4, vocab: 128, seq: 16, batchSize: 2, steps: 2, warmup: 1, ctx: 64 });
    expect(spec(trainBenchArgs(s))).toEqual(s);
  });

  it('--preset qwen2.5-0.5b: the published shape, LoRA on top', () => {
    const s = spec(['--preset', 'qwen2.5-0.5b', '--seq', '512', '--batch-size', '1', '--steps', '5', '--lora-r', '8']);
    expect(s).toEqual({
      arch: 'llama', layers: 24, d: 896, heads: 14, kvHeads: 2, vocab: 151936, ffn: 4864, tie: true, biasQkv: true,
      seq: 512, batchSize: 1, steps: 5, warmup: 2, ctx: 512, lora: { r: 8, targets: ['q_proj', 'v_proj'] },
    });
    expect(presetShape('qwen2.5-0.5b')).toEqual({ arch: 'llama', layers: 24, d: 896, heads: 14, kvHeads: 2, vocab: 151936, ffn: 4864, tie: true, biasQkv: true });
  });

  it('--base-dtype bf16 rides on LoRA (and back through trainBenchArgs); without LoRA it is a usage error', () => {
    const s = spec([...TINY_QWEN, '--base-dtype', 'bf16']);
    expect(s).toEqual({ ...spec(TINY_QWEN), baseDtype: 'bf16' });
    expect(spec(trainBenchArgs(s))).toEqual(s);
    expect(() => spec(['--preset', 'qwen2.5-0.5b', ...RUN, '--base-dtype', 'bf16']))
      .toThrow('ual bench train: --base-dtype bf16 keeps the base frozen, so it needs --lora-r R');
  });

  it('usage errors: a preset with shape flags, a missing shape flag, an unknown preset, --bias-qkv on gpt2', () => {
    expect(() => spec(['--preset', 'qwen2.5-0.5b', '--layers', '2', '--tie', ...RUN]))
      .toThrow("ual bench train: --preset sets the model's shape; drop --layers, --tie");
    expect(() => spec(['--layers', '2', '--d', '64', '--heads', '4', '--vocab', '128', ...RUN])).toThrow('ual bench train: --arch is required');
    expect(() => spec(['--preset', 'qwen9', ...RUN])).toThrow('ual bench train: --preset must be one of qwen2.5-0.5b, got "qwen9"');
    expect(() => spec(['--lora-r', '0', '--preset', 'qwen2.5-0.5b', ...RUN])).toThrow('--lora-r must be >= 1, got 0');
    expect(() => benchTrain(spec(['--arch', 'gpt2', '--layers', '1', '--d', '32', '--heads', '4', '--vocab', '64', '--bias-qkv', ...RUN])))
      .toThrow("--bias-qkv applies to --arch llama (GPT-2's attention always has biases)");
  });
});

describe('benchTrain with LoRA', () => {
  it('trains only the adapters of a tied Qwen2-style model and counts frozen matmuls at 4 FLOPs per parameter-token', () => {
    const s = spec(TINY_QWEN);
    const r = benchTrain(s);
    // embed 64·32; per layer q 32·32+32, k and v 32·16+16 each, o 32·32, MLP 3·32·48, two norms; final norm; tied head
    expect(r.params).toBe(64 * 32 + (1056 + 528 + 528 + 1024 + 3 * 32 * 48 + 64) + 32);
    // q_proj: A 2x32, B 32x2; v_proj: A 2x32, B 16x2
    expect(r.trainable_params).toBe(2 * 32 + 32 * 2 + 2 * 32 + 16 * 2);
    expect(r.model_type).toBe('qwen2');
    expect(r.engine).toMatch(/ \+ LoRA r 2 on q_proj,v_proj$/);
    const frozen = 1024 + 512 + 512 + 1024 + 3 * 32 * 48 + 64 * 32; // matmul weights (incl. the tied head)
    expect(r.gflop_per_step * 1e9).toBeCloseTo(trainFlopsPerStep(s, frozen + r.trainable_params, frozen), 3);
    expect(trainFlopsPerStep(s, frozen + 224, frozen)).toBe(6 * 224 * 32 + 4 * frozen * 32 + 6 * 2 * 1 * 16 * 32 * 32);
    expect(r.first_step_ms).toBeGreaterThan(0);
    expect(r.tokens_per_s).toBeCloseTo(32 / (r.step_ms / 1000), 6);
  });
});

describe('benchTrain with a bf16 base', () => {
  it('keeps the same parameters and adapters, the base in bfloat16', () => {
    const fp32 = benchTrain(spec(TINY_QWEN));
    const r = benchTrain(spec([...TINY_QWEN, '--base-dtype', 'bf16']));
    expect(r.params).toBe(fp32.params);
    expect(r.trainable_params).toBe(fp32.trainable_params);
    expect(r.gflop_per_step).toBe(fp32.gflop_per_step);
    expect(r.engine).toMatch(/ \+ LoRA r 2 on q_proj,v_proj \(bf16 base\)$/);
  });
});

// PyTorch (Debian python3-torch, which .ci/run installs): fails in CI where it is missing, skips elsewhere
const noTorch = torchUnavailable();
const TORCH: Need = { what: 'PyTorch (/usr/bin/python3 with torch) and ../shared/reference/torch_ref.py', present: noTorch === null, fix: noTorch ?? '' };

describe('scripts/lora_ref.py bench', () => {
  itWith(TORCH, 'prints one JSON line with the timing and the trainable parameter count our side has', () => {
    const s: TrainBenchSpec = spec(TINY_QWEN);
    const dir = writeBenchCheckpoint(s);
    try {
      const t = torchLoraBench(dir, s.batchSize, s.seq, 2, s.lora!, 1) as unknown as Record<string, unknown>;
      expect(Object.keys(t).sort()).toEqual(['engine', 'first_step_ms', 'peak_rss_mb', 'step_ms', 'threads', 'tokens_per_s', 'trainable_params']);
      expect(t.threads).toBe(1);
      expect(t.trainable_params).toBe(224);
      expect(t.engine).toMatch(/^torch .* \+ LoRA r 2 on q_proj,v_proj$/);
      expect(t.tokens_per_s).toBeCloseTo(32 / ((t.step_ms as number) / 1000), 6);
      const b = torchLoraBench(dir, s.batchSize, s.seq, 2, s.lora!, 1, 'bf16');
      expect(b.engine).toMatch(/^torch .* \+ LoRA r 2 on q_proj,v_proj, bf16 base: matrices stored bf16 .*upcast to fp32 a block of rows per matmul$/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

const WORKER: Need = { what: `${TORCH.what} and python/ual_worker`, present: TORCH.present && fs.existsSync(path.resolve(import.meta.dirname, '../../python/ual_worker/__main__.py')), fix: TORCH.fix || 'python/ual_worker is part of the repository' };

describe('ual bench train --engine torch: the torch engine\'s side', () => {
  itWith(WORKER, 'times the worker from its step events after the warmup, reports the group\'s peak RSS', async () => {
    const s: TrainBenchSpec = spec(TINY_QWEN);
    const dir = writeBenchCheckpoint(s);
    try {
      const t = await torchEngineBench(dir, s, 2, 1);
      expect(Object.keys(t).sort()).toEqual(['engine', 'first_step_ms', 'peak_rss_mb', 'step_ms', 'threads', 'tokens_per_s']);
      expect(t.engine).toMatch(/^torch \d+\.\d+\S* engine \(ual_worker via torchrun, 1 rank, cpu, gloo\) \+ LoRA r 2$/);
      expect(t.threads).toBe(1);
      expect(t.tokens_per_s).toBeCloseTo(32 / (t.step_ms / 1000), 6);
      expect(t.peak_rss_mb).toBeGreaterThan(100); // a process that has imported torch
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('peak RSS of a benchmark process', () => {
  it('is the process\'s own: a child spawned by a large parent does not report the parent\'s peak', () => {
    const big = new Float32Array(100 << 20); // 400 MB, touched: the parent's resident memory
    for (let i = 0; i < big.length; i += 1024) big[i] = 1;
    const mod = path.resolve(import.meta.dirname, '../../dist/pipeline/bench.js');
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', `import { peakRssMb } from ${JSON.stringify(mod)}; console.log(peakRssMb());`], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const child = Number(r.stdout.trim());
    expect(child).toBeGreaterThan(20); // a Node process and the module graph
    expect(child).toBeLessThan(250); // getrusage's maxrss would be the parent's 400+ MB here
    expect(big[0]).toBe(1);
    expect(peakRssMb()).toBeGreaterThan(400);
  });
});
