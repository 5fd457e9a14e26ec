#!/usr/bin/env node
// Builds the native kernels (build/Release/ual_native.node) with node-gyp; run by `npm install` and `npm run build`.
// Never fails the install: without a compiler, or when the build breaks, it says so and the js backend is used.
//
// Env: UAL_NO_NATIVE=1 skips the build, UAL_NO_OPENBLAS=1 builds the portable GEMM even when OpenBLAS is present,
// OPENBLAS_HOME=<prefix> adds an OpenBLAS install to the search, UAL_MARCH=<arch>|none replaces -march=native,
// UAL_BUILD_VERBOSE=1 shows node-gyp's output.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const binary = path.join(root, 'build', 'Release', 'ual_native.node');
const require = createRequire(path.join(root, 'package.json'));
const verbose = process.env.UAL_BUILD_VERBOSE === '1';
const win = process.platform === 'win32';
const multiarch = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu', ppc64: 'powerpc64le-linux-gnu',
  s390x: 's390x-linux-gnu', riscv64: 'riscv64-linux-gnu', ia32: 'i386-linux-gnu' }[process.arch] ?? '';
const systemLibDirs = ['/lib', '/lib64', '/usr/lib', '/usr/lib64', `/lib/${multiarch}`, `/usr/lib/${multiarch}`];
const rebuildHint = 'npm rebuild ual (npm run build in a checkout)';

const say = (msg) => process.stderr.write(`ual: ${msg}\n`);

/** Stop without failing the install; drop any older binary so the backend in use is the one announced. */
function fallBack(msg) {
  fs.rmSync(binary, { force: true });
  say(msg);
  process.exit(0);
}

function isFile(p) {
  try { return fs.statSync(p).isFile(); } catch { return false; }
}

function which(cmd) {
  if (cmd.includes('/') || cmd.includes('\\')) return isFile(cmd) ? cmd : null;
  const exts = win ? (process.env.PATHEXT || '.EXE;.CMD;.BAT').split(';') : [''];
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (!dir) continue;
    for (const ext of exts) {
      const p = path.join(dir, cmd + ext);
      try { fs.accessSync(p, fs.constants.X_OK); if (isFile(p)) return p; } catch { /* keep looking */ }
    }
  }
  return null;
}

/** The C++ compiler node-gyp's Makefile will use: $CXX (its first word; it may be "ccache g++"), else c++/g++/clang++. */
function findCompiler() {
  if (process.env.CXX) {
    const first = process.env.CXX.trim().split(/\s+/)[0];
    return which(first) ? process.env.CXX.trim() : null;
  }
  for (const c of ['c++', 'g++', 'clang++']) if (which(c)) return c;
  return null;
}

/** Compile (and optionally run) a small C++ program; true when it works. */
function probe(cxx, source, flags, run) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-probe-'));
  try {
    const src = path.join(dir, 'probe.cc');
    const exe = path.join(dir, 'probe');
    fs.writeFileSync(src, source);
    const [cmd, ...pre] = cxx.split(/\s+/);
    const cc = spawnSync(cmd, [...pre, src, '-o', exe, ...flags], { stdio: 'ignore' });
    if (cc.status !== 0) return false;
    return !run || spawnSync(exe, [], { stdio: 'ignore' }).status === 0;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const BLAS_PROBE = `#include <cblas.h>
int main() {
  float a[4] = {1, 2, 3, 4}, b[4] = {1, 0, 0, 1}, c[4] = {9, 9, 9, 9};
  openblas_set_num_threads(1);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
  return c[0] == 1 && c[1] == 2 && c[2] == 3 && c[3] == 4 ? 0 : 1;
}
`;

/** OpenBLAS include + lib dirs whose cblas.h and libopenblas compile, link and run together; null if none. */
function findOpenBlas(cxx) {
  const multiarch = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu', ppc64: 'powerpc64le-linux-gnu',
  s390x: 's390x-linux-gnu', riscv64: 'riscv64-linux-gnu', ia32: 'i386-linux-gnu' }[process.arch] ?? '';
  const home = process.env.OPENBLAS_HOME || process.env.OpenBLAS_HOME;
  const prefixes = [home, '/usr', '/usr/local', '/opt/homebrew/opt/openblas', '/usr/local/opt/openblas', '/opt/OpenBLAS']
    .filter(Boolean);
  const incs = [];
  const libs = [];
  for (const p of prefixes) {
    // Debian/Ubuntu keep OpenBLAS's own cblas.h per threading flavour; /usr/include/<multiarch>/cblas.h may be
    // another BLAS's (alternatives), so the probe decides rather than the file name
    for (const flavour of ['openblas-pthread', 'openblas-openmp', 'openblas-serial'])
      incs.push(path.join(p, 'include', multiarch, flavour));
    incs.push(path.join(p, 'include', multiarch), path.join(p, 'include', 'openblas'), path.join(p, 'include'));
    libs.push(path.join(p, 'lib', multiarch), path.join(p, 'lib64'), path.join(p, 'lib'));
  }
  const hasLib = (d) => ['libopenblas.so', 'libopenblas.dylib', 'libopenblas.a'].some((f) => isFile(path.join(d, f)));
  const incDirs = [...new Set(incs)].filter((d) => isFile(path.join(d, 'cblas.h')));
  const libDirs = [...new Set(libs)].filter(hasLib);
  for (const inc of incDirs)
    for (const lib of libDirs)
      if (probe(cxx, BLAS_PROBE, [`-I${inc}`, `-L${lib}`, `-Wl,-rpath,${lib}`, '-lopenblas'], true)) return { inc, lib };
  return null;
}

