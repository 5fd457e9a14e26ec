// A small seeded PRNG (sfc32 seeded through splitmix32) for weight init, data order and sampling: the same seed gives
// the same checkpoint, batches and generated ids on every machine, which Math.random cannot promise.

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    // splitmix32 spreads a small integer seed (0, 1, 2...) over all 128 state bits; sfc32 is weak on sparse states
    let s = (Math.trunc(seed) ^ 0x9e3779b9) >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** the generator's state, to draw the same numbers again after setState (recomputed dropout masks) */
  getState(): number[] { return [this.a, this.b, this.c, this.d]; }

  setState(s: readonly number[]): void { [this.a, this.b, this.c, this.d] = s; }

  /** uniform 32-bit unsigned integer */
  u32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** uniform in [0, 1) with 53 random bits */
  next(): number {
    return ((this.u32() >>> 5) * 67108864 + (this.u32() >>> 6)) / 9007199254740992;
  }

  /**
   * Fill `out` with N(0, std^2) values: weight init of 100M+ parameters, so the generator state lives in locals
   * and the polar method (32-bit uniforms, no sin/cos) is used; still a pure function of the seed.
   */
  fillNormal(out: Float32Array | Float64Array, std: number): void {
    let { a, b, c, d } = this;
    const n = out.length;
    let i = 0;
    while (i < n) {
      let x = 0, y = 0, s = 0;
      do {
        let t = (((a + b) >>> 0) + d) >>> 0;
        d = (d + 1) >>> 0;
        a = b ^ (b >>> 9);
        b = (c + (c << 3)) >>> 0;
        c = (((c << 21) | (c >>> 11)) + t) >>> 0;
        x = (t + 0.5) * 4.656612873077393e-10 - 1; // (0, 2) - 1: uniform in (-1, 1)
        t = (((a + b) >>> 0) + d) >>> 0;
        d = (d + 1) >>> 0;
        a = b ^ (b >>> 9);
        b = (c + (c << 3)) >>> 0;
        c = (((c << 21) | (c >>> 11)) + t) >>> 0;
        y = (t + 0.5) * 4.656612873077393e-10 - 1;
        s = x * x + y * y;
      } while (s >= 1 || s === 0);
      const f = std * Math.sqrt((-2 * Math.log(s)) / s);
      out[i++] = x * f;
      if (i < n) out[i++] = y * f;
    }
    this.a = a;
    this.b = b;
    this.c = c;
    this.d = d;
  }

  /** a uniformly random permutation of 0..n-1 (Fisher-Yates) */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      const t = p[i]; p[i] = p[j]; p[j] = t;
    }
    return p;
  }
}
