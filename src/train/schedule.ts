// Learning-rate schedules with linear warmup, as transformers' get_*_schedule_with_warmup define them:
// optimizer step k (0-based) uses lr * lambda(k), so with warmup the very first step has lr 0.

export type LrSchedule = 'constant' | 'linear' | 'cosine';

export function lrAt(step0: number, base: number, schedule: LrSchedule, warmup: number, total: number): number {
  if (warmup > 0 && step0 < warmup) return (base * step0) / warmup;
  if (schedule === 'constant') return base;
  const span = Math.max(1, total - warmup);
  const progress = Math.min(1, (step0 - warmup) / span);
  if (schedule === 'linear') return base * Math.max(0, 1 - progress);
  return base * 0.5 * (1 + Math.cos(Math.PI * progress));
}
