/**
 * `quire dev`: a whole local cluster in the foreground (etcd, coordinators, data nodes,
 * routers on 127.0.0.1), with progress while it starts, <dir>/cluster.json once it is ready,
 * and a clean stop of everything on Ctrl-C. Restarting on the same directory keeps the data.
 * While it runs it supervises its processes as a kubelet would: one that exits unexpectedly is
 * started again with backoff (restart-policy.ts), one line per exit and per restart, unless
 * --no-restart. `quire dev node add|remove` reshape it while it runs, through its control socket
 * (dev/control.ts).
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { ConfigError, ackPolicyNames, isAckPolicyName, parseOptions, formatOptionsHelp, silentLogger, zoneNamePattern, zoneNameRule, type Env } from '@quire/common';
import { waitForStopSignal } from '@quire/runtime';
import { QuireClient } from '@quire/client';
import { callDevControl, serveDevControl } from './dev/control.js';
import { LocalCluster, localClusterDefaults, localClusterRoutersMax } from './dev/local-cluster.js';
import { type ManagedProcess, type ProcessExit, type UnexpectedExit } from './dev/managed-process.js';
import { restartPolicyDefaults, type RestartDecision } from './dev/restart-policy.js';

/** The options of `quire dev`. */
export const devOptions = {
  dataDir: { kind: 'string', flag: 'data-dir', env: 'QUIRE_DEV_DATA_DIR', default: '.quire', description: 'Directory of all cluster data and logs' },
  nodes: { kind: 'integer', flag: 'nodes', env: 'QUIRE_DEV_NODES', default: localClusterDefaults.nodes, min: 1, max: 64, description: 'Data nodes' },
  partitions: { kind: 'integer', flag: 'partitions', env: 'QUIRE_DEV_PARTITIONS', default: localClusterDefaults.partitions, min: 1, max: 4096, description: 'Partitions of the default keyspace (fixed when the cluster is first created)' },
  replication: { kind: 'integer', flag: 'replication', env: 'QUIRE_DEV_REPLICATION', default: 0, min: 0, max: 5, description: 'Replicas per partition of the default keyspace, at most --nodes; 0 means min(3, --nodes) (fixed when the cluster is first created)' },
  ackPolicy: {
    kind: 'string',
    flag: 'ack-policy',
    env: 'QUIRE_DEV_ACK_POLICY',
    default: 'sync',
    choices: ackPolicyNames,
    description: 'Ack policy of the default keyspace: sync, semi-sync (needs --replication 2 or more) or async (fixed when the cluster is first created)',
  },
  zones: {
    kind: 'string',
    flag: 'zones',
    env: 'QUIRE_DEV_ZONES',
    default: '',
    description: "Zones of the data nodes, comma-separated, given round robin (--zones a,b,c: node-1 in a, node-2 in b, node-3 in c, node-4 in a, …); each partition's replicas go to distinct zones while there are enough. Empty: no zones",
  },
  coordinators: { kind: 'integer', flag: 'coordinators', env: 'QUIRE_DEV_COORDINATORS', default: localClusterDefaults.coordinators, min: 1, max: 5, description: 'Coordinator processes (one is elected leader)' },
  routers: { kind: 'integer', flag: 'routers', env: 'QUIRE_DEV_ROUTERS', default: localClusterDefaults.routers, min: 1, max: localClusterRoutersMax, description: 'Router processes (router-1..router-N, each on its own port); cluster.json lists them all' },
  routerPort: { kind: 'integer', flag: 'router-port', env: 'QUIRE_DEV_ROUTER_PORT', default: 0, min: 0, max: 65535, description: 'Port of the first router, the others taking the next ones; 0 picks free ports (kept across restarts)' },
  storageEngine: {
    kind: 'string',
    flag: 'storage-engine',
    env: 'QUIRE_DEV_STORAGE_ENGINE',
    default: 'auto',
    choices: ['auto', 'lmdb', 'wal'],
    description: "The data nodes' storage engine: wal (a write-ahead log, RFC 0002) or lmdb; auto keeps the engine that wrote an existing data directory and picks wal for a new one",
  },
  etcdBin: { kind: 'string', flag: 'etcd-bin', env: 'QUIRE_ETCD_BIN', default: 'etcd', description: 'The etcd server binary' },
  logLevel: { kind: 'string', flag: 'log-level', env: 'QUIRE_LOG_LEVEL', default: 'info', choices: ['debug', 'info', 'warn', 'error'], description: 'Log level of the processes (logs go to <data-dir>/logs)' },
  trace: {
    kind: 'boolean',
    flag: 'trace',
    env: 'QUIRE_DEV_TRACE',
    default: false,
    description: 'Every process records an OpenTelemetry span per request into <data-dir>/traces/<process>.jsonl; `quire trace` shows where requests waited (costs throughput: for looking, not for benchmarks)',
  },
  noRestart: {
    kind: 'boolean',
    flag: 'no-restart',
    env: 'QUIRE_DEV_NO_RESTART',
    default: false,
    description: `Leave a process that exits unexpectedly down. Without it, the process is restarted after ${restartPolicyDefaults.backoffMsMin / 1000} s, the delay doubling up to ${restartPolicyDefaults.backoffMsMax / 1000} s while it keeps exiting less than ${restartPolicyDefaults.stableUptimeMsMin / 1000} s after a start`,
  },
} as const;

