// The one number format of the report: every number in a table goes through fmt(), so a test (or a reader) can
// recompute each cell's text from results.json.

/** 3 significant digits (0.853, 12.3, 0.0412); integers and values of 1000 or more without decimals. */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (Number.isInteger(x)) return String(x);
  if (Math.abs(x) >= 1000) return x.toFixed(0);
  return x.toPrecision(3);
}

/** A config value for a key/value table: numbers through fmt, strings as they are, objects as compact JSON. */
export function fmtValue(v: unknown): string {
  if (typeof v === 'number') return fmt(v);
  if (typeof v === 'string') return v;
  return JSON.stringify(v) ?? String(v);
}
