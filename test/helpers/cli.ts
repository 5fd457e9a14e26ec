// Runs the `ual` CLI as a user does: a child process on compiled JS. src/ is transpiled file by file
// (TypeScript's transpileModule: no type check, ~1 s; `npm test` type-checks first) into node_modules/.cache.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

export const ROOT = path.resolve(import.meta.dirname, '../..');

/** Compile src/ + bin/ into a private folder (inside node_modules so dependencies resolve); returns bin/ual.js. */
export function buildCli(tag: string): { bin: string; cleanup: () => void } {
  const build = path.join(ROOT, 'node_modules', '.cache', `ual-cli-${tag}-${process.pid}`);
  const walk = (d: string): string[] => fs.readdirSync(d, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [path.join(d, e.name)] : []));
  for (const f of walk(path.join(ROOT, 'src'))) {
    const js = ts.transpileModule(fs.readFileSync(f, 'utf8'), {
      fileName: f,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    }).outputText;
    const out = path.join(build, 'dist', path.relative(path.join(ROOT, 'src'), f)).replace(/\.ts$/, '.js');
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, js);
  }
  // the native addon is found relative to the compiled file (../../build/Release from dist/engine/backends)
  const nativeSrc = path.join(ROOT, 'build');
  if (fs.existsSync(nativeSrc)) fs.symlinkSync(nativeSrc, path.join(build, 'build'));
  // the torch engine's worker is found the same way (../../python from dist/train)
  fs.symlinkSync(path.join(ROOT, 'python'), path.join(build, 'python'));
  const bin = path.join(build, 'bin', 'ual.js');
  fs.mkdirSync(path.dirname(bin), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'bin', 'ual.js'), bin);
  return { bin, cleanup: () => fs.rmSync(build, { recursive: true, force: true }) };
}

export interface Ran { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Start `node bin args...`; `done` resolves with the exit status and the captured output. */
export function startCli(bin: string, args: string[], env: Record<string, string | undefined> = {}): { child: ChildProcess; done: Promise<Ran> } {
  const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c) => { stdout += c; });
  child.stderr!.on('data', (c) => { stderr += c; });
  const done = new Promise<Ran>((ok) => child.on('close', (code, signal) => ok({ code, signal, stdout, stderr })));
  return { child, done };
}

export const runCli = (bin: string, args: string[], env?: Record<string, string | undefined>) => startCli(bin, args, env).done;
