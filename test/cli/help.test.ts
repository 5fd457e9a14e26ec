// Every command's --help comes from its flag table: each flag of the table is listed exactly once, the help lists
// no flag the table lacks, and a flag the table lacks is a usage error naming it. Commands with subcommands
// (`ual eval gsm8k`, `ual bench train`, ...) are checked one subcommand at a time.
import { afterAll, describe, expect, it } from 'vitest';
import { commands } from '../../src/cli/main.js';
import type { Command } from '../../src/cli/command.js';
import { UsageError } from '../../src/errors.js';
import { buildCli, runCli } from '../helpers/cli.js';

async function leaves(): Promise<Command[]> {
  const out: Command[] = [];
  for (const load of Object.values(commands)) {
    const cmd = await load();
    out.push(...(cmd.subcommands ? Object.values(cmd.subcommands) : [cmd]));
  }
  return out;
}

/** The flags the help defines: lines that start with two spaces and --name (usage lines go deeper, help text too). */
const listed = (help: string) => help.split('\n').flatMap((l) => /^ {2}--([\w-]+)/.exec(l)?.[1] ?? []);

describe('--help is generated from the table', async () => {
  const all = await leaves();

  it('covers every command and subcommand', () => {
    expect(all.map((c) => c.name).sort()).toEqual([
      'analyze clusters', 'bench all', 'bench elicit', 'bench generate', 'bench text', 'bench train', 'demo', 'distill', 'elicit',
      'eval calibration', 'eval gsm8k', 'eval judge', 'eval mc', 'eval metamath', 'eval ppl', 'generate', 'init', 'report',
      'smooth', 'sweep', 'train',
    ]);
  });

  it.each(all.map((c) => [c.name, c] as const))('%s: each flag listed once, none the table lacks', (_name, cmd) => {
    const flags = Object.values(cmd.options).map((f) => f.flag);
    expect(flags.length).toBeGreaterThan(0);
    expect(new Set(flags).size).toBe(flags.length);
    expect(listed(cmd.usage).sort()).toEqual([...flags].sort());
    expect(cmd.usage).toMatch(new RegExp(`^usage: ual ${cmd.name}`));
  });

  it.each(all.map((c) => [c.name, c] as const))('%s: an unknown flag is a usage error naming it', async (_name, cmd) => {
    const err = await cmd.run(['--no-such-flag']).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toContain("Unknown option '--no-such-flag'");
  });
});

describe('help of commands with subcommands', () => {
  const { bin, cleanup } = buildCli('help');
  afterAll(cleanup);

  it('lists each subcommand once; "ual eval gsm8k --help" is the task\'s own help', async () => {
    const group = await runCli(bin, ['eval', '--help']);
    expect(group.code).toBe(0);
    for (const task of ['gsm8k', 'metamath', 'mc', 'judge', 'ppl', 'calibration']) {
      expect(group.stdout.match(new RegExp(`^ {2}${task} `, 'gm'))).toHaveLength(1);
    }
    const task = await runCli(bin, ['eval', 'gsm8k', '--help']);
    expect(task.code).toBe(0);
    expect(task.stdout).toMatch(/^usage: ual eval gsm8k /);
    expect(listed(task.stdout)).toContain('match');
    const bench = await runCli(bin, ['bench', '--help']);
    expect(bench.stdout.match(/^ {2}text /gm)).toHaveLength(1);
  });
});
