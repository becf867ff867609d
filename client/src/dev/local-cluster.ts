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
import { fileURLToPath } from 'node:url';
import { loadHashPartitioner } from '@quire/common';
import { QuireClient } from '../client.js';
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
  nodeLeaseTtlSeconds: 5,
  coordinatorLeaseTtlSeconds: 5,
  logLevel: 'info',
} as const;

/** The `quire` CLI entry point, which runs every component. */
const cliPath = fileURLToPath(new URL('../cli/main.js', import.meta.url));

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

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
    const spec = (role: ProcessRole, id: string, command: string, args: string[], address: string, metricsAddress?: string): ProcessSpec => ({
      role,
      id,
      command,
      args: [...args, ...(role === 'etcd' ? [] : (options.extraArgs?.[role] ?? []))],
      env,
      address,
      metricsAddress,
      logPath: join(logDir, `${id}.log`),
    });

    const etcdUrlPeer = `http://127.0.0.1:${etcdPeer}`;
    cluster.add(
      spec('etcd', 'etcd', options.etcdBin, [
        '--name', 'quire-dev',
        '--data-dir', join(dataDir, 'etcd'),
        '--listen-client-urls', `http://${etcdEndpoint}`,
        '--advertise-client-urls', `http://${etcdEndpoint}`,
        '--listen-peer-urls', etcdUrlPeer,
        '--initial-advertise-peer-urls', etcdUrlPeer,
        '--initial-cluster', `quire-dev=${etcdUrlPeer}`,
        '--initial-cluster-state', 'new',
        '--auto-compaction-mode', 'revision',
        '--auto-compaction-retention', '10000',
        '--quota-backend-bytes', String(2 * 1024 * 1024 * 1024),
      ], etcdEndpoint),
    );
    for (let i = 1; i <= options.coordinators; i++) {
      const id = `coordinator-${i}`;
      const port = await ports.port(id);
      const metrics = await ports.port(`${id}-metrics`);
      cluster.add(
        spec('coordinator', id, node, [
          cliPath, 'coordinator',
          '--coordinator-id', id,
          '--listen', `127.0.0.1:${port}`,
          '--metrics-listen', `127.0.0.1:${metrics}`,
          '--etcd', etcdEndpoint,
          '--nodes-min', String(options.nodes),
          '--default-partitions', String(options.partitions),
          '--lease-ttl-seconds', String(options.coordinatorLeaseTtlSeconds),
          '--log-level', options.logLevel,
        ], `127.0.0.1:${port}`, `127.0.0.1:${metrics}`),
      );
    }
    for (let i = 1; i <= options.nodes; i++) {
      const id = `node-${i}`;
      const port = await ports.port(id);
      const metrics = await ports.port(`${id}-metrics`);
      cluster.add(
        spec('datanode', id, node, [
          cliPath, 'datanode',
          '--node-id', id,
          '--data-dir', join(dataDir, id),
          '--listen', `127.0.0.1:${port}`,
          '--metrics-listen', `127.0.0.1:${metrics}`,
          '--etcd', etcdEndpoint,
          '--lease-ttl-seconds', String(options.nodeLeaseTtlSeconds),
          '--log-level', options.logLevel,
        ], `127.0.0.1:${port}`, `127.0.0.1:${metrics}`),
      );
    }
    const routerMetrics = await ports.port('router-metrics');
    cluster.add(
      spec('router', 'router-1', node, [
        cliPath, 'router',
        '--router-id', 'router-1',
        '--listen', cluster.routerAddress,
        '--metrics-listen', `127.0.0.1:${routerMetrics}`,
        '--etcd', etcdEndpoint,
        '--log-level', options.logLevel,
      ], cluster.routerAddress, `127.0.0.1:${routerMetrics}`),
    );
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
    const etcd = this.process('etcd');
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!etcd.running) throw new Error(`etcd exited while starting; its log ends with:\n${etcd.logTail()}`);
      try {
        const res = await fetch(`http://${this.etcdEndpoint}/health`, { signal: AbortSignal.timeout(1_000) });
        if (res.ok && ((await res.json()) as { health?: string }).health === 'true') return;
      } catch {
        // Not up yet.
      }
      await sleep(100);
    }
    throw new Error(`etcd did not become healthy within ${timeoutMs} ms; see ${etcd.spec.logPath}`);
  }

  /**
   * Resolves once every data node is live, every partition of every keyspace has a live
   * leader, and a routed read reaches every partition through the router.
   */
  async waitReady(timeoutMs: number, progress: (message: string) => void = () => undefined): Promise<void> {
    const client = new QuireClient({ router: this.routerAddress, requestTimeoutMs: 5_000, connectTimeoutMs: 1_000 });
    const deadline = Date.now() + timeoutMs;
    let last = '';
    try {
      for (;;) {
        for (const p of this.processes) {
          if (!p.running && p.spec.role !== 'etcd') {
            // A process that stopped during start-up will not come back by itself.
            throw new Error(`${p.id} exited while the cluster was starting; its log ends with:\n${p.logTail()}`);
          }
        }
        let status = '';
        try {
          const s = await client.clusterStatus();
          const live = s.nodes.filter((n) => n.live).length;
          const partitions = s.keyspaces.flatMap((k) => k.partitions);
          const ready = partitions.filter((p) => p.leaderLive).length;
          status = `data nodes live ${live}/${this.options.nodes}, partitions with a live leader ${ready}/${partitions.length}`;
          if (live >= this.options.nodes && partitions.length > 0 && ready === partitions.length) {
            await this.probeAllPartitions(client, s.keyspaces.map((k) => ({ name: k.keyspace, partitions: k.partitionCount })));
            progress(`Cluster ready: ${status}`);
            return;
          }
        } catch (err) {
          status = `waiting for the router and coordinator (${(err as Error).message})`;
        }
        if (status !== last) progress(status);
        last = status;
        if (Date.now() > deadline) throw new Error(`The cluster was not ready within ${timeoutMs} ms: ${status}; logs are in ${join(this.dataDir, 'logs')}`);
        await sleep(200);
      }
    } finally {
      client.close();
    }
  }

  /** Reads one key routed to each partition, proving router → data node paths work. */
  private async probeAllPartitions(client: QuireClient, keyspaces: readonly { name: string; partitions: number }[]): Promise<void> {
    const partitioner = await loadHashPartitioner();
    for (const ks of keyspaces) {
      const covered = new Map<number, string>();
      for (let i = 0; covered.size < ks.partitions && i < ks.partitions * 1000; i++) {
        const key = `quire-probe-${i}`;
        const p = partitioner.partitionOf(Buffer.from(key), ks.partitions);
        if (!covered.has(p)) covered.set(p, key);
      }
      await Promise.all([...covered.values()].map((key) => client.get(key, { keyspace: ks.name })));
    }
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
