// Bad checkpoints and inputs fail at the boundary with one clear error naming the file, the tensor or key, what was
// expected, and the fix (STYLE 9, 10).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { noGrad } from '../../src/engine/index.js';
import { CheckpointError, UalError } from '../../src/errors.js';
import { loadModel } from '../../src/models/index.js';
import { caught, cleanupTmp, editedCheckpoint, fixture, tmpDir } from './helpers.js';

afterAll(cleanupTmp);


describe('bad checkpoints', () => {
  test('missing tensor: names the file, the tensor (with its prefix) and the expected shape', () => {
    const dir = editedCheckpoint(fixture('gpt2'), (t) => { t.delete('transformer.h.1.mlp.c_fc.bias'); });
    const e = caught(() => loadModel(dir));
    expect(e).toBeInstanceOf(CheckpointError);
    expect(e.code).toBe('UAL_CHECKPOINT');
    expect(e.message).toContain(path.join(dir, 'model.safetensors'));
    expect(e.message).toContain('"transformer.h.1.mlp.c_fc.bias"');
    expect(e.message).toContain('[256]');
    expect(e.hint).toContain('config.json');
  });

  test('missing lm_head in an untied Llama: the hint offers tie_word_embeddings', () => {
    const dir = editedCheckpoint(fixture('llama'), (t) => { t.delete('lm_head.weight'); });
    const e = caught(() => loadModel(dir));
    expect(e.message).toContain('missing tensor "lm_head.weight" (expected shape [128,64])');
    expect(e.hint).toContain('tie_word_embeddings');
  });

  test('mis-shaped tensor: names the file, the tensor, found and expected shapes', () => {
    const dir = editedCheckpoint(fixture('llama'), (t) => {
      t.set('model.layers.0.self_attn.k_proj.weight', { shape: [64, 64], data: new Float32Array(64 * 64) });
    });
    const e = caught(() => loadModel(dir));
    expect(e.message).toBe(`${path.join(dir, 'model.safetensors')}: tensor "model.layers.0.self_attn.k_proj.weight" ` +
      `has shape [64,64], expected [32,64] from ${path.join(dir, 'config.json')}`);
    expect(e.hint).toMatch(/config\.json/);
  });

  test('a GPT-2 Conv1D weight stored [out, in] is recognized as transposed', () => {
    const dir = editedCheckpoint(fixture('gpt2'), (t) => {
      const w = t.get('transformer.h.0.mlp.c_fc.weight')!;
      t.set('transformer.h.0.mlp.c_fc.weight', { shape: [w.shape[1], w.shape[0]], data: w.data });
    });
    const e = caught(() => loadModel(dir));
    expect(e.message).toContain('"transformer.h.0.mlp.c_fc.weight" has shape [256,64], expected [64,256]');
    expect(e.hint).toContain('[in, out]');
  });

  test('unknown model_type: names the file, the value and what is supported', () => {
    const dir = editedCheckpoint(fixture('gpt2'), (_t, cfg) => { cfg.model_type = 'bert'; });
    const e = caught(() => loadModel(dir));
    expect(e.message).toBe(`${path.join(dir, 'config.json')}: model_type "bert" is not supported; supported: gpt2, llama, mistral, qwen2`);
  });

  test('config problems name the key', () => {
    const noHeads = editedCheckpoint(fixture('llama'), (_t, cfg) => { delete cfg.num_attention_heads; });
    expect(caught(() => loadModel(noHeads)).message).toContain('required key "num_attention_heads" is missing');
    const badKv = editedCheckpoint(fixture('llama'), (_t, cfg) => { cfg.num_key_value_heads = 3; });
    expect(caught(() => loadModel(badKv)).message).toContain('not a multiple of num_key_value_heads 3');
    const badType = editedCheckpoint(fixture('gpt2'), (_t, cfg) => { cfg.n_embd = '64'; });
    expect(caught(() => loadModel(badType)).message).toContain('"n_embd" must be an integer >= 1, got "64"');
    const scaled = editedCheckpoint(fixture('llama'), (_t, cfg) => { cfg.rope_scaling = { rope_type: 'llama3', factor: 8 }; });
    expect(caught(() => loadModel(scaled)).message).toContain('rope_scaling');
  });

  test('weights the config does not describe are an error, not silently dropped', () => {
    // a llama config over weights that carry q/k/v biases: ignoring them would give wrong logits
    const dir = editedCheckpoint(fixture('qwen2'), (_t, cfg) => { cfg.model_type = 'llama'; });
    const e = caught(() => loadModel(dir));
    expect(e.message).toContain('tensor(s) a llama model with this config does not use: "model.layers.0.self_attn.k_proj.bias"');
    expect(e.message).toContain('6 tensor(s)');
  });

  test('missing files and corrupt safetensors', () => {
    const empty = tmpDir();
    expect(caught(() => loadModel(empty)).message).toBe(`${empty}: no config.json`);
    expect(caught(() => loadModel(path.join(empty, 'nope'))).hint).toContain('does not exist');
    fs.copyFileSync(fixture('gpt2', 'config.json'), path.join(empty, 'config.json'));
    fs.writeFileSync(path.join(empty, 'pytorch_model.bin'), 'x');
    const noWeights = caught(() => loadModel(empty));
    expect(noWeights.message).toContain('no model.safetensors or model.safetensors.index.json (found pytorch_model.bin)');
    expect(noWeights.hint).toContain('safe_serialization');

    const file = path.join(empty, 'model.safetensors');
    const good = fs.readFileSync(fixture('gpt2', 'model.safetensors'));
    fs.writeFileSync(file, good.subarray(0, good.length - 100));
    const truncated = caught(() => loadModel(empty));
    expect(truncated.message).toContain(file);
    expect(truncated.message).toContain('the file is truncated');
    const garbage = Buffer.concat([Buffer.from([16, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{not json at all'), Buffer.alloc(8)]);
    fs.writeFileSync(file, garbage);
    expect(caught(() => loadModel(empty)).message).toContain('header is not JSON');
  });

  test('a shard missing from the index is named', () => {
    const dir = tmpDir();
    fs.copyFileSync(fixture('gpt2', 'config.json'), path.join(dir, 'config.json'));
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { 'transformer.wte.weight': 'model-00001-of-00002.safetensors' } }));
    const e = caught(() => loadModel(dir));
    expect(e.message).toContain('shard model-00001-of-00002.safetensors (holding "transformer.wte.weight") is missing');
  });
});

describe('bad inputs', () => {
  test('token ids >= vocab: a clear error naming the id, its position and the model', () => {
    const model = loadModel(fixture('qwen2'));
    const e = caught(() => noGrad(() => model.forward(Int32Array.from([1, 2, 128, 3]), 2, 2)));
    expect(e.code).toBe('UAL_MODEL_INPUT');
    expect(e.message).toBe(`token id 128 (row 1, position 0) is outside the vocabulary [0, 128) of ${fixture('qwen2')}`);
    expect(e.hint).toContain('tokenizer');
    expect(caught(() => model.generate([5, -1])).message).toContain('token id -1');
  });

  test('GPT-2 input longer than n_positions', () => {
    const model = loadModel(fixture('gpt2'));
    const e = caught(() => noGrad(() => model.forward(new Int32Array(65), 1, 65)));
    expect(e.message).toContain('sequence of 65 tokens is longer than');
    expect(e.message).toContain('64 positions (n_positions)');
  });
});
