// The typed option tables every command is made of: values typed and checked, defaults filled in, errors that name
// the flag, and a help text generated from the same table.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { UalError, UsageError } from '../../src/errors.js';
import { choiceText, flagDefaults, flags, parseFlags, resolveFlags, usage, type TableFor, type Values } from '../../src/util/options.js';

const T = flags({
  data: { flag: 'data', kind: 'string', arg: 'FILE', required: true, help: 'rows' },
  steps: { flag: 'steps', kind: 'int', min: 1, max: 100, default: 10, help: 'optimizer steps' },
  lr: { flag: 'lr', kind: 'number', min: 0, help: 'learning rate' },
  loss: { flag: 'loss', kind: ['sft', 'ls', 'ual'], default: 'ual', help: 'the loss' },
  arch: { flag: 'arch', kind: ['gpt2', 'llama'], help: 'architecture' },
  pack: { flag: 'pack', kind: 'bool', help: 'pack rows' },
  shuffle: { flag: 'no-shuffle', kind: 'negbool', group: 'order', help: 'file order' },
  model: { flag: 'model', kind: 'list', arg: 'DIR', group: 'order', help: 'repeatable' },
});

const parse = (...argv: string[]) => parseFlags('t', T, argv);

function usageError(f: () => unknown): UsageError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return e as UsageError;
  }
  throw new Error('no error');
}