/** The options of `quire dev node add|remove`. */
export const devNodeOptions = {
  dataDir: devOptions.dataDir,
  zone: { kind: 'string', flag: 'zone', env: 'QUIRE_DEV_ZONE', default: '', description: `node add: the new data node's zone (${zoneNameRule}); empty: none` },
} as const;

/** How long `quire dev node add` waits for the new node to register. */
const nodeRegisterWaitMs = 60_000;

/** --help of `quire dev`. */
export function devHelp(): string {
  return `Usage: quire dev [options]
       quire dev node add [--zone Z] [--data-dir D]
       quire dev node remove NODE [--data-dir D]

Start a local Quire cluster in the foreground: etcd, coordinators, data nodes and routers on
127.0.0.1. When it is ready it writes <data-dir>/cluster.json and prints the router addresses.
A process that exits unexpectedly (a crash, a kill -9) is restarted with the same flags, data
and ports after a backoff, as a kubelet would, unless --no-restart; each exit and restart is one
line here, and cluster.json gets the new pid. Ctrl-C stops every process, restarted ones
included. Running it again on the same directory keeps all data, and the data nodes added or
removed meanwhile.

While it runs, in another shell: \`quire dev node add\` starts one more data node (node-N) and
returns once it has registered; the coordinator then moves replicas onto it. \`quire dev node
remove NODE\` drains the node (its replicas move to the others, progress shown), then stops it
for good; the coordinator forgets it.

Options:
${formatOptionsHelp(devOptions)}
`;
}

const seconds = (ms: number): string => `${Number((ms / 1000).toFixed(1))} s`;

function describeExit(exit: ProcessExit): string {
  return exit.signal !== null ? `signal ${exit.signal}` : `exit code ${exit.code ?? 'unknown'}`;
}

/**
 * The line `quire dev` prints when a process exits unexpectedly: the process, how it ended,
 * how long it ran and what happens next.
 */
export function unexpectedExitLine(id: string, report: UnexpectedExit, logPath: string): string {
  const what = `quire dev: ${id} exited unexpectedly (${describeExit(report.exit)}) after ${seconds(report.uptimeMs)}`;
  const next = restartLine(report.decision);
  return `${what}; ${next}; its log is ${logPath}`;
}

