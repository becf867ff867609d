/**
 * LocalCluster starts a whole Quire cluster as child processes on 127.0.0.1: etcd (Debian's
 * etcd-server binary), coordinators, data nodes and a router, each with its data under one
 * directory and its log in <dir>/logs. It powers `quire dev` and the integration and e2e tests,
 * which also use it to kill, stop and restart single processes.
 *
 * Restarting on the same directory keeps everything: etcd's data, every node's identity and
 * LMDB files, and (when still free) the same ports.
 */
import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError, type AckPolicyName } from '@quire/common';
import { waitForClusterReady } from './readiness.js';
import { coordinatorArgs, dataNodeArgs, routerArgs } from './process-args.js';
import { etcdServerArgs, waitForEtcdHealthy } from './etcd-server.js';
import { ManagedProcess, type ProcessExit, type ProcessRole, type ProcessSpec } from './managed-process.js';
import { PortBook } from './ports.js';

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
  /** Router port; 0 picks a free one (remembered for restarts). */
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
  /** Called when a process exits that nobody stopped. */
  readonly onUnexpectedExit?: (process: ManagedProcess, exit: ProcessExit) => void;
}

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
  readonly router: string;
  readonly etcd: string;
  readonly dataDir: string;
  readonly processes: readonly ClusterProcessInfo[];
}

/** Default options for `quire dev`. */
export const localClusterDefaults = {
  nodes: 3,
  coordinators: 1,
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

  private constructor(
    readonly options: LocalClusterOptions,
    readonly dataDir: string,
    readonly etcdEndpoint: string,
    readonly routerAddress: string,
  ) {}

  /** Starts every process and resolves once the cluster serves every partition. */
  static async start(options: LocalClusterOptions): Promise<LocalCluster> {
    if (options.replicationFactor !== undefined && options.replicationFactor > options.nodes) {
      throw new ConfigError(`A replication factor of ${options.replicationFactor} needs at least as many data nodes; the cluster has ${options.nodes}`);
    }
    const dataDir = resolve(options.dataDir);
    const logDir = join(dataDir, 'logs');
    mkdirSync(logDir, { recursive: true });
    const ports = new PortBook(join(dataDir, 'ports.json'));
    const etcdClient = await ports.port('etcd-client');
    const etcdPeer = await ports.port('etcd-peer');
    const routerPort = await ports.port('router', options.routerPort);
    const etcdEndpoint = `127.0.0.1:${etcdClient}`;
    const cluster = new LocalCluster(options, dataDir, etcdEndpoint, `127.0.0.1:${routerPort}`);
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
    for (let i = 1; i <= options.coordinators; i++) {
      const id = `coordinator-${i}`;
      const listen = `127.0.0.1:${await ports.port(id)}`;
      const metricsListen = `127.0.0.1:${await ports.port(`${id}-metrics`)}`;
      const args = coordinatorArgs({
        ...common,
        id,
        listen,
        metricsListen,
        nodesMin: options.nodes, // ≥ the replication factor (checked above)
        partitions: options.partitions,
        leaseTtlSeconds: options.coordinatorLeaseTtlSeconds,
        ...(options.replicationFactor === undefined ? {} : { replicationFactor: options.replicationFactor }),
        ...(options.ackPolicy === undefined ? {} : { ackPolicy: options.ackPolicy }),
      });
      cluster.add(spec('coordinator', id, node, args, listen, metricsListen));
    }
    for (let i = 1; i <= options.nodes; i++) {
      const id = `node-${i}`;
      const listen = `127.0.0.1:${await ports.port(id)}`;
      const metricsListen = `127.0.0.1:${await ports.port(`${id}-metrics`)}`;
      const args = dataNodeArgs({ ...common, id, listen, metricsListen, dataDir: join(dataDir, id), leaseTtlSeconds: options.nodeLeaseTtlSeconds });
      cluster.add(spec('datanode', id, node, args, listen, metricsListen));
    }
    const routerMetrics = `127.0.0.1:${await ports.port('router-metrics')}`;
    cluster.add(spec('router', 'router-1', node, routerArgs({ ...common, id: 'router-1', listen: cluster.routerAddress, metricsListen: routerMetrics }), cluster.routerAddress, routerMetrics));
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
      progress(`Started ${options.coordinators} coordinator(s), ${options.nodes} data node(s) and a router on ${cluster.routerAddress}`);
      await cluster.waitReady(120_000, progress);
      cluster.writeClusterJson();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  private add(spec: ProcessSpec): void {
    const p = new ManagedProcess(spec);
    p.onUnexpectedExit = (proc, exit) => {
      if (!this.stopping) this.options.onUnexpectedExit?.(proc, exit);
    };
    this.processes.push(p);
  }

  /** All processes, in start order. */
  get all(): readonly ManagedProcess[] {
    return this.processes;
  }

  /** The process with this id (etcd, coordinator-N, node-N, router-1). */
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
   * leader, and a routed read reaches every partition through the router.
   */
  async waitReady(timeoutMs: number, progress: (message: string) => void = () => undefined): Promise<void> {
    await waitForClusterReady({ router: this.routerAddress, nodes: this.options.nodes, processes: this.processes, timeoutMs, progress, logDir: join(this.dataDir, 'logs') });
  }

  /** The cluster.json contents for the running processes. */
  clusterJson(): ClusterJson {
    return {
      router: this.routerAddress,
      etcd: this.etcdEndpoint,
      dataDir: this.dataDir,
      processes: this.processes.map((p) => ({
        role: p.role,
        id: p.id,
        pid: p.pid ?? 0,
        address: p.spec.address,
        ...(p.spec.metricsAddress === undefined ? {} : { metrics: p.spec.metricsAddress }),
        log: p.spec.logPath,
      })),
    };
  }

  /** Writes <dir>/cluster.json. */
  writeClusterJson(): void {
    writeFileSync(join(this.dataDir, 'cluster.json'), `${JSON.stringify(this.clusterJson(), null, 2)}\n`);
  }

  /** Stops everything: router, data nodes, coordinators, then etcd. */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    const order: ProcessRole[] = ['router', 'datanode', 'coordinator', 'etcd'];
    for (const role of order) {
      await Promise.all(this.processes.filter((p) => p.role === role).map((p) => p.stop(graceMs)));
    }
    rmSync(join(this.dataDir, 'cluster.json'), { force: true });
  }
}
