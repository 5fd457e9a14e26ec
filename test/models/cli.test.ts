// `ual init` and `ual generate` end to end, in process: exact flags, the --json last line, exit codes, and
// nothing half-written when init fails.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { MODEL_PRESETS, loadModel, parseConfig, presetTokenizerDir, readSafetensors } from '../../src/models/index.js';
import { llamaSpecs } from '../../src/models/llama.js';
import { Tokenizer } from '../../src/data/tokenizer.js';
import { expectGenerated, type Generated } from '../helpers/generated.js';
import { QWEN_TOKENIZER, cleanupTmp, editedCheckpoint, fixture, lastJson, promptIds, readJson, runUal, tmpDir } from './helpers.js';

afterAll(cleanupTmp);

describe('ual init', () => {
  test('gpt2: a loadable HF-layout checkpoint, deterministic per seed', async () => {
    const root = tmpDir();
    const args = ['init', '--arch', 'gpt2', '--layers', '2', '--d', '32', '--heads', '4', '--vocab', '100', '--ctx', '48', '--seed', '3', '--json'];
    const r = await runUal([...args, '--out', path.join(root, 'a')]);
    expect(r.code, r.stderr).toBe(0);
    const info = lastJson(r.stdout);
    expect(info).toMatchObject({ out: path.join(root, 'a'), model_type: 'gpt2', vocab_size: 100, layers: 2 });
    const model = loadModel(path.join(root, 'a'));
    expect(info.params).toBe(model.parameters().reduce((n, p) => n + p.size, 0));
    expect(model.config).toMatchObject({ modelType: 'gpt2', vocabSize: 100, hiddenSize: 32, numHeads: 4, maxPositions: 48, intermediateSize: 128 });
    expect(fs.readdirSync(path.join(root, 'a')).sort()).toEqual(['config.json', 'model.safetensors']);
    expect([...readSafetensors(path.join(root, 'a', 'model.safetensors')).keys()]).toContain('transformer.wte.weight');

    expect((await runUal([...args, '--out', path.join(root, 'b')])).code).toBe(0);
    const bytes = (d: string) => fs.readFileSync(path.join(root, d, 'model.safetensors'));
    expect(bytes('a').equals(bytes('b'))).toBe(true);
    expect((await runUal([...args.map((a) => (a === '3' ? '4' : a)), '--out', path.join(root, 'c')])).code).toBe(0);
    expect(bytes('a').equals(bytes('c'))).toBe(false);
  });

  test('llama with GQA and a tokenizer: vocab from tokenizer.json, tokenizer files copied, text generation works', async () => {
    const out = path.join(tmpDir(), 'qwen-tiny');
    const r = await runUal(['init', '--arch', 'llama', '--layers', '1', '--d', '16', '--heads', '4', '--kv-heads', '2',
      '--tokenizer', QWEN_TOKENIZER, '--ctx', '64', '--ffn', '24', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^wrote .*qwen-tiny: llama, [\d,]+ parameters, vocab 151669, tokenizer from /);
    expect(fs.readdirSync(out).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    const cfg = readJson<Record<string, unknown>>(path.join(out, 'config.json'));
    expect(cfg).toMatchObject({ model_type: 'llama', vocab_size: 151669, num_key_value_heads: 2, intermediate_size: 24, eos_token_id: 151645 });
    const model = loadModel(out);
    expect(model.config.numKvHeads).toBe(2);

    const g = await runUal(['generate', '--model', out, '--prompt', 'Hello world!', '--max-new-tokens', '5', '--temperature', '0.8', '--top-k', '50', '--seed', '1', '--json']);
    expect(g.code, g.stderr).toBe(0);
    const res = lastJson<Generated>(g.stdout);
    expect(res.ids.slice(0, 3)).toEqual([9707, 1879, 0]);
    expect(res.ids.length).toBe(3 + res.new_tokens);
    expectGenerated(res, out, 'Hello world!', 5);
    expect(res.text.startsWith('Hello world!')).toBe(true);
    const again = await runUal(['generate', '--model', out, '--prompt', 'Hello world!', '--max-new-tokens', '5', '--temperature', '0.8', '--top-k', '50', '--seed', '1', '--json']);
    expect(lastJson(again.stdout)).toEqual(res);

    const plain = await runUal(['generate', '--model', out, '--prompt', 'Hello world!', '--max-new-tokens', '3']);
    expect(plain.code).toBe(0);
    expect(plain.stdout.startsWith('Hello world!')).toBe(true);
    expect(plain.stderr).toMatch(/generated \d+ tokens/);
  });

  test('bad flags: exit 2, one clear message, nothing written', async () => {
    const root = tmpDir();
    const out = path.join(root, 'x');
    const base = ['init', '--arch', 'llama', '--layers', '1', '--out', out];
    const cases: [string[], RegExp][] = [
      [[...base, '--d', '30', '--heads', '4', '--vocab', '10'], /--d 30 is not divisible by --heads 4/],
      [[...base, '--d', '32', '--heads', '4', '--kv-heads', '3', '--vocab', '10'], /--heads 4 must be a multiple of --kv-heads 3/],
      [[...base, '--d', '32', '--heads', '4'], /give --vocab N or --tokenizer DIR/],
      [[...base, '--d', '32', '--heads', '4', '--vocab', 'ten'], /--vocab must be a number, got "ten"/],
      [[...base, '--d', '32', '--heads', '4', '--vocab', '10', '--tokenizer', QWEN_TOKENIZER], /--vocab 10 is smaller than the tokenizer's 151669 tokens/],
      [['init', '--arch', 'bert', '--layers', '1', '--d', '8', '--heads', '2', '--vocab', '9', '--out', out], /--arch must be one of gpt2, llama, qwen2, got "bert"/],
      [['init', '--arch', 'gpt2', '--layers', '1', '--d', '8', '--heads', '2', '--kv-heads', '1', '--vocab', '9', '--out', out], /--kv-heads applies to --arch llama and qwen2 only/],
      [[...base, '--d', '32', '--heads', '4', '--vocab', '10', '--bogus'], /Unknown option '--bogus'/],
    ];
    for (const [args, msg] of cases) {
      const r = await runUal(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr).toMatch(/^ual init: error \[UAL_USAGE\]/);
    }
    expect(fs.existsSync(out)).toBe(false);
    const missingTok = await runUal([...base, '--d', '32', '--heads', '4', '--tokenizer', root]);
    expect(missingTok.code).toBe(1);
    expect(missingTok.stderr).toContain(`${root}: no tokenizer.json`);
    expect(fs.readdirSync(root)).toEqual([]);
  });

  test('qwen2 in bf16 above a 2KB --max-shard-size: q/k/v biases, transformers\' shard layout, loads', async () => {
    const out = path.join(tmpDir(), 'q');
    const r = await runUal(['init', '--arch', 'qwen2', '--layers', '1', '--d', '16', '--heads', '4', '--kv-heads', '2',
      '--vocab', '64', '--ctx', '32', '--ffn', '48', '--save-dtype', 'bf16', '--max-shard-size', '2KB', '--json', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ model_type: 'qwen2', save_dtype: 'bf16', kv_heads: 2, vocab_size: 64 });
    expect(readJson(path.join(out, 'config.json'))).toEqual({
      model_type: 'qwen2', architectures: ['Qwen2ForCausalLM'], hidden_size: 16, intermediate_size: 48, num_hidden_layers: 1,
      num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 64, max_position_embeddings: 32, rms_norm_eps: 1e-6,
      rope_theta: 10000, hidden_act: 'silu', tie_word_embeddings: false, use_sliding_window: false, torch_dtype: 'bfloat16',
    });
    // bf16 bytes: embed and lm_head 2048 each (> 2000: alone), q 512+32, k and v 256+16, o 512, gate/up/down 1536
    const shard = (i: number) => `model-0000${i}-of-00006.safetensors`;
    const L = 'model.layers.0.';
    const want: Record<string, string> = { 'model.embed_tokens.weight': shard(1), 'lm_head.weight': shard(5), 'model.norm.weight': shard(6) };
    for (const p of ['q_proj', 'k_proj', 'v_proj']) for (const k of ['weight', 'bias']) want[`${L}self_attn.${p}.${k}`] = shard(2);
    want[`${L}self_attn.o_proj.weight`] = shard(2);
    want[`${L}mlp.gate_proj.weight`] = shard(3);
    want[`${L}mlp.up_proj.weight`] = shard(4);
    for (const k of ['mlp.down_proj.weight', 'input_layernorm.weight', 'post_attention_layernorm.weight']) want[L + k] = shard(6);
    const index = readJson<{ weight_map: Record<string, string> }>(path.join(out, 'model.safetensors.index.json'));
    expect(index.weight_map).toEqual(want);
    expect(fs.readdirSync(out).sort()).toEqual(['config.json', ...[1, 2, 3, 4, 5, 6].map(shard), 'model.safetensors.index.json']);
    const model = loadModel(out);
    expect(model.namedParameters().has(`${L}self_attn.k_proj.bias`)).toBe(true);
    expect(model.config).toMatchObject({ modelType: 'qwen2', qkvBias: true, numKvHeads: 2, tieWordEmbeddings: false });
  });

  test('--preset qwen2.5-0.5b is Qwen2.5-0.5B\'s published shape (494,032,768 parameters) with a Qwen tokenizer', () => {
    const cfg = parseConfig(MODEL_PRESETS['qwen2.5-0.5b'].config, 'preset');
    expect(cfg).toMatchObject({
      modelType: 'qwen2', numLayers: 24, hiddenSize: 896, numHeads: 14, numKvHeads: 2, headDim: 64, intermediateSize: 4864,
      vocabSize: 151936, tieWordEmbeddings: true, qkvBias: true, oBias: false, ropeTheta: 1e6, normEps: 1e-6,
      maxPositions: 32768, slidingWindow: null,
    });
    expect(llamaSpecs(cfg).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0)).toBe(494_032_768);
    const tokDir = presetTokenizerDir(MODEL_PRESETS['qwen2.5-0.5b']);
    expect(fs.realpathSync(tokDir)).toBe(fs.realpathSync(QWEN_TOKENIZER));
    expect(Tokenizer.load(tokDir).vocabSize).toBe(151669);
  });

  test('--preset, --save-dtype and --max-shard-size mistakes: exit 2, nothing written', async () => {
    const root = tmpDir();
    const out = path.join(root, 'x');
    const base = ['init', '--arch', 'gpt2', '--layers', '1', '--d', '8', '--heads', '2', '--vocab', '9', '--out', out];
    const cases: [string[], RegExp][] = [
      [['init', '--preset', 'qwen2.5-0.5b', '--layers', '2', '--d', '8', '--out', out], /--preset sets the model's shape; drop --layers, --d/],
      [['init', '--preset', 'qwen9', '--out', out], /unknown --preset "qwen9"[\s\S]*presets: qwen2\.5-0\.5b/],
      [[...base, '--save-dtype', 'fp64'], /--save-dtype must be one of fp32, bf16, fp16, got "fp64"/],
      [[...base, '--max-shard-size', '5XB'], /--max-shard-size must be a size such as 5GB, 500MB, 1GiB or a number of bytes, got "5XB"/],
    ];
    for (const [args, msg] of cases) {
      const r = await runUal(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(msg);
    }
    expect(fs.readdirSync(root)).toEqual([]);
  });

  test('a non-empty --out is refused unless --force, and --force replaces it whole', async () => {
    const out = tmpDir();
    fs.writeFileSync(path.join(out, 'keep.txt'), 'mine');
    const args = ['init', '--arch', 'gpt2', '--layers', '1', '--d', '8', '--heads', '2', '--vocab', '9', '--ctx', '8', '--out', out];
    const r = await runUal(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('exists and is not empty');
    expect(fs.readdirSync(out)).toEqual(['keep.txt']);
    expect((await runUal([...args, '--force'])).code).toBe(0);
    expect(fs.readdirSync(out).sort()).toEqual(['config.json', 'model.safetensors']);
    expect(fs.readdirSync(path.dirname(out)).filter((f) => f.includes(path.basename(out)) && f.includes('.tmp-'))).toEqual([]);
  });
});

describe('ual generate', () => {
  test.each(['gpt2', 'llama', 'qwen2'])('%s fixture: --prompt-ids --json gives torch_ref\'s greedy ids', async (m) => {
    const ref = readJson<number[]>(fixture(m, 'greedy.json'));
    const r = await runUal(['generate', '--model', fixture(m), '--prompt-ids', promptIds().join(','), '--max-new-tokens', String(ref.length - promptIds().length), '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    const res = lastJson<{ ids: number[]; text: unknown; stop_reason: string }>(r.stdout);
    expect(res.ids).toEqual(ref);
    expect(res.text).toBeNull();
    expect(res.stop_reason).toBe('length');
  });

  test('eos ids from config.json and generation_config.json stop generation, as in HF', async () => {
    const ref = readJson<number[]>(fixture('llama', 'greedy.json')); // 3,17,42,99,5,64 -> 82,78,69,...
    const dir = editedCheckpoint(fixture('llama'), (_t, cfg) => { cfg.eos_token_id = 69; });
    const args = ['generate', '--model', dir, '--prompt-ids', promptIds().join(','), '--max-new-tokens', '20', '--json'];
    let res = lastJson<{ ids: number[]; stop_reason: string }>((await runUal(args)).stdout);
    expect(res.ids).toEqual(ref.slice(0, ref.indexOf(69) + 1));
    expect(res.stop_reason).toBe('stop');
    fs.writeFileSync(path.join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: [78, 69] }));
    res = lastJson((await runUal(args)).stdout);
    expect(res.ids).toEqual(ref.slice(0, ref.indexOf(78) + 1));
  });

  test('without --json and without a tokenizer it prints the ids', async () => {
    const r = await runUal(['generate', '--model', fixture('gpt2'), '--prompt-ids', '3, 17, 42', '--max-new-tokens', '2', '--stop', '5']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^3,17,42,\d+,\d+$/);
  });

  test('bad inputs: exit codes and messages', async () => {
    const gen = (...a: string[]) => runUal(['generate', '--model', fixture('llama'), ...a]);
    let r = await gen('--prompt', 'hi');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('[UAL_TOKENIZER]');
    expect(r.stderr).toContain('--prompt-ids');
    r = await gen('--prompt-ids', '1,2,128');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--prompt-ids: id 128 is outside the vocabulary [0, 128) of ${fixture('llama')}`);
    r = await gen('--prompt-ids', '1,x');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('"x" is not a token id');
    r = await gen('--prompt-ids', '1', '--top-k', '5');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--temperature');
    r = await gen('--prompt-ids', '1', '--prompt', 'x');
    expect(r.code).toBe(2);
    r = await runUal(['generate', '--model', tmpDir(), '--prompt-ids', '1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error \[UAL_CHECKPOINT\] .*: no config\.json/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace for user mistakes
  });
});