function restartLine(decision: RestartDecision): string {
  switch (decision.action) {
    case 'restart':
      return `restarting it in ${seconds(decision.delayMs)}${decision.exitStreak > 1 ? ` (exit ${decision.exitStreak} in a row)` : ''}`;
    case 'stay-down':
      return decision.reason === 'restarts-off' ? 'not restarting it (--no-restart)' : 'not restarting it';
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `quire dev node add|remove`: asks the running `quire dev` through its control socket; returns the exit code. */
async function runDevNode(argv: readonly string[], env: Env): Promise<number> {
  const [verb, ...rest] = argv;
  // `remove` takes the node id first: quire dev node remove node-4 [--data-dir D].
  const positional = verb === 'remove' && rest[0] !== undefined && !rest[0].startsWith('--') ? [rest[0]] : [];
  const o = parseOptions(devNodeOptions, rest.slice(positional.length), env);
  const socket = join(resolve(o.dataDir), 'dev.sock');
  const show = (line: string): void => void process.stderr.write(`${line}\n`);
  let last: string;
  if (verb === 'add') {
    if (o.zone !== '' && !zoneNamePattern.test(o.zone)) throw new ConfigError(`--zone must be ${zoneNameRule}; "${o.zone}" is not`);
    last = await callDevControl(socket, 'POST', `/nodes${o.zone === '' ? '' : `?zone=${encodeURIComponent(o.zone)}`}`, (line) => (line.startsWith('OK ') || line.startsWith('ERROR ') ? undefined : show(line)));
  } else if (verb === 'remove') {
    if (positional.length !== 1) throw new ConfigError(`quire dev node remove takes one data node id (quire status lists them); got ${positional.length}`);
    last = await callDevControl(socket, 'DELETE', `/nodes/${encodeURIComponent(positional[0] ?? '')}`, (line) => (line.startsWith('OK ') || line.startsWith('ERROR ') ? undefined : show(line)));
  } else {
    throw new ConfigError(`quire dev node takes add or remove; got ${verb === undefined ? 'nothing' : `"${verb}"`}`);
  }
  if (last.startsWith('OK ')) {
    process.stdout.write(`${last}\n`);
    return 0;
  }
  process.stderr.write(`quire: ${last.replace(/^ERROR /, '')}\n`);
  return 1;
}

/** Runs `quire dev` (or `quire dev node …`); resolves after Ctrl-C stopped everything. */
export async function runDev(argv: readonly string[], env: Env): Promise<number> {
  if (argv[0] === 'node') return runDevNode(argv.slice(1), env);
  await runDevCluster(argv, env);
  return 0;
}

async function runDevCluster(argv: readonly string[], env: Env): Promise<void> {
  const o = parseOptions(devOptions, argv, env);
  const replication = o.replication === 0 ? Math.min(3, o.nodes) : o.replication;
  if (replication > o.nodes) {
    throw new ConfigError(`--replication (${o.replication}) must not exceed --nodes (${o.nodes}): each replica of a partition needs its own data node`);
  }
  const ackPolicy = o.ackPolicy;
  if (!isAckPolicyName(ackPolicy)) throw new ConfigError(`--ack-policy is "${ackPolicy}"; expected one of ${ackPolicyNames.join(', ')}`);
  if (ackPolicy === 'semi-sync' && replication < 2) {
    throw new ConfigError(`--ack-policy semi-sync waits for one follower, so it needs --replication 2 or more (it is ${replication})`);
  }
  const dataDir = resolve(o.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const lock = join(dataDir, 'dev.pid');
  if (existsSync(lock)) {
    const pid = Number(readFileSync(lock, 'utf8'));
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
      throw new ConfigError(`Another quire dev (pid ${pid}) is running on ${dataDir}; stop it first`);
    }
  }
  writeFileSync(lock, String(process.pid));
  const shown = relative(process.cwd(), dataDir) || '.';
  const fresh = !existsSync(join(dataDir, 'etcd'));
  process.stderr.write(
    `quire dev: ${fresh ? 'creating' : 'restarting'} a cluster in ${shown} (${o.nodes} data nodes, ${o.coordinators} coordinator(s)${o.routers === 1 ? '' : `, ${o.routers} routers`})\n`,
  );
  const logOf = (p: ManagedProcess): string => relative(process.cwd(), p.spec.logPath);
  const started = Date.now();
  let cluster: LocalCluster;
  try {
    cluster = await LocalCluster.start({
      dataDir,
      nodes: o.nodes,
      coordinators: o.coordinators,
      partitions: o.partitions,
      replicationFactor: replication,
      ackPolicy,
      zones: zonesOf(o.zones),
      routers: o.routers,
      routerPort: o.routerPort,
      etcdBin: o.etcdBin,
      nodeLeaseTtlSeconds: localClusterDefaults.nodeLeaseTtlSeconds,
      coordinatorLeaseTtlSeconds: localClusterDefaults.coordinatorLeaseTtlSeconds,
      logLevel: o.logLevel,
      env,
      extraArgs: { datanode: ['--storage-engine', o.storageEngine] },
      trace: o.trace,
      onProgress: (line) => process.stderr.write(`  ${line}\n`),
      ...(o.noRestart ? {} : { restartPolicy: restartPolicyDefaults }),
      onUnexpectedExit: (p, report) => process.stderr.write(`${unexpectedExitLine(p.id, report, logOf(p))}\n`),
      onRestart: (p) => process.stderr.write(`quire dev: restarted ${p.id} (pid ${p.pid ?? '?'}); ${join(shown, 'cluster.json')} updated\n`),
      onRestartError: (p, err, decision) => process.stderr.write(`quire dev: could not restart ${p.id} (${err.message}); ${restartLine(decision)}\n`),
    });
  } catch (err) {
    rmSync(lock, { force: true });
    throw err;
  }
  const startSeconds = ((Date.now() - started) / 1000).toFixed(1);
  const routers = cluster.routerAddresses;
  process.stdout.write(
    [
      '',
      `Quire is ready in ${startSeconds} s. ${routers.length === 1 ? 'Router' : 'Routers'}: ${routers.join(', ')}`,
      `  Try:   npx quire put hello world && npx quire get hello`,
      `  Elsewhere: export QUIRE_ROUTER=${routers.join(',')}`,
      `  Cluster file: ${join(shown, 'cluster.json')}   Logs: ${join(shown, 'logs')}/`,
      ...(o.trace ? [`  Traces: ${join(shown, 'traces')}/ (summarize with: npx quire trace --dir ${join(shown, 'traces')})`] : []),
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );
  const client = new QuireClient({ routers: [...routers], requestTimeoutMs: 10_000 });
  const control = await serveDevControl(join(dataDir, 'dev.sock'), {
    addNode: async (zone, progress) => {
      if (zone !== undefined && !zoneNamePattern.test(zone)) throw new Error(`--zone must be ${zoneNameRule}; "${zone}" is not`);
      const p = await cluster.addDataNode(zone === undefined ? {} : { zone });
      process.stderr.write(`quire dev: started ${p.id}${zone === undefined ? '' : ` in zone ${zone}`} (pid ${p.pid ?? '?'}); its log is ${logOf(p)}\n`);
      progress(`started ${p.id} (pid ${p.pid ?? '?'}); waiting for it to register`);
      const deadline = Date.now() + nodeRegisterWaitMs;
      while (!(await client.clusterStatus()).nodes.some((n) => n.nodeId === p.id && n.live)) {
        if (Date.now() > deadline) throw new Error(`${p.id} did not register within ${nodeRegisterWaitMs / 1000} s; see ${logOf(p)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      return `${p.id} joined; the coordinator moves replicas onto it (npx quire moves, npx quire status)`;
    },
    removeNode: async (id, progress) => {
      if (!cluster.all.some((p) => p.id === id && p.role === 'datanode')) throw new Error(`no data node "${id}" runs in this quire dev`);
      const { replicaCount } = await client.decommissionNode(id);
      progress(`${id} is draining: ${replicaCount} replica(s) to move away`);
      let left = replicaCount;
      for (;;) {
        const node = (await client.clusterStatus()).nodes.find((n) => n.nodeId === id);
        if ((node?.replicaCount ?? 0) === 0) break;
        if (node?.draining === false) throw new Error(`the drain of ${id} was cancelled; it keeps running`);
        if (node !== undefined && node.replicaCount !== left) {
          left = node.replicaCount;
          progress(`${id}: ${left} of ${replicaCount} replica(s) left`);
        }
        await new Promise((r) => setTimeout(r, 500));
      }
      await cluster.removeDataNode(id);
      process.stderr.write(`quire dev: ${id} drained and stopped\n`);
      // Stopped for good: the cluster forgets it now rather than after --node-dead-after-ms.
      const deadline = Date.now() + nodeRegisterWaitMs;
      for (;;) {
        try {
          await client.forgetNode(id);
          break;
        } catch (err) {
          // Its registration may take a moment to go (a graceful stop revokes its lease).
          if (Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      return `${id} drained and stopped; the coordinator forgot it`;
    },
  });
  const signal = await waitForStopSignal(silentLogger);
  process.stderr.write(`quire dev: ${signal}: stopping the cluster\n`);
  control.close();
  client.close();
  rmSync(join(dataDir, 'dev.sock'), { force: true });
  await cluster.stop();
  rmSync(lock, { force: true });
  process.stderr.write('quire dev: stopped; data kept in ' + shown + '\n');
}

/** The zones of --zones: a comma-separated list of zone names, or none when empty. */
export function zonesOf(text: string): string[] {
  if (text === '') return [];
  const zones = text.split(',').map((z) => z.trim());
  const bad = zones.find((z) => !zoneNamePattern.test(z));
  if (bad !== undefined) throw new ConfigError(`--zones must be a comma-separated list of zones of ${zoneNameRule}; "${bad}" is not one`);
  return zones;
}
