// Entry point of the `ual` CLI: finds the command, runs it, turns UalErrors into one clear message and an exit code.
import { nativeLoadProblem } from '../engine/backends/native.js';
import { UalError } from '../errors.js';
import type { Command } from './command.js';

export const commands: Record<string, () => Promise<Command>> = {
  init: async () => (await import('./init.js')).command,
  train: async () => (await import('./train.js')).command,
  generate: async () => (await import('./generate.js')).command,
  elicit: async () => (await import('./elicit.js')).command,
  smooth: async () => (await import('./smooth.js')).command,
  distill: async () => (await import('./distill.js')).command,
  bench: async () => (await import('./bench.js')).command,
  demo: async () => (await import('./demo.js')).command,
  sweep: async () => (await import('./sweep.js')).command,
  eval: async () => (await import('./eval.js')).command,
  analyze: async () => (await import('./analyze.js')).command,
  report: async () => (await import('./report.js')).command,
};

/** The help of `ual <name> [sub] --help`: a subcommand's own when one is named. */
function helpFor(cmd: Command, rest: string[]): string {
  const sub = cmd.subcommands && Object.hasOwn(cmd.subcommands, rest[0] ?? '') ? cmd.subcommands[rest[0]] : null;
  return (sub ?? cmd).usage;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    const lines = ['usage: ual <command> [options]', '', 'commands:'];
    for (const key of Object.keys(commands)) lines.push(`  ${key.padEnd(10)} ${(await commands[key]()).summary}`);
    lines.push('', 'run "ual <command> --help" for a command\'s options');
    process.stdout.write(lines.join('\n') + '\n');
    return name ? 0 : 2;
  }
  const load = commands[name];
  if (!load) {
    process.stderr.write(`ual: unknown command "${name}"; run "ual --help" for the list\n`);
    return 2;
  }
  const cmd = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(helpFor(cmd, rest) + '\n');
    return 0;
  }
  // the native kernels load as the command's modules import the engine: if they failed to, say so before it runs
  const problem = nativeLoadProblem();
  if (problem) process.stderr.write(`ual: ${problem}\n`);
  try {
    return await cmd.run(rest);
  } catch (e) {
    if (e instanceof UalError) {
      const msg = e.message.startsWith(`ual ${name}`) ? e.message.replace(/^ual [\w ]+?: /, '') : e.message;
      process.stderr.write(`ual ${name}: error [${e.code}] ${msg}\n`);
      if (e.hint) process.stderr.write(`  hint: ${e.hint}\n`);
      return e.code === 'UAL_USAGE' ? 2 : 1;
    }
    throw e;
  }
}
