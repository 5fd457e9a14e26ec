// The layering of DESIGN.md, checked on the source: every import of ours (static, dynamic, type-only) points to the
// importer's own folder or to a folder below it, never up.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';

const SRC = path.resolve(import.meta.dirname, '../src');

// what each folder may import besides itself (DESIGN.md's table; data, util and errors.ts are the floor)
const FLOOR = ['data', 'util', 'errors.ts'];
const MAY: Record<string, string[]> = {
  cli: ['pipeline', 'uncertainty', 'train', 'eval', 'models', 'engine', ...FLOOR],
  pipeline: ['uncertainty', 'train', 'eval', 'models', 'engine', ...FLOOR],
  uncertainty: FLOOR,
  train: ['models', 'engine', ...FLOOR],
  eval: ['models', 'engine', ...FLOOR],
  models: ['engine', ...FLOOR],
  engine: ['util', 'errors.ts'],
  data: ['util', 'errors.ts'],
  util: ['errors.ts'],
};

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** the top-level entry of src/ a relative import lands in */
function topOf(file: string, spec: string): string {
  return path.relative(SRC, path.resolve(path.dirname(file), spec)).split(path.sep)[0].replace(/\.js$/, '.ts');
}

const IMPORT = /(?:from\s+|import\s*\(\s*|import\s+)'(\.[^']+)'/g;

describe('layers', () => {
  const files = sources(SRC);

  test('every folder of src/ has a rule', () => {
    const tops = new Set(files.map((f) => path.relative(SRC, f).split(path.sep)[0]).filter((t) => !t.endsWith('.ts')));
    expect([...tops].sort()).toEqual(Object.keys(MAY).sort());
  });

  test('no import points up', () => {
    const upward: string[] = [];
    let count = 0;
    for (const f of files) {
      const from = path.relative(SRC, f).split(path.sep)[0];
      if (from.endsWith('.ts')) continue; // errors.ts imports nothing of ours
      for (const m of fs.readFileSync(f, 'utf8').matchAll(IMPORT)) {
        const to = topOf(f, m[1]);
        count++;
        if (to !== from && !MAY[from].includes(to)) upward.push(`${path.relative(SRC, f)} imports ${m[1]} (${from} -> ${to})`);
      }
    }
    expect(count).toBeGreaterThan(300); // the pattern finds the imports at all
    expect(upward).toEqual([]);
  });

  test('the check catches an upward import', () => {
    const f = path.join(SRC, 'models', 'x.ts');
    expect(topOf(f, '../train/trainer.js')).toBe('train');
    expect(MAY.models.includes(topOf(f, '../train/trainer.js'))).toBe(false);
    expect(topOf(f, '../errors.js')).toBe('errors.ts');
  });
});
