import { test } from 'vitest';
import { initConfigJson, initModel, loadModel } from '../../src/models/index.js';
import { tmpDir, cleanupTmp } from './helpers.js';
test('probe', () => {
  const mb = () => Math.round(process.memoryUsage().rss / 1e6);
  let t = performance.now();
  const m = initModel(initConfigJson({ arch: 'gpt2', layers: 12, d: 768, heads: 12, vocab: 50257, ctx: 1024 }), 0);
  console.log('init ms', Math.round(performance.now() - t), 'rss', mb());
  const dir = tmpDir();
  t = performance.now(); m.save(dir); console.log('save ms', Math.round(performance.now() - t), 'rss', mb());
  t = performance.now(); const m2 = loadModel(dir); console.log('load ms', Math.round(performance.now() - t), 'rss', mb());
  const prompt = Array.from({ length: 32 }, (_, i) => i * 100);
  t = performance.now(); const r = m2.generate(prompt, { maxNewTokens: 32 }); const dt = performance.now() - t;
  console.log('gen 32 tok ms', Math.round(dt), 'tok/s', (32 / dt * 1000).toFixed(1));
  t = performance.now(); m2.generate(prompt, { maxNewTokens: 32, useCache: false }); console.log('nocache ms', Math.round(performance.now() - t));
  t = performance.now(); m2.generate(prompt, { maxNewTokens: 32, temperature: 1, topP: 0.9 }); console.log('sample top-p ms', Math.round(performance.now() - t));
  cleanupTmp();
});