/** node-gyp: npm's bundled copy (npm exports its path to lifecycle scripts), a local install, or one on PATH. */
function findNodeGyp() {
  const cands = [];
  if (process.env.npm_config_node_gyp) cands.push(process.env.npm_config_node_gyp);
  try { cands.push(require.resolve('node-gyp/bin/node-gyp.js')); } catch { /* not a dependency */ }
  // npm_execpath is <npm>/bin/npm-cli.js while a script runs under npm
  if (process.env.npm_execpath)
    cands.push(path.join(path.dirname(path.dirname(process.env.npm_execpath)), 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  const bin = path.dirname(process.execPath);
  cands.push(path.join(path.dirname(bin), 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  cands.push(path.join(bin, 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  for (const c of cands) {
    if (!c || !isFile(c)) continue;
    return /\.[cm]?js$/.test(c) ? { cmd: process.execPath, pre: [c] } : { cmd: c, pre: [] };
  }
  const onPath = which('node-gyp');
  return onPath ? { cmd: onPath, pre: [] } : null;
}

function main() {
  if (process.env.UAL_NO_NATIVE === '1')
    fallBack('UAL_NO_NATIVE=1: native kernels not built; the plain-TypeScript backend will be used.');

  const cxx = win ? 'cl' : findCompiler();
  if (!cxx)
    fallBack(`no C++ compiler found (c++, g++, clang++ or $CXX): the plain-TypeScript backend will be used (slower); ` +
      `install one (apt-get install g++ make python3) and run ${rebuildHint} for the native kernels.`);
  if (!win && !probe(cxx, 'int main() { return 0; }\n', [], false))
    fallBack(`the C++ compiler \`${cxx}\` cannot build a test program: the plain-TypeScript backend will be used; ` +
      `fix it (or set CXX) and run ${rebuildHint}.`);
  if (!win && !which('make'))
    fallBack(`\`make\` not found: the plain-TypeScript backend will be used; install it and run ${rebuildHint}.`);

  let napiInclude;
  try {
    napiInclude = path.dirname(require.resolve('node-addon-api/package.json'));
  } catch {
    fallBack('node-addon-api is missing (run npm install first): the plain-TypeScript backend will be used.');
  }

  const gyp = findNodeGyp();
  if (!gyp) fallBack(`node-gyp not found (it ships with npm): the plain-TypeScript backend will be used.`);

  // the running Node's own headers, so node-gyp never tries to download any
  const prefix = path.dirname(path.dirname(process.execPath));
  const nodedir = isFile(path.join(prefix, 'include', 'node', 'node_api.h')) ? prefix : null;

  // -march=native: the binary is built where it runs. UAL_MARCH=<arch> (e.g. x86-64-v3) or none for images built elsewhere.
  const wanted = process.env.UAL_MARCH ? (process.env.UAL_MARCH === 'none' ? null : `-march=${process.env.UAL_MARCH}`)
    : '-march=native';
  const march = wanted && !win && probe(cxx, 'int main() { return 0; }\n', [wanted], false) ? wanted : 'none';
  if (wanted && march === 'none') say(`${wanted} is not accepted by ${cxx}: building for the compiler's default target.`);
  let blas = null;
  if (process.env.UAL_NO_OPENBLAS === '1') say('UAL_NO_OPENBLAS=1: building the portable GEMM instead of OpenBLAS.');
  else if (!win) blas = findOpenBlas(cxx);
  if (!blas && process.env.UAL_NO_OPENBLAS !== '1')
    say('OpenBLAS not found: building the built-in portable GEMM (slower than OpenBLAS). For the fast path: ' +
      `apt-get install libopenblas-dev (or brew install openblas), then ${rebuildHint}.`);

  const args = [
    ...gyp.pre, 'rebuild', '--release', '--jobs=max',
    ...(nodedir ? [`--nodedir=${nodedir}`] : []),
    `--ual_openblas=${blas ? 1 : 0}`,
    ...(blas ? [`--ual_openblas_include=${blas.inc}`, `--ual_openblas_libdir=${blas.lib}`,
      `--ual_openblas_rpath=${systemLibDirs.includes(blas.lib) ? 'none' : blas.lib}`] : []),
    `--ual_march=${march}`,
    `--ual_napi_include=${napiInclude}`,
  ];
  const env = { ...process.env };
  if (!win) env.CXX = cxx;
  const r = spawnSync(gyp.cmd, args, { cwd: root, env, stdio: verbose ? 'inherit' : 'pipe', encoding: 'utf8' });
  if (r.status !== 0 || !isFile(binary)) {
    if (!verbose) {
      const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-25).join('\n');
      if (out) process.stderr.write(`${out}\n`);
    }
    fallBack(`native build failed${r.error ? ` (${r.error.message})` : ''}: the plain-TypeScript backend will be used. ` +
      `Fix the error above and run ${rebuildHint} (UAL_BUILD_VERBOSE=1 shows the full log).`);
  }

  // load it once in a fresh process: a binary that cannot load (missing libopenblas at runtime...) is worse than none
  const check = spawnSync(process.execPath, ['-e', `process.stdout.write(JSON.stringify(require(${JSON.stringify(binary)}).info()))`],
    { encoding: 'utf8' });
  if (check.status !== 0)
    fallBack(`the native build does not load (${(check.stderr || '').trim().split('\n')[0]}): ` +
      'the plain-TypeScript backend will be used.');
  const info = JSON.parse(check.stdout);
  say(`native kernels built (${info.openblas ? 'OpenBLAS' : 'portable GEMM'}, ${info.threads} threads) -> ` +
    path.relative(process.cwd(), binary));
}

main();
