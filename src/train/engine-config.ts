// Which engine runs the training steps (our native one, or PyTorch DDP through torchrun) and the torch engine's
// launch settings: part of TrainConfig, typed once here; which flags belong to which engine, and the world-size checks.
import { UsageError } from '../errors.js';
import { flags } from '../util/options.js';

export type EngineName = 'native' | 'torch';

export interface EngineConfig {
  /** native: our engine in this process; torch: PyTorch DDP through `python -m torch.distributed.run` */
  engine: EngineName;
  /** processes (ranks) per node; --batch-size is split evenly among all ranks of all nodes */
  nprocPerNode: number;
  nnodes: number;
  /** this node's rank with --master-addr (c10d rendezvous assigns it with --rdzv-endpoint) */
  nodeRank: number;
  masterAddr: string;
  masterPort: number;
  /** host:port of a c10d rendezvous: nodes may join in any order, ranks are assigned */
  rdzvEndpoint: string;
  device: 'auto' | 'cpu' | 'cuda';
  /** bf16 = autocast on CUDA; master weights, optimizer state and the saved fp32 checkpoint stay fp32 */
  dtype: 'fp32' | 'bf16';
  /** the python that has torch; '' = the first of python3 and /usr/bin/python3 whose torch is >= 1.13 */
  python: string;
}

export const ENGINE_DEFAULTS: Readonly<EngineConfig> = Object.freeze({
  engine: 'native', nprocPerNode: 1, nnodes: 1, nodeRank: 0, masterAddr: '', masterPort: 29500, rdzvEndpoint: '',
  device: 'auto', dtype: 'fp32', python: '',
});

const GROUP = 'engine (--engine torch: PyTorch DDP via torchrun; README "Beyond one machine")';

export const ENGINE_FLAGS = flags({
  engine: { flag: 'engine', kind: ['native', 'torch'], group: GROUP, help: 'native: our engine, this process; torch: PyTorch DDP through python -m torch.distributed.run' },
  nprocPerNode: { flag: 'nproc-per-node', kind: 'int', min: 1, group: GROUP, help: 'ranks per node (one per GPU); --batch-size is split evenly over all ranks' },
  nnodes: { flag: 'nnodes', kind: 'int', min: 1, group: GROUP, help: 'nodes; run the same command on each (with its --node-rank, or a shared --rdzv-endpoint)' },
  nodeRank: { flag: 'node-rank', kind: 'int', min: 0, group: GROUP, help: 'this node\'s rank, 0..nnodes-1 (with --master-addr)' },
  masterAddr: { flag: 'master-addr', kind: 'string', arg: 'HOST', group: GROUP, help: 'address of node 0 (static rendezvous)' },
  masterPort: { flag: 'master-port', kind: 'int', min: 1, max: 65535, arg: 'PORT', group: GROUP, help: 'port on node 0' },
  rdzvEndpoint: { flag: 'rdzv-endpoint', kind: 'string', arg: 'HOST:PORT', group: GROUP, help: 'c10d rendezvous instead of --master-addr/--node-rank' },
  device: { flag: 'device', kind: ['auto', 'cpu', 'cuda'], group: GROUP, help: 'auto: CUDA when torch sees a GPU (NCCL), else CPU (gloo)' },
  dtype: { flag: 'dtype', kind: ['fp32', 'bf16'], group: GROUP, help: 'bf16: autocast on CUDA (weights and optimizer stay fp32)' },
  python: { flag: 'python', kind: 'string', arg: 'PATH', group: GROUP, help: 'the python with torch >= 1.13 (default: the first of python3, /usr/bin/python3 that has it)' },
});

/** the keys only the torch engine reads */
const TORCH_ONLY = Object.keys(ENGINE_FLAGS).filter((k) => k !== 'engine') as (keyof EngineConfig)[];

/** ranks over all nodes */
export function worldSize(c: Pick<EngineConfig, 'nprocPerNode' | 'nnodes'>): number {
  return c.nprocPerNode * c.nnodes;
}

/**
 * Flags of one engine given to the other, and launch settings that cannot work together: usage errors before anything
 * is read or written. `given` holds the keys the user set (command line or config file); `nativeOnly` the options of
 * the training run the torch worker does not implement.
 */
export function checkEngineConfig(c: EngineConfig & { batchSize: number }, given: ReadonlySet<string>, nativeOnly: Readonly<Record<string, string | undefined>>): void {
  const flag = (k: string) => `--${(ENGINE_FLAGS as Record<string, { flag: string }>)[k]?.flag ?? k}`;
  if (c.engine === 'native') {
    const wrong = TORCH_ONLY.filter((k) => given.has(k));
    if (wrong.length) {
      throw new UsageError(`ual train: ${wrong.map(flag).join(', ')} ${wrong.length > 1 ? 'apply' : 'applies'} to --engine torch only`,
        'add --engine torch to train with PyTorch, or drop the flag');
    }
    return;
  }
  const refused = Object.keys(nativeOnly).filter((k) => given.has(k));
  if (refused.length) {
    throw new UsageError(`ual train: ${refused.map((k) => nativeOnly[k]).join(', ')} ${refused.length > 1 ? 'apply' : 'applies'} to --engine native only`,
      'drop the flag with --engine torch');
  }
  const W = worldSize(c);
  if (c.batchSize % W !== 0) {
    throw new UsageError(`ual train: --batch-size ${c.batchSize} does not split evenly over the world size ${W} (--nproc-per-node ${c.nprocPerNode} × --nnodes ${c.nnodes})`,
      `--batch-size is the rows of one micro-step over all ranks: use a multiple of ${W} (e.g. ${W * Math.max(1, Math.round(c.batchSize / W))}), and --grad-accum for a larger effective batch`);
  }
  if (c.rdzvEndpoint && (given.has('masterAddr') || given.has('masterPort') || given.has('nodeRank'))) {
    throw new UsageError('ual train: --rdzv-endpoint and --master-addr/--master-port/--node-rank are two ways to meet; give one',
      '--rdzv-endpoint HOST:PORT (ranks assigned), or --master-addr HOST [--master-port P] --node-rank R');
  }
  if (c.rdzvEndpoint && !/^[^\s:]+:\d+$/.test(c.rdzvEndpoint)) {
    throw new UsageError(`ual train: --rdzv-endpoint must be HOST:PORT, got "${c.rdzvEndpoint}"`);
  }
  if (c.nnodes > 1 && !c.rdzvEndpoint && !c.masterAddr) {
    throw new UsageError(`ual train: --nnodes ${c.nnodes} needs --master-addr (node 0's address, with --node-rank on each node) or --rdzv-endpoint HOST:PORT`);
  }
  if (c.nodeRank >= c.nnodes) {
    throw new UsageError(`ual train: --node-rank ${c.nodeRank} must be below --nnodes ${c.nnodes}`);
  }
  if (c.device === 'cpu' && c.dtype === 'bf16') {
    throw new UsageError('ual train: --dtype bf16 is autocast on CUDA; on --device cpu train in fp32', 'drop --dtype bf16, or use --device cuda');
  }
}