describe('parseFlags', () => {
  it('types every value and fills in defaults; switches and lists have resting values', () => {
    const { values, given } = parse('--data', 'x.jsonl', '--lr', '3e-4', '--model', 'a', '--model', 'b', '--no-shuffle');
    const typed: { data: string; steps: number; lr: number | undefined; loss: 'sft' | 'ls' | 'ual'; pack: boolean; model: string[] } = values;
    expect(typed).toEqual({ data: 'x.jsonl', steps: 10, lr: 3e-4, loss: 'ual', arch: undefined, pack: false, shuffle: false, model: ['a', 'b'] });
    expect([...given].sort()).toEqual(['data', 'lr', 'model', 'shuffle']);
    expect(parse('--data', 'x', '--pack', '--steps', '100').values).toMatchObject({ pack: true, shuffle: true, steps: 100 });
  });

  it('names the flag in every error', () => {
    expect(usageError(() => parse('--data', 'x', '--bogus')).message).toMatch(/^ual t: Unknown option '--bogus'/);
    expect(usageError(() => parse('--data')).message).toMatch(/--data/);
    expect(usageError(() => parse()).message).toBe('ual t: --data is required');
    expect(usageError(() => parse('--data', '')).message).toBe('ual t: --data is required');
    expect(usageError(() => parse('--data', 'x', '--steps', 'ten')).message).toBe('ual t: --steps must be a number, got "ten"');
    expect(usageError(() => parse('--data', 'x', '--steps', '2.5')).message).toBe('ual t: --steps must be an integer, got "2.5"');
    expect(usageError(() => parse('--data', 'x', '--steps', '0')).message).toBe('ual t: --steps must be >= 1, got 0');
    expect(usageError(() => parse('--data', 'x', '--steps', '101')).message).toBe('ual t: --steps must be <= 100, got 101');
    expect(usageError(() => parse('--data', 'x', '--loss', 'dpo')).message).toBe('ual t: --loss must be one of sft, ls, ual, got "dpo"');
    expect(usageError(() => parse('--data', 'x', '--arch', 'bert')).message).toBe('ual t: --arch must be gpt2 or llama, got "bert"');
  });

  it('an input file that must exist is a data error naming the flag', () => {
    const table = flags({ data: { flag: 'data', kind: 'string', exists: true, help: 'rows' } });
    const missing = path.join(os.tmpdir(), 'ual-no-such-file.jsonl');
    let err: unknown;
    try { parseFlags('t', table, ['--data', missing]); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(UalError);
    expect((err as UalError).code).toBe('UAL_DATA_BAD_FILE');
    expect((err as UalError).message).toBe(`--data ${missing} does not exist`);
    const here = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-opt-'));
    expect(parseFlags('t', table, ['--data', here]).values.data).toBe(here);
    fs.rmSync(here, { recursive: true });
  });
});

describe('resolveFlags and flagDefaults', () => {
  it('checks values a caller sets as the command line would be checked', () => {
    expect(resolveFlags('t', T, { data: 'x', steps: 5 })).toMatchObject({ data: 'x', steps: 5, loss: 'ual', pack: false, shuffle: true, model: [] });
    expect(usageError(() => resolveFlags('t', T, { data: 'x', steps: 0 })).message).toBe('ual t: --steps must be >= 1, got 0');
    expect(usageError(() => resolveFlags('t', T, { data: 'x', loss: 'dpo' as 'ual' })).message).toBe('ual t: --loss must be one of sft, ls, ual, got "dpo"');
    expect(usageError(() => resolveFlags('t', T, { data: 'x', lr: '1' as unknown as number })).message).toBe('ual t: --lr must be a number, got "1"');
    expect(flagDefaults(T)).toEqual({ steps: 10, loss: 'ual', pack: false, shuffle: true, model: [] });
  });

  it('choiceText: "a or b", else "one of ..."', () => {
    expect([choiceText(['a', 'b']), choiceText(['a', 'b', 'c'])]).toEqual(['a or b', 'one of a, b, c']);
  });
});

describe('usage', () => {
  it('one line per flag under its group, defaults shown, continuation lines aligned', () => {
    const text = usage('usage: ual t --data FILE', flags({ ...T, lr: { ...T.lr, help: 'learning rate\nafter warmup' } }));
    const lines = text.split('\n');
    expect(lines[0]).toBe('usage: ual t --data FILE');
    expect(lines.filter((l) => /^ {2}--\S/.test(l)).map((l) => l.trim().split(/\s/)[0]))
      .toEqual(['--data', '--steps', '--lr', '--loss', '--arch', '--pack', '--no-shuffle', '--model']);
    expect(lines).toContain('options:');
    expect(lines.indexOf('order:')).toBeGreaterThan(lines.findIndex((l) => l.includes('--pack')));
    expect(text).toMatch(/ {2}--steps N +optimizer steps \(default 10\)\n/);
    expect(text).toMatch(/ {2}--loss sft\|ls\|ual +the loss \(default ual\)\n/);
    const lr = lines.findIndex((l) => l.startsWith('  --lr N'));
    expect(lines[lr + 1].trim()).toBe('after warmup');
    expect(lines[lr + 1].indexOf('after')).toBe(lines[lr].indexOf('learning'));
  });
});

describe('TableFor', () => {
  it('a table for an options type needs a flag of the right kind for every key (checked by tsc)', () => {
    interface Opts { data: string; steps: number; pack?: boolean; loss: 'sft' | 'ual' }
    const ok = flags({
      data: { flag: 'data', kind: 'string', help: '' }, steps: { flag: 'steps', kind: 'int', help: '' },
      pack: { flag: 'pack', kind: 'bool', help: '' }, loss: { flag: 'loss', kind: ['sft', 'ual'], help: '' },
    }) satisfies TableFor<Opts>;
    // @ts-expect-error -- no flag for `pack`
    const missing = flags({ data: ok.data, steps: ok.steps, loss: ok.loss }) satisfies TableFor<Opts>;
    // @ts-expect-error -- `steps` is a number, not a string flag
    const wrongKind = flags({ ...ok, steps: { flag: 'steps', kind: 'string', help: '' } }) satisfies TableFor<Opts>;
    const v: Values<typeof ok> = resolveFlags('t', ok, { data: 'x', steps: 1, loss: 'sft' });
    expect([Object.keys(missing).length, Object.keys(wrongKind).length, v.pack]).toEqual([3, 4, false]);
  });
});
