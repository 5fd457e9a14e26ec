// Pacing primitives: the token bucket's rate and FIFO order, the semaphore's bound, abortable sleep.
import { describe, expect, it } from 'vitest';
import { Semaphore, sleep, TokenBucket } from '../../src/uncertainty/limits.js';

describe('TokenBucket', () => {
  it('paces takes to the per-minute rate after the initial capacity', async () => {
    const b = new TokenBucket(1200, 2); // 20/s, burst of 2
    const t0 = Date.now();
    for (let i = 0; i < 8; i++) await b.take(1);
    const ms = Date.now() - t0;
    expect(ms).toBeGreaterThanOrEqual(270); // 6 paced takes at 50 ms
    expect(ms).toBeLessThan(700);
  });

  it('serves takers in order and lets a take larger than the capacity through', async () => {
    const b = new TokenBucket(6000, 10); // 100/s
    const order: number[] = [];
    await Promise.all([b.take(25).then(() => order.push(1)), b.take(1).then(() => order.push(2)), b.take(1).then(() => order.push(3))]);
    expect(order).toEqual([1, 2, 3]);
  });

  it('uses a virtual clock deterministically', () => {
    let now = 0;
    const b = new TokenBucket(60, 5, () => now);
    b.adjust(5);
    now = 2000;
    b.adjust(0);
    expect((b as unknown as { level: number }).level).toBeCloseTo(2);
  });
});

describe('Semaphore', () => {
  it('never lets more than n run at once', async () => {
    const s = new Semaphore(3);
    let running = 0;
    let peak = 0;
    await Promise.all(Array.from({ length: 20 }, async () => {
      await s.acquire();
      running++;
      peak = Math.max(peak, running);
      await sleep(2);
      running--;
      s.release();
    }));
    expect(peak).toBe(3);
  });
});

describe('sleep', () => {
  it('wakes early with the abort reason', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    const p = sleep(10_000, ac.signal);
    setTimeout(() => ac.abort(new Error('stop')), 10);
    await expect(p).rejects.toThrow('stop');
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});
