// What a CLI command is, and the shared option parsing: one file per command under src/cli/, registered in main.ts.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../errors.js';

export interface Command {
  name: string;
  summary: string;
  usage: string;
  run(argv: string[]): Promise<number>;
}

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** Parse argv strictly: unknown flags and missing values are usage errors naming the flag. */
export type OptionValues = Record<string, string | boolean | undefined>;

export function parseOptions(cmd: string, argv: string[], options: OptionSpec): OptionValues {
  return parseCommandLine(cmd, argv, options, false).values;
}

/** As parseOptions, for commands that also take positional arguments (`ual report DIR...`). */
export function parseCommandLine(cmd: string, argv: string[], options: OptionSpec, allowPositionals = true): { values: OptionValues; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: argv, options, strict: true, allowPositionals });
    return { values: values as OptionValues, positionals };
  } catch (e) {
    throw new UsageError(`ual ${cmd}: ${(e as Error).message}`, `run "ual ${cmd} --help" for the options`);
  }
}

export function requireOpt<V>(cmd: string, name: string, v: V | undefined): V {
  if (v === undefined || v === '') throw new UsageError(`ual ${cmd}: --${name} is required`, `run "ual ${cmd} --help"`);
  return v;
}

/** A numeric flag: parsed strictly, with a bound check that names the flag. */
export function numOpt(cmd: string, name: string, v: string | undefined, dflt?: number,
  check: { int?: boolean; min?: number; max?: number } = {}): number {
  if (v === undefined) {
    if (dflt === undefined) throw new UsageError(`ual ${cmd}: --${name} is required`, `run "ual ${cmd} --help"`);
    return dflt;
  }
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x)) throw new UsageError(`ual ${cmd}: --${name} must be a number, got "${v}"`);
  if (check.int && !Number.isInteger(x)) throw new UsageError(`ual ${cmd}: --${name} must be an integer, got "${v}"`);
  if (check.min !== undefined && x < check.min) throw new UsageError(`ual ${cmd}: --${name} must be >= ${check.min}, got ${v}`);
  if (check.max !== undefined && x > check.max) throw new UsageError(`ual ${cmd}: --${name} must be <= ${check.max}, got ${v}`);
  return x;
}

/** Print the machine-readable result: one JSON object on the last line of stdout. */
export function printJson(obj: unknown): void {
  process.stdout.write(JSON.stringify(obj) + '\n');
}
