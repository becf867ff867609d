/**
 * LocalCluster starts a whole Quire cluster as child processes on 127.0.0.1: etcd (Debian's
 * etcd-server binary), coordinators, data nodes and one or more routers, each with its data
 * under one directory and its log in <dir>/logs. It powers `quire dev` and the integration and
 * e2e tests, which also use it to kill, stop and restart single processes.
 *
 * Restarting on the same directory keeps everything: etcd's data, every node's identity and
 * LMDB files, (when still free) the same ports, and the data nodes added or removed while it ran
 * (addDataNode, removeDataNode: <dir>/data-nodes.json).
 *
 * With a `restartPolicy` (`quire dev` unless --no-restart), once the cluster is ready it
 * supervises its processes as a kubelet would: one that exits without having been asked to is
 * started again with backoff, and cluster.json is rewritten with its new pid. Without one (the
 * default, for tests that inject faults themselves) nothing is restarted behind their back.
 *
 * Invariants:
 * - stop() ends supervision of every process before it awaits anything, so no restart
 *   scheduled earlier can start a process once stopping began.
 * - cluster.json exists only while the cluster is ready and not stopping, and is replaced
 *   atomically (write, then rename), so a reader never sees half a file.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError, type AckPolicyName } from '@quire/common';
import { waitForClusterReady } from './readiness.js';
import { coordinatorArgs, dataNodeArgs, routerArgs } from './process-args.js';
import { etcdServerArgs, waitForEtcdHealthy } from './etcd-server.js';
import { ManagedProcess, type ProcessRole, type ProcessSpec, type UnexpectedExit } from './managed-process.js';
import { validateRestartPolicy, type RestartDecision, type RestartPolicy } from './restart-policy.js';
import { PortBook } from './ports.js';

/** The data nodes added and removed at run time (<dir>/data-nodes.json), kept across restarts. */
export interface DataNodeChanges {
  readonly added: readonly { readonly id: string; readonly zone?: string }[];
  readonly removed: readonly string[];
}

/** Reads <dir>/data-nodes.json; none when it does not exist. */
export function readDataNodeChanges(dataDir: string): DataNodeChanges {
  const path = join(dataDir, 'data-nodes.json');
  if (!existsSync(path)) return { added: [], removed: [] };
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<DataNodeChanges>;
  return { added: parsed.added ?? [], removed: parsed.removed ?? [] };
}

/** Options of a local cluster. */
export interface LocalClusterOptions {
  readonly dataDir: string;
  /** Data nodes (1..64). */
  readonly nodes: number;
  /** Coordinators (1..5). */
  readonly coordinators: number;
  /** Partitions of the default keyspace, used at first bootstrap. */
  readonly partitions: number;
  /**
   * Replication factor of the default keyspace, used at first bootstrap (1..`nodes`); omitted,
   * the coordinator's default (1) applies.
   */
  readonly replicationFactor?: number;
  /**
   * Ack policy of the default keyspace (sync, semi-sync, async), used at first bootstrap;
   * omitted, the coordinator's default (sync) applies.
   */
  readonly ackPolicy?: AckPolicyName;
  /** Zones of the data nodes, given round robin (node-1 the first, node-2 the second, …); omitted or empty, none. */
  readonly zones?: readonly string[];
  /** Router processes (1..`localClusterRoutersMax`); omitted, one. */
  readonly routers?: number;
  /**
   * Port of the first router, the others taking the ports after it; 0 picks free ones
   * (remembered for restarts).
   */
  readonly routerPort: number;
  /** The etcd server binary. */
  readonly etcdBin: string;
  /** Lease TTL of data node registrations. */
  readonly nodeLeaseTtlSeconds: number;
  /** Lease TTL of the coordinator leader. */
  readonly coordinatorLeaseTtlSeconds: number;
  readonly logLevel: string;
  /** Environment of the child processes (QUIRE_* variables are removed; flags configure them). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /**
   * Whether every Quire process writes its spans to <dataDir>/traces/<id>.jsonl
   * (QUIRE_TRACE_FILE; `quire dev --trace`, read by `quire trace`).
   */
  readonly trace?: boolean;
  /** Extra flags per role, e.g. { datanode: ['--log-retain-entries', '100'] }. */
  readonly extraArgs?: Partial<Record<ProcessRole, readonly string[]>>;
  /** Progress lines while starting. */
  readonly onProgress?: (message: string) => void;
  /**
   * Once the cluster is ready, restart processes that exit unexpectedly with this policy;
   * omitted, nothing is restarted (a test's kill -9 stays a kill -9).
   */
  readonly restartPolicy?: RestartPolicy;
  /** Called when a process exits that nobody stopped (not while the cluster stops), with what happens next. */
  readonly onUnexpectedExit?: (process: ManagedProcess, report: UnexpectedExit) => void;
  /** Called when the supervisor has started a process again, after cluster.json was rewritten. */
  readonly onRestart?: (process: ManagedProcess) => void;
  /** Called when a scheduled restart could not spawn the process, with the next attempt. */
  readonly onRestartError?: (process: ManagedProcess, error: Error, decision: RestartDecision) => void;
  /** The coordinators' --node-dead-after-ms; omitted, their default (5 minutes). */
  readonly nodeDeadAfterMs?: number;
}

