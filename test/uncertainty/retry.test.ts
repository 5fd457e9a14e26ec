// Retry timing: Retry-After in all three spellings, and exponential backoff with jitter inside its bounds.
import { describe, expect, it } from 'vitest';
import { backoffDelay, errorCode, parseRetryAfter } from '../../src/uncertainty/retry.js';

const hdrs = (h: Record<string, string>) => (name: string) => h[name] ?? null;

describe('parseRetryAfter', () => {
  it('reads retry-after-ms, seconds and an HTTP-date', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(parseRetryAfter(hdrs({ 'retry-after-ms': '250' }), now)).toBe(250);
    expect(parseRetryAfter(hdrs({ 'retry-after-ms': '250', 'retry-after': '9' }), now)).toBe(250);
    expect(parseRetryAfter(hdrs({ 'retry-after': '3' }), now)).toBe(3000);
    expect(parseRetryAfter(hdrs({ 'retry-after': '1.5' }), now)).toBe(1500);
    expect(parseRetryAfter(hdrs({ 'retry-after': 'Wed, 01 Jan 2025 00:00:07 GMT' }), now)).toBe(7000);
    expect(parseRetryAfter(hdrs({ 'retry-after': 'Tue, 31 Dec 2024 23:00:00 GMT' }), now)).toBe(0);
  });
  it('is null when absent or unreadable', () => {
    expect(parseRetryAfter(hdrs({}))).toBeNull();
    expect(parseRetryAfter(hdrs({ 'retry-after': 'soon' }))).toBeNull();
    expect(parseRetryAfter(hdrs({ 'retry-after-ms': 'x' }))).toBeNull();
  });
});

describe('backoffDelay', () => {
  const o = { baseMs: 100, maxMs: 1000 };
  it('doubles, caps, and jitters within [d/2, d]', () => {
    expect(backoffDelay(0, o, null, () => 0)).toBe(50);
    expect(backoffDelay(0, o, null, () => 1)).toBe(100);
    expect(backoffDelay(3, o, null, () => 1)).toBe(800);
    expect(backoffDelay(10, o, null, () => 1)).toBe(1000);
    expect(backoffDelay(10, o, null, () => 0)).toBe(500);
  });
  it('waits at least the server hint, plus at most 10% (1 s cap) of jitter', () => {
    expect(backoffDelay(0, o, 2000, () => 0)).toBe(2000);
    expect(backoffDelay(0, o, 2000, () => 1)).toBe(2200);
    expect(backoffDelay(5, o, 60_000, () => 1)).toBe(61_000);
  });
});

describe('errorCode', () => {
  it('finds codes along cause chains and inside AggregateErrors', () => {
    const inner = Object.assign(new Error('connect'), { code: 'ECONNREFUSED' });
    expect(errorCode(new TypeError('fetch failed', { cause: inner }))).toBe('ECONNREFUSED');
    expect(errorCode(new Error('x', { cause: new AggregateError([inner]) }))).toBe('ECONNREFUSED');
    expect(errorCode(new Error('plain'))).toBeUndefined();
  });
});
