// What `ual report` accepts: a demo folder checked against the results schema, a training run folder checked line
// by line; anything else is refused with the file, the line or field, and what was expected.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UalError } from '../../src/errors.js';
import { loadReportInput } from '../../src/pipeline/report/load.js';
import { makeResults, tmpDir, writeDemoDir, writeTrainDir } from './helpers.js';

let dir: string;
beforeAll(() => { dir = tmpDir('load'); });
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The UalError that loading `dirs` throws. */
function failure(...dirs: string[]): UalError {
  try {
    loadReportInput(dirs);
  } catch (e) {
    if (e instanceof UalError) return e;
    throw e;
  }
  throw new Error('expected a UalError');
}

describe('loadReportInput', () => {
  it('reads a demo folder and a training run, in the order given', () => {
    const demo = writeDemoDir(path.join(dir, 'demo'));
    const run = writeTrainDir(path.join(dir, 'run'), 7);
    const [a, b] = loadReportInput([run, demo]);
    expect(a.kind === 'train' && a.steps.map((s) => s.step)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(a.kind === 'train' && a.steps[0].tokens_per_s).toBe(2000);
    expect(b.kind === 'demo' && b.results).toEqual(makeResults());
  });

  it('a results.json that breaks the schema: the file, the field path and a hint', () => {
    const r = makeResults() as unknown as { runs: { seed: unknown }[]; config: Record<string, unknown> };
    r.runs[1].seed = 'two';
    const e = failure(writeDemoDir(path.join(dir, 'bad-seed'), r));
    expect(e.code).toBe('UAL_DATA_BAD_ROW');
    expect(e.message).toMatch(new RegExp(`^${path.join(dir, 'bad-seed', 'results.json')} field "runs\\[1\\]\\.seed": .*number`));
    expect(e.hint).toContain('ual demo');

    delete r.config.versions;
    expect(failure(writeDemoDir(path.join(dir, 'two-bad'), r)).message).toMatch(/field "config\.versions": .*\(and 1 more problem\)$/);
  });

  it('rows that name an undeclared method or task type, and a results.json that is not JSON', () => {
    const r = makeResults();
    r.summary[2].method = 'dpo';
    expect(failure(writeDemoDir(path.join(dir, 'ref'), r)).message)
      .toContain('field "summary[2].method": "dpo" is not among the declared methods (sft, ls, ual, ual-oracle)');
    const t = makeResults();
    t.per_type[0].type = 'poems';
    expect(failure(writeDemoDir(path.join(dir, 'type'), t)).message).toContain('field "per_type[0].type": "poems" is not among the declared task_types');
    const cut = path.join(dir, 'cut');
    fs.mkdirSync(cut);
    fs.writeFileSync(path.join(cut, 'results.json'), JSON.stringify(makeResults()).slice(0, 500));
    expect(failure(cut).message).toMatch(new RegExp(`^${path.join(cut, 'results.json')}: not valid JSON`));
  });

  it('a bad metrics.jsonl line is named by file and line', () => {
    const run = writeTrainDir(path.join(dir, 'bad-line'), 5);
    const file = path.join(run, 'metrics.jsonl');
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    fs.writeFileSync(file, [...lines.slice(0, 2), '{"step": 3, "loss": 1.', ...lines.slice(3)].join('\n'));
    expect(failure(run).message).toMatch(new RegExp(`^${file}:3: not valid JSON`));
    fs.writeFileSync(file, [...lines.slice(0, 3), '{"step": 4, "loss": null, "lr": 0.001}', ...lines.slice(4)].join('\n'));
    expect(failure(run).message).toMatch(new RegExp(`^${file}:4 field "loss": `));
    fs.writeFileSync(file, '\n');
    expect(failure(run).message).toBe(`${file}: has no steps`);
  });

  it('a run without train_config.json, a folder that is neither, a path that does not exist', () => {
    const run = writeTrainDir(path.join(dir, 'no-config'));
    fs.rmSync(path.join(run, 'train_config.json'));
    expect(failure(run).message).toBe(`${run} has no train_config.json`);
    const empty = path.join(dir, 'empty');
    fs.mkdirSync(empty);
    const e = failure(empty);
    expect(e.code).toBe('UAL_DATA_BAD_FILE');
    expect(e.message).toBe(`${empty} holds neither results.json (from "ual demo") nor metrics.jsonl + train_config.json (from "ual train --out")` +
      ' nor judge.jsonl (from "ual eval judge --out")');
    expect(failure(path.join(dir, 'nope')).message).toBe(`${path.join(dir, 'nope')} does not exist`);
  });
});
