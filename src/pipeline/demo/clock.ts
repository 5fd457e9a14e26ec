// The demo's ETA: progress counted in work units (optimizer steps, plus model evaluations and elicitation weighted
// in steps), turned into the fraction done and the time left whenever a stage begins or a unit finishes.

export interface DemoProgress { stage: string; fraction: number; elapsedS: number; etaS: number }

export class Clock {
  private readonly t0 = Date.now();
  private done = 0;
  private stage = '';
  constructor(private readonly total: number, private readonly onProgress?: (p: DemoProgress) => void) {}

  begin(stage: string): void { this.stage = stage; this.emit(); }
  advance(units: number): void { this.done += units; this.emit(); }
  elapsed(): number { return (Date.now() - this.t0) / 1000; }

  private emit(): void {
    const fraction = Math.min(1, this.done / this.total);
    const elapsedS = this.elapsed();
    const etaS = fraction > 0.02 ? (elapsedS * (1 - fraction)) / fraction : NaN;
    this.onProgress?.({ stage: this.stage, fraction, elapsedS, etaS });
  }
}