/** How `addDataNode` places a new data node. */
export interface AddDataNodeOptions {
  /** Its --zone; omitted, none. */
  readonly zone?: string;
}

/** The most routers a local cluster runs. */
export const localClusterRoutersMax = 8;

/** One process in cluster.json. */
export interface ClusterProcessInfo {
  readonly role: ProcessRole;
  readonly id: string;
  readonly pid: number;
  readonly address: string;
  readonly metrics?: string;
  readonly log: string;
}

/** The contents of <dir>/cluster.json. */
export interface ClusterJson {
  /** The first router (what older readers use). */
  readonly router: string;
  /** Every router, the first one first. */
  readonly routers: readonly string[];
  readonly etcd: string;
  readonly dataDir: string;
  readonly processes: readonly ClusterProcessInfo[];
}

/** Default options for `quire dev`. */
export const localClusterDefaults = {
  nodes: 3,
  coordinators: 1,
  routers: 1,
  partitions: 16,
  routerPort: 0,
  etcdBin: 'etcd',
  // A killed leader is replaced within about 2 s (etcd here allows leases down to 1 s).
  nodeLeaseTtlSeconds: 2,
  coordinatorLeaseTtlSeconds: 5,
  logLevel: 'info',
} as const;

/** A running local cluster. */
export class LocalCluster {
  private readonly processes: ManagedProcess[] = [];
  private stopping = false;
  /** Set once the cluster was ready and cluster.json written; rewrites follow each start. */
  private ready = false;
  /** Data nodes added and removed at run time, as in <dir>/data-nodes.json. */
  private changes: DataNodeChanges = { added: [], removed: [] };
  /** Builds a data node's process spec (set by start()). */
  private dataNodeSpec: ((id: string, zone: string | undefined) => Promise<ProcessSpec>) | undefined;

  private constructor(
    readonly options: LocalClusterOptions,
    readonly dataDir: string,
    readonly etcdEndpoint: string,
    /** Every router's host:port, router-1 first. */
    readonly routerAddresses: readonly string[],
  ) {}

  /** The first router's host:port. */
  get routerAddress(): string {
    return this.routerAddresses[0] ?? '';
  }

