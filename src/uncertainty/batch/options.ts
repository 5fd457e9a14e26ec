// The Batch API's flags, shared by `ual elicit` and `ual eval judge`, what they resolve to, and --batch-status: the
// state of a run's batches as the cache recorded them, refreshed from the provider.
import fs from 'node:fs';
import { UsageError } from '../../errors.js';
import { ElicitCache } from '../cache.js';
import type { ClientFamily, ClientSettings } from '../client.js';
import { flags, type Values } from '../../util/options.js';
import { BatchApi } from './api.js';
import { BATCH_DEFAULTS, BATCH_RETRY, batchStatus, type BatchSettings } from './batcher.js';
import { BatchStore, type BatchRow } from './store.js';

const GROUP = 'batch API';

export const BATCH_FLAGS = flags({
  batch: { flag: 'batch', kind: 'bool', group: GROUP, help: 'send the requests as Batch API jobs: half the price, answers within 24 h;\nresumable: rerun the same command and it polls the batches it started' },
  batchRetry: { flag: 'batch-retry', kind: BATCH_RETRY, default: 'online', group: GROUP, help: 'requests a batch did not answer (errors, expiry) and re-asks: sent online,\nor in a follow-up batch' },
  batchMaxRequests: { flag: 'batch-max-requests', kind: 'int', min: 1, default: BATCH_DEFAULTS.maxRequests, group: GROUP, help: 'requests per batch at most (the provider\'s limit); more are split' },
  batchMaxBytes: { flag: 'batch-max-bytes', kind: 'int', min: 1024, default: BATCH_DEFAULTS.maxBytes, group: GROUP, help: 'bytes per batch input file at most (the provider\'s limit); more are split' },
  batchPoll: { flag: 'batch-poll', kind: 'number', arg: 'S', min: 0.001, default: 10, group: GROUP, help: 'seconds before the first poll, doubling (with jitter) up to --batch-poll-max' },
  batchPollMax: { flag: 'batch-poll-max', kind: 'number', arg: 'S', min: 0.001, default: 300, group: GROUP, help: 'longest wait between polls in seconds' },
  batchStatus: { flag: 'batch-status', kind: 'bool', group: GROUP, help: 'print the state of the batches recorded in the cache and exit' },
});

export type BatchFlags = Values<typeof BATCH_FLAGS>;

/** The batch settings the flags describe; undefined without --batch. */
export function batchSettings(v: BatchFlags): BatchSettings | undefined {
  if (!v.batch) return undefined;
  return {
    retry: v.batchRetry, maxRequests: v.batchMaxRequests, maxBytes: v.batchMaxBytes,
    poll: { baseMs: 1000 * v.batchPoll, maxMs: 1000 * Math.max(v.batchPoll, v.batchPollMax) },
  };
}

export interface BatchStatusReport {
  cache: string;
  batches: Array<Pick<BatchRow, 'local' | 'run' | 'batch_id' | 'input_file_id' | 'status' | 'requests' | 'completed' | 'failed'> & { harvested: boolean }>;
}

/** --batch-status: the batches recorded in `cachePath`, those still open refreshed from the provider. */
export async function batchStatusReport(cachePath: string, run: string, client: ClientSettings, family: ClientFamily): Promise<BatchStatusReport> {
  if (!fs.existsSync(cachePath)) throw new UsageError(`--batch-status: no cache at ${cachePath}`, 'pass the --cache (or --out) of the run whose batches you want to see');
  const cache = new ElicitCache(cachePath);
  try {
    const api = new BatchApi({ ...client, family });
    const rows = await batchStatus(new BatchStore(cache.database), api, run);
    return {
      cache: cachePath,
      batches: rows.map((r) => ({
        local: r.local, run: r.run, batch_id: r.batch_id, input_file_id: r.input_file_id, status: r.status, requests: r.requests,
        completed: r.completed, failed: r.failed, harvested: r.harvested === 1,
      })),
    };
  } finally {
    cache.close();
  }
}

/** One line per batch, for people. */
export function formatBatchStatus(r: BatchStatusReport): string {
  if (r.batches.length === 0) return `no batches recorded in ${r.cache}`;
  return [`batches in ${r.cache}:`, ...r.batches.map((b) =>
    `  ${b.batch_id ?? '(not created)'}  ${b.status.padEnd(11)} ${b.completed}/${b.requests} done, ${b.failed} failed` +
    `${b.harvested ? ', results in the cache' : ''}  [${b.local}]`)].join('\n');
}
