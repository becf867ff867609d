/**
 * Command lines of Quire's server processes, in one place for every launcher: `quire dev`
 * (LocalCluster), the benchmarks and the chaos harness, which places the same processes in
 * network namespaces. Each function returns the arguments after the Node.js binary.
 */
import { fileURLToPath } from 'node:url';

/** The `quire` CLI entry point, which runs every component. */
export const quireCliPath = fileURLToPath(new URL('../main.js', import.meta.url));

/** Settings every server process takes. */
export interface ServerArgs {
  readonly id: string;
  /** host:port of its gRPC service. */
  readonly listen: string;
  /** host:port of its Prometheus /metrics endpoint. */
  readonly metricsListen: string;
  /** etcd client endpoints (host:port). */
  readonly etcd: readonly string[];
  readonly logLevel: string;
}

/** The flags every server takes, after its own id flag. */
function serverFlags(a: ServerArgs): string[] {
  return ['--listen', a.listen, '--metrics-listen', a.metricsListen, '--etcd', a.etcd.join(','), '--log-level', a.logLevel];
}

/** Settings of a coordinator beyond those every server takes. */
export interface CoordinatorArgs extends ServerArgs {
  readonly nodesMin: number;
  readonly partitions: number;
  readonly leaseTtlSeconds: number;
  /** Replication factor of the default keyspace; omitted, the coordinator's default (1) applies. */
  readonly replicationFactor?: number;
  /** Ack policy of the default keyspace (sync, semi-sync, async); omitted, the coordinator's default (sync) applies. */
  readonly ackPolicy?: string;
  /** --node-dead-after-ms; omitted, the coordinator's default applies. */
  readonly nodeDeadAfterMs?: number;
}

/** Arguments of `quire coordinator`. */
export function coordinatorArgs(a: CoordinatorArgs): string[] {
  return [
    quireCliPath, 'coordinator',
    '--coordinator-id', a.id,
    ...serverFlags(a),
    '--nodes-min', String(a.nodesMin),
    '--default-partitions', String(a.partitions),
    '--lease-ttl-seconds', String(a.leaseTtlSeconds),
    ...(a.replicationFactor === undefined ? [] : ['--replication-factor', String(a.replicationFactor)]),
    ...(a.ackPolicy === undefined ? [] : ['--ack-policy', a.ackPolicy]),
    ...(a.nodeDeadAfterMs === undefined ? [] : ['--node-dead-after-ms', String(a.nodeDeadAfterMs)]),
  ];
}

/** Arguments of `quire datanode`. */
export function dataNodeArgs(a: ServerArgs & { readonly dataDir: string; readonly leaseTtlSeconds: number; readonly zone?: string }): string[] {
  return [
    quireCliPath, 'datanode',
    '--node-id', a.id,
    '--data-dir', a.dataDir,
    ...serverFlags(a),
    '--lease-ttl-seconds', String(a.leaseTtlSeconds),
    ...(a.zone === undefined || a.zone === '' ? [] : ['--zone', a.zone]),
  ];
}

/** Arguments of `quire router`. */
export function routerArgs(a: ServerArgs): string[] {
  return [quireCliPath, 'router', '--router-id', a.id, ...serverFlags(a)];
}