  /** Starts every process and resolves once the cluster serves every partition. */
  static async start(options: LocalClusterOptions): Promise<LocalCluster> {
    if (options.replicationFactor !== undefined && options.replicationFactor > options.nodes) {
      throw new ConfigError(`A replication factor of ${options.replicationFactor} needs at least as many data nodes; the cluster has ${options.nodes}`);
    }
    const routers = options.routers ?? localClusterDefaults.routers;
    if (!Number.isInteger(routers) || routers < 1 || routers > localClusterRoutersMax) {
      throw new ConfigError(`A local cluster runs 1 to ${localClusterRoutersMax} routers; ${routers} were asked for`);
    }
    if (options.restartPolicy !== undefined) validateRestartPolicy(options.restartPolicy);
    const dataDir = resolve(options.dataDir);
    const logDir = join(dataDir, 'logs');
    mkdirSync(logDir, { recursive: true });
    const ports = new PortBook(join(dataDir, 'ports.json'));
    const etcdClient = await ports.port('etcd-client');
    const etcdPeer = await ports.port('etcd-peer');
    // router-1 keeps the names "router" and "router-metrics" of ports.json from before there
    // could be several.
    const routerPortName = (i: number): string => (i === 1 ? 'router' : `router-${i}`);
    const routerAddresses: string[] = [];
    for (let i = 1; i <= routers; i++) {
      const preferred = options.routerPort === 0 ? 0 : options.routerPort + i - 1;
      routerAddresses.push(`127.0.0.1:${await ports.port(routerPortName(i), preferred)}`);
    }
    const etcdEndpoint = `127.0.0.1:${etcdClient}`;
    const cluster = new LocalCluster(options, dataDir, etcdEndpoint, routerAddresses);
    const progress = options.onProgress ?? (() => undefined);
    const env = { ...Object.fromEntries(Object.entries(options.env).filter(([k]) => !k.startsWith('QUIRE_'))), QUIRE_STOP_WITH_PARENT: '1' };
    const node = process.execPath;
    const traceDir = join(dataDir, 'traces');
    if (options.trace === true) mkdirSync(traceDir, { recursive: true });
    const spec = (role: ProcessRole, id: string, command: string, args: string[], address: string, metricsAddress?: string): ProcessSpec => ({
      role,
      id,
      command,
      args: [...args, ...(role === 'etcd' ? [] : (options.extraArgs?.[role] ?? []))],
      env: options.trace === true && role !== 'etcd' ? { ...env, QUIRE_TRACE_FILE: join(traceDir, `${id}.jsonl`) } : env,
      address,
      metricsAddress,
      logPath: join(logDir, `${id}.log`),
    });

    cluster.add(
      spec('etcd', 'etcd', options.etcdBin, etcdServerArgs({
        member: { name: 'quire-dev', client: etcdEndpoint, peer: `127.0.0.1:${etcdPeer}` },
        dataDir: join(dataDir, 'etcd'),
        // One member on loopback: a short election timeout costs nothing and lets node leases
        // be as short as 1 s (--lease-ttl-seconds of the data nodes).
        heartbeatIntervalMs: 100,
        electionTimeoutMs: 500,
      }), etcdEndpoint),
    );
    const common = { etcd: [etcdEndpoint], logLevel: options.logLevel };
    // node-1..node-N, less those removed and plus those added while an earlier run ran.
    cluster.changes = readDataNodeChanges(dataDir);
    const removed = new Set(cluster.changes.removed);
    const zoneOf = (i: number): string | undefined => (options.zones === undefined || options.zones.length === 0 ? undefined : options.zones[(i - 1) % options.zones.length]);
    const dataNodes = [
      ...Array.from({ length: options.nodes }, (_, i) => ({ id: `node-${i + 1}`, zone: zoneOf(i + 1) })),
      ...cluster.changes.added,
    ].filter((n) => !removed.has(n.id));
    for (let i = 1; i <= options.coordinators; i++) {
      const id = `coordinator-${i}`;
      const listen = `127.0.0.1:${await ports.port(id)}`;
      const metricsListen = `127.0.0.1:${await ports.port(`${id}-metrics`)}`;
      const args = coordinatorArgs({
        ...common,
        id,
        listen,
        metricsListen,
        nodesMin: Math.max(1, Math.min(options.nodes, dataNodes.length)), // ≥ the replication factor (checked above) unless nodes were removed
        partitions: options.partitions,
        leaseTtlSeconds: options.coordinatorLeaseTtlSeconds,
        ...(options.nodeDeadAfterMs === undefined ? {} : { nodeDeadAfterMs: options.nodeDeadAfterMs }),
        ...(options.replicationFactor === undefined ? {} : { replicationFactor: options.replicationFactor }),
        ...(options.ackPolicy === undefined ? {} : { ackPolicy: options.ackPolicy }),
      });
      cluster.add(spec('coordinator', id, node, args, listen, metricsListen));
    }
    cluster.dataNodeSpec = async (id, zone) => {
      const listen = `127.0.0.1:${await ports.port(id)}`;
      const metricsListen = `127.0.0.1:${await ports.port(`${id}-metrics`)}`;
      const args = dataNodeArgs({ ...common, id, listen, metricsListen, dataDir: join(dataDir, id), leaseTtlSeconds: options.nodeLeaseTtlSeconds, ...(zone === undefined ? {} : { zone }) });
      return spec('datanode', id, node, args, listen, metricsListen);
    };
    for (const n of dataNodes) cluster.add(await cluster.dataNodeSpec(n.id, n.zone));
    for (const [index, listen] of routerAddresses.entries()) {
      const id = `router-${index + 1}`;
      const metricsListen = `127.0.0.1:${await ports.port(`${routerPortName(index + 1)}-metrics`)}`;
      cluster.add(spec('router', id, node, routerArgs({ ...common, id, listen, metricsListen }), listen, metricsListen));
    }
    ports.save();

    try {
      const etcd = cluster.process('etcd');
      etcd.start();
      progress(`Starting etcd on ${etcdEndpoint}`);
      await cluster.waitForEtcd(30_000);
      for (const p of cluster.processes) {
        if (p.role === 'etcd') continue;
        p.start();
      }
      const routersShown = routers === 1 ? `a router on ${cluster.routerAddress}` : `${routers} routers on ${routerAddresses.join(', ')}`;
      progress(`Started ${options.coordinators} coordinator(s), ${options.nodes} data node(s) and ${routersShown}`);
      await cluster.waitReady(120_000, progress);
      cluster.writeClusterJson();
      cluster.ready = true;
      if (options.restartPolicy !== undefined) {
        for (const p of cluster.processes) p.supervise(options.restartPolicy);
      }
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  private add(spec: ProcessSpec): void {
    const p = new ManagedProcess(spec);
    p.onUnexpectedExit = (proc, report) => {
      if (!this.stopping) this.options.onUnexpectedExit?.(proc, report);
    };
    // Any start once the cluster is ready (by the supervisor, or a test by hand) changes a pid.
    p.onStart = () => {
      if (this.ready && !this.stopping) this.writeClusterJson();
    };
    p.onRestart = (proc) => {
      if (!this.stopping) this.options.onRestart?.(proc);
    };
    p.onRestartError = (proc, error, decision) => {
      if (!this.stopping) this.options.onRestartError?.(proc, error, decision);
    };
    this.processes.push(p);
  }

  /**
   * Starts one more data node (node-N, N one above the highest so far) and resolves with it once
   * its process is started; the coordinator gives it replicas (RFC 0003) once it registers.
   * Supervised like the others under a restart policy; cluster.json lists it.
   */
  async addDataNode(options: AddDataNodeOptions = {}): Promise<ManagedProcess> {
    if (this.dataNodeSpec === undefined || this.stopping) throw new Error('The cluster is not running');
    // Never reuse the id of a removed node: the cluster may still know it.
    const ids = [...this.processes.filter((p) => p.role === 'datanode').map((p) => p.id), ...this.changes.removed, ...this.changes.added.map((a) => a.id)];
    const highest = Math.max(this.options.nodes, ...ids.map((id) => Number(id.slice('node-'.length)) || 0));
    const spec = await this.dataNodeSpec(`node-${highest + 1}`, options.zone);
    this.add(spec);
    this.saveChanges({ ...this.changes, added: [...this.changes.added, { id: spec.id, ...(options.zone === undefined ? {} : { zone: options.zone }) }] });
    const p = this.process(spec.id);
    p.start();
    if (this.options.restartPolicy !== undefined) p.supervise(this.options.restartPolicy);
    return p;
  }

  /**
   * Stops a data node for good and forgets it (no restart; cluster.json no longer lists it). Its
   * data directory stays. Drain it first (DecommissionNode), or its replicas wait for it.
   */
  async removeDataNode(id: string, graceMs = 10_000): Promise<void> {
    const p = this.process(id);
    if (p.role !== 'datanode') throw new Error(`${id} is not a data node`);
    p.unsupervise();
    await p.stop(graceMs);
    this.processes.splice(this.processes.indexOf(p), 1);
    this.saveChanges({ ...this.changes, removed: [...this.changes.removed, id] });
    if (this.ready && !this.stopping) this.writeClusterJson();
  }

  /** Records the data nodes added and removed (atomically), so a restart starts the same ones. */
  private saveChanges(changes: DataNodeChanges): void {
    this.changes = changes;
    const path = join(this.dataDir, 'data-nodes.json');
    writeFileSync(`${path}.tmp`, `${JSON.stringify(changes, null, 2)}\n`);
    renameSync(`${path}.tmp`, path);
  }

  /** All processes, in start order. */
  get all(): readonly ManagedProcess[] {
    return this.processes;
  }

  /** The process with this id (etcd, coordinator-N, node-N, router-N). */
  process(id: string): ManagedProcess {
    const p = this.processes.find((x) => x.id === id);
    if (p === undefined) throw new Error(`No process ${id} in this cluster`);
    return p;
  }

  /** Polls etcd's /health until it reports healthy. */
  async waitForEtcd(timeoutMs: number): Promise<void> {
    await waitForEtcdHealthy(this.etcdEndpoint, this.process('etcd'), timeoutMs);
  }

  /**
   * Resolves once every data node is live, every partition of every keyspace has a live
   * leader, and a routed read reaches every partition through every router.
   */
  async waitReady(timeoutMs: number, progress: (message: string) => void = () => undefined): Promise<void> {
    const nodes = this.processes.filter((p) => p.role === 'datanode').length;
    await waitForClusterReady({ routers: this.routerAddresses, nodes, processes: this.processes, timeoutMs, progress, logDir: join(this.dataDir, 'logs') });
  }

  /** The cluster.json contents for the running processes. */
  clusterJson(): ClusterJson {
    return {
      router: this.routerAddress,
      routers: this.routerAddresses,
      etcd: this.etcdEndpoint,
      dataDir: this.dataDir,
      processes: this.processes.map((p) => ({
        role: p.role,
        id: p.id,
        // While a process is down (waiting for a restart, or under --no-restart) its last pid
        // stays: 0 would make `kill -9 <pid>` signal the caller's own process group.
        pid: p.pid ?? p.lastPid ?? 0,
        address: p.spec.address,
        ...(p.spec.metricsAddress === undefined ? {} : { metrics: p.spec.metricsAddress }),
        log: p.spec.logPath,
      })),
    };
  }

  /** Writes <dir>/cluster.json (atomically: a temporary file renamed over it). */
  writeClusterJson(): void {
    const path = join(this.dataDir, 'cluster.json');
    writeFileSync(`${path}.tmp`, `${JSON.stringify(this.clusterJson(), null, 2)}\n`);
    renameSync(`${path}.tmp`, path);
  }

  /**
   * Stops everything: routers, data nodes, coordinators, then etcd. Supervision ends first, so
   * restarts already scheduled never happen and processes that exit meanwhile stay down.
   */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    for (const p of this.processes) p.unsupervise();
    const order: ProcessRole[] = ['router', 'datanode', 'coordinator', 'etcd'];
    for (const role of order) {
      await Promise.all(this.processes.filter((p) => p.role === role).map((p) => p.stop(graceMs)));
    }
    rmSync(join(this.dataDir, 'cluster.json'), { force: true });
  }
}
