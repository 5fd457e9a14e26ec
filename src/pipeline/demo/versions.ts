// What ran the demo, for results.json: this package's version, node, the backend and its BLAS, the OS and CPUs.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { backendName } from '../../engine/index.js';
import { nativeInfo } from '../../engine/backends/native.js';

/** This package's version: the nearest package.json named "ual" above this file (src/, dist/ or a test build). */
function ualVersion(): string {
  for (let dir = path.dirname(new URL(import.meta.url).pathname); ; dir = path.dirname(dir)) {
    const f = path.join(dir, 'package.json');
    if (fs.existsSync(f)) {
      const pkg = JSON.parse(fs.readFileSync(f, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'ual') return pkg.version ?? 'unknown';
    }
    if (path.dirname(dir) === dir) return 'unknown';
  }
}

export function versions(): Record<string, string> {
  const info = nativeInfo();
  return {
    ual: ualVersion(),
    node: process.version,
    backend: backendName(),
    blas: info ? JSON.stringify(info) : 'none (js backend)',
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    cpus: `${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}`,
  };
}
