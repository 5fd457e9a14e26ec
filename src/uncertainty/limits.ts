// Pacing for the judge client: an abortable sleep, a FIFO semaphore (--concurrency) and token buckets
// (--rpm, --tpm), so we stay under the provider's limits instead of provoking 429s and retrying.

/** Sleep that wakes early (rejecting with the signal's reason) when the run is aborted. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = () => { clearTimeout(t); reject(signal!.reason); };
    const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export class Semaphore {
  private free: number;
  private waiters: Array<() => void> = [];

  constructor(n: number) { this.free = n; }

  async acquire(): Promise<void> {
    if (this.free > 0) { this.free--; return; }
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next(); // the slot passes straight to the next waiter
    else this.free++;
  }
}

/**
 * A token bucket refilled continuously at `perMinute / 60 s`, holding at most `capacity` (one second's worth by
 * default, so a fresh run does not burst a whole minute's quota at once). Takers are served in FIFO order; a take
 * larger than the capacity waits for a full bucket and then drives the level negative, which later takers repay.
 */
export class TokenBucket {
  private level: number;
  private last: number;
  private queue: Promise<void> = Promise.resolve();
  readonly capacity: number;

  constructor(readonly perMinute: number, capacity?: number, private now: () => number = Date.now) {
    this.capacity = capacity ?? Math.max(1, perMinute / 60);
    this.level = this.capacity;
    this.last = now();
  }

  private refill(): void {
    const t = this.now();
    this.level = Math.min(this.capacity, this.level + ((t - this.last) * this.perMinute) / 60_000);
    this.last = t;
  }

  take(n: number, signal?: AbortSignal): Promise<void> {
    const turn = this.queue.then(async () => {
      for (;;) {
        this.refill();
        const need = Math.min(n, this.capacity);
        if (this.level >= need) { this.level -= n; return; }
        await sleep(((need - this.level) * 60_000) / this.perMinute, signal);
      }
    });
    this.queue = turn.catch(() => undefined); // an aborted taker must not block the ones behind it
    return turn;
  }

  /** Correct an estimate once the real count is known (e.g. tokens from the response's usage). */
  adjust(delta: number): void {
    this.refill();
    this.level = Math.min(this.capacity, this.level - delta);
  }
}
