// When and how long to wait before asking the judge again: Retry-After in its three spellings, exponential
// backoff with jitter, and which failures are worth a retry at all (429, 5xx, timeouts, dropped connections).

/**
 * The server's requested wait in ms, from `retry-after-ms`, `Retry-After: <seconds>` or `Retry-After: <HTTP-date>`;
 * null when absent or unreadable.
 */
export function parseRetryAfter(get: (name: string) => string | null | undefined, now = Date.now()): number | null {
  const ms = get('retry-after-ms');
  if (ms != null && ms.trim() !== '' && Number.isFinite(Number(ms)) && Number(ms) >= 0) return Number(ms);
  const ra = get('retry-after');
  if (ra == null || ra.trim() === '') return null;
  if (/^\s*\d+(\.\d+)?\s*$/.test(ra)) return Number(ra) * 1000;
  const date = Date.parse(ra);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
}

/**
 * Wait before retry number `attempt` (0 = first retry). Without a server hint: exponential, capped, with "equal
 * jitter" (half fixed, half random) so a crowd of failed requests spreads out instead of returning together.
 * With a hint: at least the hint, plus up to 10% so those requests do not all land on the same instant.
 */
export function backoffDelay(attempt: number, o: BackoffOptions, retryAfterMs: number | null, rand = Math.random): number {
  if (retryAfterMs !== null) return retryAfterMs + rand() * Math.min(retryAfterMs * 0.1, 1000);
  const d = Math.min(o.maxMs, o.baseMs * 2 ** attempt);
  return d / 2 + rand() * (d / 2);
}

/** Network error codes that mean "nobody is listening there", as opposed to a connection that broke. */
export const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** The first error code found along an error's cause chain (undici nests them; AggregateError for v4+v6). */
export function errorCode(e: unknown, depth = 0): string | undefined {
  if (!e || typeof e !== 'object' || depth > 5) return undefined;
  const o = e as { code?: unknown; cause?: unknown; errors?: unknown };
  if (typeof o.code === 'string' && o.code) return o.code;
  if (Array.isArray(o.errors)) for (const x of o.errors) { const c = errorCode(x, depth + 1); if (c) return c; }
  return errorCode(o.cause, depth + 1);
}

/** The innermost message along the cause chain: "other side closed" says more than "fetch failed". */
export function rootMessage(e: unknown): string {
  let cur: unknown = e;
  let msg = e instanceof Error ? e.message : String(e);
  for (let i = 0; i < 5 && cur && typeof cur === 'object' && 'cause' in cur && (cur as { cause: unknown }).cause; i++) {
    cur = (cur as { cause: unknown }).cause;
    if (cur instanceof Error && cur.message) msg = cur.message;
  }
  return msg;
}
