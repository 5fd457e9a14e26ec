// Elicitation throughput/memory bench entry (issue 3): ≥95% of the concurrency-bound rate at concurrency 32 and
// 200 ms latency; flat RSS over 100k streamed rows. The work lives in src/uncertainty/bench.ts (built into dist/),
// so it also runs as `npm run build && node dist/uncertainty/bench.js` or through `ual bench elicit`.
import { benchElicitMain } from '../src/uncertainty/bench.js';

await benchElicitMain(process.argv.slice(2));
