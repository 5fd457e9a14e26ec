// Command-line options, typed once per command: a table of flags from which come the parsing (strict: unknown flags
// and missing values are usage errors), the checks (numbers, integers, bounds, choices, input files that must exist)
// with messages naming the flag, the typed values the code reads (a flag the code reads but the table lacks fails to
// compile) and the help text, so the help cannot drift from what is parsed.
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { UalError, UsageError } from '../errors.js';

/**
 * string | integer | number | a switch | a switch that turns a default-on setting off (--no-shuffle) | a string
 * that may repeat (--model A --model B) | one of a list
 */
export type Kind = 'string' | 'int' | 'number' | 'bool' | 'negbool' | 'list' | readonly string[];

export interface Flag {
  /** the name after the two dashes */
  readonly flag: string;
  readonly kind: Kind;
  /** one line in the help; "\n" continues it on the next line, aligned */
  readonly help: string;
  /** the value's placeholder in the help (default N for numbers, the choices, X otherwise) */
  readonly arg?: string;
  readonly min?: number;
  readonly max?: number;
  /** the value when the flag is not given (switches are off, lists empty, the rest undefined without one) */
  readonly default?: string | number;
  readonly required?: boolean;
  /** an input file or directory: one that does not exist is an error naming the flag */
  readonly exists?: boolean;
  /** the help section the flag is listed under */
  readonly group?: string;
}

export type FlagTable = Readonly<Record<string, Flag>>;

type Base<K extends Kind> = K extends 'int' | 'number' ? number : K extends 'bool' | 'negbool' ? boolean
  : K extends 'list' ? string[] : K extends readonly (infer C)[] ? C : string;
type Value<F extends Flag> = F['kind'] extends 'bool' | 'negbool' | 'list' ? Base<F['kind']>
  : F extends { default: string | number } | { required: true } ? Base<F['kind']> : Base<F['kind']> | undefined;

/** The values a command reads: one per table key, typed by the flag's kind, undefined only when it may be absent. */
export type Values<T extends FlagTable> = { -readonly [K in keyof T]: Value<T[K]> };

type KindFor<V> = [V] extends [boolean] ? 'bool' | 'negbool' : [V] extends [number] ? 'int' | 'number'
  : [V] extends [readonly string[]] ? 'list' : [V] extends [string] ? (string extends V ? 'string' : readonly V[]) : never;

/** A table for an existing options type: one flag per key (a key without a flag fails to compile), kinds matching. */
export type TableFor<C> = { readonly [K in keyof C]-?: Flag & { readonly kind: KindFor<Exclude<C[K], undefined>> } };

/** Declare a table; keeps the literal kinds (choices) and defaults so that Values<typeof table> is exact. */
export function flags<const T extends FlagTable>(table: T): T {
  return Object.freeze(table);
}

/** "a or b" for two choices, "one of a, b, c" for more: the wording of every choice error. */
export function choiceText(choices: readonly string[]): string {
  return choices.length === 2 ? `${choices[0]} or ${choices[1]}` : `one of ${choices.join(', ')}`;
}

const helpHint = (cmd: string) => `run "ual ${cmd} --help" for the options`;

/** A required value that is missing: the usage error every command gives. */
export function need<V>(cmd: string, f: Flag, v: V | undefined): V {
  if (v === undefined || v === '') throw new UsageError(`ual ${cmd}: --${f.flag} is required`, helpHint(cmd));
  return v;
}

/** Check a value that is already typed (a default, a config file's, a caller's): kind, choices, bounds, existence. */
export function checkValue(cmd: string, f: Flag, v: unknown): void {
  const bad = (what: string) => new UsageError(`ual ${cmd}: --${f.flag} must be ${what}, got ${JSON.stringify(v)}`);
  if (f.kind === 'int' || f.kind === 'number') {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw bad('a number');
    if (f.kind === 'int' && !Number.isInteger(v)) throw bad('an integer');
    if (f.min !== undefined && v < f.min) throw new UsageError(`ual ${cmd}: --${f.flag} must be >= ${f.min}, got ${v}`);
    if (f.max !== undefined && v > f.max) throw new UsageError(`ual ${cmd}: --${f.flag} must be <= ${f.max}, got ${v}`);
  } else if (f.kind === 'bool' || f.kind === 'negbool') {
    if (typeof v !== 'boolean') throw bad('true or false');
  } else if (f.kind === 'list') {
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw bad('a list of strings');
  } else {
    if (typeof v !== 'string') throw bad('a string');
    if (typeof f.kind !== 'string' && !f.kind.includes(v)) throw bad(choiceText(f.kind));
    if (f.exists && !fs.existsSync(v)) {
      throw new UalError('UAL_DATA_BAD_FILE', `--${f.flag} ${v} does not exist`, `check the path given to --${f.flag}`);
    }
  }
}

/** A flag's text from the command line as its typed value. */
function fromText(cmd: string, f: Flag, text: string): string | number {
  if (f.kind !== 'int' && f.kind !== 'number') return text;
  const x = Number(text);
  if (text.trim() === '' || !Number.isFinite(x)) throw new UsageError(`ual ${cmd}: --${f.flag} must be a number, got "${text}"`);
  if (f.kind === 'int' && !Number.isInteger(x)) throw new UsageError(`ual ${cmd}: --${f.flag} must be an integer, got "${text}"`);
  return x;
}

