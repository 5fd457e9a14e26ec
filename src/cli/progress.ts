// Progress on stderr: a cli-progress bar on a terminal, a plain line every few percent otherwise (logs, CI).
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, payload: Record<string, string | number>): void;
  stop(): void;
}

export function progress(label: string, total: number, fields: string): Progress {
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar({
      stream: process.stderr,
      format: `${label} [{bar}] {value}/{total} ${fields} eta {eta_formatted}`,
      hideCursor: true,
      etaBuffer: 20,
    }, cliProgress.Presets.shades_classic);
    bar.start(total, 0, {});
    return { update: (d, p) => bar.update(d, p), stop: () => bar.stop() };
  }
  const every = Math.max(1, Math.floor(total / 20));
  return {
    update(done, p) {
      if (done % every !== 0 && done !== total) return;
      const text = fields.replace(/\{(\w+)\}/g, (_, k: string) => String(p[k] ?? ''));
      process.stderr.write(`${label} ${done}/${total} ${text}\n`);
    },
    stop() {},
  };
}

/** One bar per stage of a run (generate, then judge, ...): a bar starts with its stage's first report. */
export function stagedProgress(): { update(stage: string, done: number, total: number): void; stop(): void } {
  let stage = '';
  let bar: Progress | null = null;
  return {
    update(s, done, total) {
      if (s !== stage) {
        bar?.stop();
        bar = progress(s, total, '');
        stage = s;
      }
      bar!.update(done, {});
    },
    stop() {
      bar?.stop();
      bar = null;
      stage = '';
    },
  };
}

/** Seconds for a person: "42s", "4m07s", "1.5h"; "?" when not known yet. */
export function fmtDuration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s >= 5400) return `${(s / 3600).toFixed(1)}h`;
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.round(s)}s`;
}
