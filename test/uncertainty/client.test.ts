// The shared judge client raises the codes of whoever uses it: `ual elicit`'s UAL_ELICIT_*, `ual eval judge`'s
// UAL_JUDGE_*, with hints naming that command's model flag; settings and the API key come from one place.
import { afterEach, describe, expect, it } from 'vitest';
import { RowFailure, UalError, UsageError } from '../../src/errors.js';
import { CLIENT_FLAGS, clientSettings, JudgeClient, resolveApiKey, type ClientFamily } from '../../src/uncertainty/client.js';
import { flagDefaults, resolveFlags } from '../../src/util/options.js';
import { startJudge, type Judge } from './judge-server.js';

let judge: Judge | null = null;
afterEach(async () => { await judge?.close(); judge = null; });

async function failure(family: ClientFamily): Promise<Error> {
  const c = new JudgeClient({
    baseURL: judge!.url, apiKey: 'k', concurrency: 1, timeoutMs: 1000, maxRetries: 1, backoff: { baseMs: 1, maxMs: 1 },
    family, signal: new AbortController().signal,
  });
  return c.chat({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }).then(() => { throw new Error('no error'); }, (e: Error) => e);
}

describe('the judge client', () => {
  it.each([['elicit', 'UAL_ELICIT'], ['judge', 'UAL_JUDGE']] as const)('%s: codes %s_*', async (family, prefix) => {
    judge = await startJudge(() => ({ status: 404, json: { error: { message: 'no such model' } } }));
    const notFound = await failure(family);
    expect(notFound).toBeInstanceOf(UalError);
    expect((notFound as UalError).code).toBe(`${prefix}_HTTP`);
    expect((notFound as UalError).hint).toContain(family === 'judge' ? 'check --judge and --base-url' : 'check --model and --base-url');
    await judge.close();
    judge = await startJudge(() => ({ status: 401, json: { error: { message: 'bad key' } } }));
    expect(((await failure(family)) as UalError).code).toBe(`${prefix}_AUTH`);
    await judge.close();
    judge = await startJudge(() => ({ status: 503, json: { error: { message: 'down' } } }));
    const down = await failure(family);
    expect(down).toBeInstanceOf(RowFailure);
    expect([(down as RowFailure).code, down.message]).toEqual([`${prefix}_HTTP`, 'gave up after 2 attempts; last: HTTP 503 down']);
  });

  it('settings from the flags: defaults in seconds become milliseconds; the key from the named variable', () => {
    process.env.UAL_TEST_JUDGE_KEY = 'sk-from-env';
    const s = clientSettings(resolveFlags('t', CLIENT_FLAGS, { baseUrl: 'http://127.0.0.1:9/v1/', apiKeyEnv: 'UAL_TEST_JUDGE_KEY' }), 'judge', true);
    expect(s).toEqual({ baseURL: 'http://127.0.0.1:9/v1', apiKey: 'sk-from-env', concurrency: 8, rpm: undefined, tpm: undefined, timeoutMs: 60_000,
      maxRetries: 6, backoff: { baseMs: 1000, maxMs: 60_000 } });
    expect(flagDefaults(CLIENT_FLAGS)).toEqual({ concurrency: 8, timeout: 60, maxRetries: 6, retryBase: 1, retryMax: 60 });
    delete process.env.UAL_TEST_JUDGE_KEY;
  });

  it('a missing key for api.openai.com is the family\'s AUTH error; a pasted key is refused without being shown', () => {
    const saved = process.env.OPENAI_API_KEY;
    delete process.env.OPENAI_API_KEY;
    try {
      for (const [family, code] of [['elicit', 'UAL_ELICIT_AUTH'], ['judge', 'UAL_JUDGE_AUTH']] as const) {
        let err: unknown;
        try { resolveApiKey(undefined, 'https://api.openai.com/v1', true, family); } catch (e) { err = e; }
        expect((err as UalError).code).toBe(code);
      }
      expect(resolveApiKey(undefined, 'http://localhost:8000/v1', true, 'judge')).toBe('no-key');
      expect(resolveApiKey(undefined, 'https://api.openai.com/v1', false, 'judge')).toBe('');
      let pasted: unknown;
      try { resolveApiKey('sk-abc-123', 'http://x', true, 'elicit'); } catch (e) { pasted = e; }
      expect(pasted).toBeInstanceOf(UsageError);
      expect((pasted as Error).message).not.toContain('sk-abc-123');
    } finally {
      if (saved !== undefined) process.env.OPENAI_API_KEY = saved;
    }
  });
});