/** What a command line holds, by flag name, as text (switches as booleans, repeated flags as lists). */
export type RawFlags = Readonly<Record<string, string | boolean | readonly (string | boolean)[] | undefined>>;

/** Split a command line strictly: a flag the table lacks, or one without its value, is a usage error naming it. */
export function readArgv(cmd: string, table: FlagTable, argv: readonly string[], o: { positionals?: boolean } = {}):
  { raw: RawFlags; positionals: string[] } {
  const spec: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  for (const f of Object.values(table)) {
    spec[f.flag] = f.kind === 'bool' || f.kind === 'negbool' ? { type: 'boolean' } : f.kind === 'list' ? { type: 'string', multiple: true } : { type: 'string' };
  }
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options: spec, strict: true, allowPositionals: o.positionals ?? false });
    return { raw: values, positionals };
  } catch (e) {
    throw new UsageError(`ual ${cmd}: ${(e as Error).message}`, helpHint(cmd));
  }
}

/** The flags present in `raw`, by table key, as typed values (resolveFlags checks them); absent ones stay absent. */
export function typedFlags<T extends FlagTable>(cmd: string, table: T, raw: RawFlags): Partial<Values<T>> {
  const given: Record<string, unknown> = {};
  for (const [key, f] of Object.entries(table)) {
    const v = raw[f.flag];
    if (v === undefined) continue;
    given[key] = f.kind === 'bool' ? v === true : f.kind === 'negbool' ? v !== true : Array.isArray(v) ? v : fromText(cmd, f, String(v));
  }
  return given as Partial<Values<T>>;
}

/** What an absent flag holds: switches their resting state, lists empty, others their default (or undefined). */
function defaultOf(f: Flag): unknown {
  return f.kind === 'bool' ? false : f.kind === 'negbool' ? true : f.kind === 'list' ? [] : f.default;
}

/** The complete values: the given ones checked, the others their defaults; a missing required flag is an error. */
export function resolveFlags<T extends FlagTable>(cmd: string, table: T, given: Partial<Values<T>>): Values<T> {
  const out: Record<string, unknown> = {};
  for (const [key, f] of Object.entries(table)) {
    let v = (given as Record<string, unknown>)[key];
    if (f.required) need(cmd, f, v);
    v ??= defaultOf(f);
    if (v !== undefined) checkValue(cmd, f, v);
    out[key] = v;
  }
  return out as Values<T>;
}

/** Parse a command line against a table: typed values (defaults filled in), which keys were given, positionals. */
export function parseFlags<T extends FlagTable>(cmd: string, table: T, argv: readonly string[], o: { positionals?: boolean } = {}):
  { values: Values<T>; given: ReadonlySet<keyof T>; positionals: string[] } {
  const { raw, positionals } = readArgv(cmd, table, argv, o);
  const given = typedFlags(cmd, table, raw);
  return { values: resolveFlags(cmd, table, given), given: new Set(Object.keys(given) as (keyof T)[]), positionals };
}

/** The default values of a table (switches off, lists empty), for callers that set only a few options. */
export function flagDefaults<T extends FlagTable>(table: T): Partial<Values<T>> {
  const out: Record<string, unknown> = {};
  for (const [key, f] of Object.entries(table)) {
    const d = defaultOf(f);
    if (d !== undefined) out[key] = d;
  }
  return out as Partial<Values<T>>;
}

/** The values of a sub-table (a command's share of a bigger command's flags, e.g. the judge client's). */
export function pickFlags<T extends FlagTable>(table: T, values: Values<T>): Values<T> {
  return Object.fromEntries(Object.keys(table).map((k) => [k, values[k]])) as Values<T>;
}

/** `--name ARG`, as the help lists it. */
function flagHead(f: Flag): string {
  if (f.kind === 'bool' || f.kind === 'negbool') return `--${f.flag}`;
  const arg = f.arg ?? (f.kind === 'int' || f.kind === 'number' ? 'N' : typeof f.kind !== 'string' ? f.kind.filter((c) => c !== '').join('|') : 'X');
  return `--${f.flag} ${arg}`;
}

/**
 * The help text: `head` (usage line and description) and one line per flag under its group's heading (flags
 * without one under "options"; groups in order of first appearance, flags in table order), with the default when
 * there is one. `defaults` supplies them for tables that keep defaults apart (train's presets sit in between).
 */
export function usage(head: string, table: FlagTable, o: { defaults?: Readonly<Record<string, unknown>> } = {}): string {
  const entries = Object.entries(table);
  const width = Math.min(30, Math.max(...entries.map(([, f]) => flagHead(f).length)) + 2);
  const groups = new Map<string, string[]>();
  for (const [key, f] of entries) {
    const d = o.defaults ? o.defaults[key] : f.default;
    const dflt = d !== undefined && d !== '' && f.kind !== 'bool' && f.kind !== 'negbool' ? ` (default ${String(d)})` : '';
    const [first, ...more] = (f.help + dflt).split('\n');
    const left = `  ${flagHead(f)}`;
    const lines = [left.length >= width + 2 ? `${left}  ${first}` : `${left.padEnd(width + 2)}${first}`, ...more.map((m) => `${' '.repeat(width + 2)}${m}`)];
    const g = f.group ?? 'options';
    groups.set(g, [...(groups.get(g) ?? []), ...lines]);
  }
  return [head, ...[...groups].flatMap(([g, lines]) => ['', `${g}:`, ...lines])].join('\n');
}
