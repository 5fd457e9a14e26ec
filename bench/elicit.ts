// Elicitation throughput/memory bench entry (issue 3): ≥95% of the concurrency-bound rate at concurrency 32 and
// 200 ms latency; flat RSS over 100k streamed rows. The same as `ual bench elicit [--rows N ...]`.
import { main } from '../src/cli/main.js';

process.exitCode = await main(['bench', 'elicit', ...process.argv.slice(2)]);
