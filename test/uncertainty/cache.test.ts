// The answer cache: keys change with everything that changes the answer and nothing else; answers survive reopening.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cacheKey, ElicitCache, type KeyParts } from '../../src/uncertainty/cache.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-cache-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('cacheKey', () => {
  const base: KeyParts = { method: 'verbalized', prompt: 'verbalized-v1', model: 'judge', params: { temperature: 0, maxTokens: 64 }, sample: '[["user","q"]]' };
  it('is stable and independent of param order', () => {
    expect(cacheKey(base)).toBe(cacheKey({ ...base, params: { maxTokens: 64, temperature: 0 } }));
    expect(cacheKey(base)).toMatch(/^[0-9a-f]{64}$/);
  });
  it('changes with method, prompt, model, params and sample', () => {
    const k = cacheKey(base);
    for (const other of [{ method: 'sampling' }, { prompt: 'file:abc' }, { model: 'judge-2' }, { params: { temperature: 0.5, maxTokens: 64 } },
      { sample: '[["user","q "]]' }]) {
      expect(cacheKey({ ...base, ...other })).not.toBe(k);
    }
  });
});

describe('ElicitCache', () => {
  it('keeps answers and scores across reopening, in WAL mode', () => {
    const f = path.join(dir, 'c.sqlite');
    const c = new ElicitCache(f);
    c.putAnswer('k1', 0, { text: 'a', value: 12, promptTokens: 3, completionTokens: 1 });
    c.putAnswer('k1', 2, { text: 'c', promptTokens: 3, completionTokens: 1 });
    c.putScore('k1', 12, 'verbalized');
    c.close();
    const r = ElicitCache.openIfExists(f)!;
    expect(r.score('k1')).toBe(12);
    expect(r.score('k2')).toBeUndefined();
    expect([...r.answers('k1').keys()].sort()).toEqual([0, 2]);
    expect(r.answers('k1').get(0)?.value).toBe(12);
    r.close();
    const w = new ElicitCache(f);
    w.putLastAnswer('k2', 0, { text: '{"score": 7}', value: 7, promptTokens: 1, completionTokens: 1 }, 7, 'verbalized');
    w.close();
    const r2 = new ElicitCache(f);
    expect(r2.score('k2')).toBe(7);
    expect(r2.answers('k2').get(0)?.text).toBe('{"score": 7}');
    r2.close();
    expect(ElicitCache.openIfExists(path.join(dir, 'none.sqlite'))).toBeNull();
    expect(fs.existsSync(path.join(dir, 'none.sqlite'))).toBe(false);
  });

  it('refuses a file that is not an elicit cache', () => {
    const f = path.join(dir, 'junk.sqlite');
    fs.writeFileSync(f, 'not a database at all, just some text that is long enough to look like a header'.repeat(10));
    expect(() => new ElicitCache(f)).toThrow(/cannot open the cache/);
  });
});
