// What a CLI command is (one file per command under src/cli/, registered in main.ts) and what commands share: a
// command made from its flag table (its help generated from the table), a command with subcommands, --json output.
import { UsageError } from '../errors.js';
import { flags, parseFlags, usage, type FlagTable, type Values } from '../util/options.js';

export interface Command {
  name: string;
  summary: string;
  /** every flag it takes (none for a command with subcommands: each has its own) */
  options: FlagTable;
  usage: string;
  run(argv: string[]): Promise<number>;
  /** `ual eval gsm8k`, `ual bench train`, ...: each a command of its own */
  subcommands?: Readonly<Record<string, Command>>;
}

/** --json, saying what the line holds; `group` lists it under that heading of the help. */
export function jsonFlag(what: string, group?: string) {
  return flags({ json: { flag: 'json', kind: 'bool', group, help: `print ${what} as one JSON object on the last line of stdout` } });
}

export interface CommandSpec<T extends FlagTable> {
  name: string;
  summary: string;
  /** the usage line(s) and the description above the flags */
  head: string;
  options: T;
  /** DIR arguments besides the flags (`ual report DIR...`) */
  positionals?: boolean;
  run(values: Values<T>, ctx: { given: ReadonlySet<keyof T>; positionals: string[] }): Promise<number>;
}

/** A command whose flags, checks and help all come from its table. */
export function tableCommand<T extends FlagTable>(spec: CommandSpec<T>): Command {
  return {
    name: spec.name,
    summary: spec.summary,
    options: spec.options,
    usage: usage(spec.head, spec.options),
    async run(argv) {
      const { values, given, positionals } = parseFlags(spec.name, spec.options, argv, { positionals: spec.positionals });
      return spec.run(values, { given, positionals });
    },
  };
}

/**
 * A command made of subcommands (`ual eval <task>`): the first argument picks one. A flag of a sibling is named
 * as not applying here, rather than as unknown.
 */
export function groupCommand(name: string, summary: string, noun: [string, string], intro: string, subs: Record<string, Command>): Command {
  const keys = Object.keys(subs);
  const lines = [intro, '', `${noun[1]}:`, ...keys.map((k) => `  ${k.padEnd(12)} ${subs[k].summary}`), '',
    `run "ual ${name} <${noun[0]}> --help" for its options`];
  return {
    name,
    summary,
    options: {},
    usage: lines.join('\n'),
    subcommands: subs,
    async run(argv) {
      const [sub, ...rest] = argv;
      if (!sub || !Object.hasOwn(subs, sub)) {
        throw new UsageError(sub ? `ual ${name}: unknown ${noun[0]} "${sub}"` : `ual ${name}: which ${noun[0]}?`,
          `${noun[1]}: ${keys.join(', ')}; run "ual ${name} --help"`);
      }
      const own = new Set(Object.values(subs[sub].options).map((f) => f.flag));
      for (const a of rest) {
        const flag = /^--([^=]+)/.exec(a)?.[1];
        if (flag && !own.has(flag) && keys.some((k) => Object.values(subs[k].options).some((f) => f.flag === flag))) {
          throw new UsageError(`ual ${name} ${sub}: --${flag} does not apply to ${sub}`, `run "ual ${name} ${sub} --help" for its options`);
        }
      }
      return subs[sub].run(rest);
    },
  };
}

/** Print the machine-readable result: one JSON object on the last line of stdout. */
export function printJson(obj: unknown): void {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

/** How most commands end: the summary for people on stderr, with --json the result on stdout; exit code 0. */
export function finish(summary: string, result: unknown, json: boolean): number {
  process.stderr.write(summary + '\n');
  if (json) printJson(result);
  return 0;
}
