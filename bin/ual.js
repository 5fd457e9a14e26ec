#!/usr/bin/env node
// The `ual` command: runs the compiled CLI (npm install / npm run build produce dist/).
import { main } from '../dist/cli/main.js';

main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
