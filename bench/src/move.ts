/**
 * `make bench-move`: what a replica move costs (issue 16's figures), with etcd's equivalent
 * measured in the same run.
 *
 * Quire: a local cluster of three data nodes with replication 3 is loaded with `--data-mib` of
 * values; a steady open-loop foreground load (half puts, half gets of loaded keys) runs at
 * `--rate` for the whole run. Then a fourth data node joins and the coordinator moves a quarter of
 * the replicas onto it (snapshots, then logs): the move's MB/s (the moved partitions' data over
 * the time from the join to every move ended and every ISR full), and the foreground p50/p99
 * before and during it. Then a data node is killed and never restarted (the coordinator's
 * --node-dead-after-ms is `--dead-after-ms`): the time until every partition is back to three
 * in-sync replicas.
 *
 * etcd: one member loaded with the same bytes, then a second member added as a learner (etcd's
 * way to add a replica without counting it, like Quire's learner): the time until it is in sync
 * (MemberPromote succeeds), as MB/s of etcd's database.
 *
 * Figures go to stdout as lines and to bench/results/move-<time>.json. Progress on stderr.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { QuireClient } from '@quire/client';
import { loadHashPartitioner, parseOptions, systemClock, type OptionValues } from '@quire/common';
import { LocalCluster, ManagedProcess, etcdServerArgs, freePort, waitForEtcdHealthy } from '@quire/cli';
import { quantile } from './stats.js';

/** The options of `make bench-move` (BENCH_ARGS). */
export const moveBenchOptions = {
  dataMib: { kind: 'integer', flag: 'data-mib', env: 'QUIRE_BENCH_DATA_MIB', default: 1024, min: 16, max: 65_536, description: 'MiB of values loaded before the move' },
  valueBytes: { kind: 'integer', flag: 'value-bytes', env: 'QUIRE_BENCH_VALUE_BYTES', default: 16_384, min: 64, max: 1_048_576, description: 'Bytes per loaded value' },
  partitions: { kind: 'integer', flag: 'partitions', env: 'QUIRE_BENCH_PARTITIONS', default: 8, min: 4, max: 256, description: 'Partitions of the default keyspace' },
  rate: { kind: 'integer', flag: 'rate', env: 'QUIRE_BENCH_RATE', default: 200, min: 10, max: 100_000, description: 'Foreground operations per second (half puts of 1 KiB, half gets)' },
  phaseSeconds: { kind: 'integer', flag: 'phase-seconds', env: 'QUIRE_BENCH_PHASE_SECONDS', default: 20, min: 5, max: 600, description: 'Length of the foreground measurement before the move' },
  snapshotMibPerSecond: { kind: 'integer', flag: 'snapshot-mib-per-second', env: 'QUIRE_BENCH_SNAPSHOT_MIB_PER_SECOND', default: 64, min: 0, max: 100_000, description: "The data nodes' --snapshot-bytes-per-second, in MiB (0: no limit)" },
  deadAfterMs: { kind: 'integer', flag: 'dead-after-ms', env: 'QUIRE_BENCH_DEAD_AFTER_MS', default: 5_000, min: 1_000, max: 600_000, description: "The coordinator's --node-dead-after-ms for the repair phase" },
  etcdBin: { kind: 'string', flag: 'etcd-bin', env: 'QUIRE_ETCD_BIN', default: 'etcd', description: 'The etcd server binary' },
  logLevel: { kind: 'string', flag: 'log-level', env: 'QUIRE_BENCH_LOG_LEVEL', default: 'warn', choices: ['debug', 'info', 'warn', 'error'], description: "The cluster's log level (info to correlate the timeline with the moves; with --keep)" },
  datanodeArgs: { kind: 'string', flag: 'datanode-args', env: 'QUIRE_BENCH_DATANODE_ARGS', default: '', description: 'More data node flags, space-separated (to measure a setting)' },
  keep: { kind: 'boolean', flag: 'keep', env: 'QUIRE_BENCH_KEEP', default: false, description: 'Keep the data directories' },
} as const;

const say = (line: string): void => void process.stderr.write(`${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const mb = (bytes: number): number => bytes / 1e6;

/** Writes `count` values of `value` at `bulk/<i>` with `workers` in flight; reports progress. */
async function loadValues(label: string, put: (key: string, value: Buffer) => Promise<void>, count: number, value: Buffer, workers = 32): Promise<number> {
  let next = 0;
  const startedMs = performance.now();
  let lastSay = startedMs;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      for (;;) {
        const n = next++;
        if (n >= count) return;
        // Rewriting the same value is harmless: a write whose outcome was unknown (a failover
        // under load) is sent again.
        for (let attempt = 1; ; attempt++) {
          try {
            await put(`bulk/${n}`, value);
            break;
          } catch (err) {
            if (attempt >= 10) throw err;
            await sleep(200 * attempt);
          }
        }
        if (performance.now() - lastSay > 5_000) {
          lastSay = performance.now();
          say(`  ${label}: loaded ${n}/${count} values (${(mb(n * value.length) / ((lastSay - startedMs) / 1000)).toFixed(1)} MB/s)`);
        }
      }
    }),
  );
  const seconds = (performance.now() - startedMs) / 1000;
  say(`  ${label}: loaded ${count} values, ${mb(count * value.length).toFixed(0)} MB in ${seconds.toFixed(1)} s`);
  return seconds;
}

/** An open-loop foreground load that records each operation's start time and latency. */
class Foreground {
  private readonly samples: { atMs: number; latencyMs: number; kind: 'put' | 'get'; key: string }[] = [];
  private failures = 0;
  private running = true;
  private readonly done: Promise<void>;

  constructor(
    client: QuireClient,
    ratePerSecond: number,
    loaded: number,
    private readonly partitionOf: (key: string) => number,
  ) {
    const fg = Buffer.alloc(1024, 7);
    this.done = (async () => {
      const startMs = performance.now();
      let issued = 0;
      const inFlight = new Set<Promise<void>>();
      while (this.running) {
        const due = Math.floor(((performance.now() - startMs) * ratePerSecond) / 1000);
        while (issued < due && inFlight.size < 256) {
          const i = issued++;
          const atMs = performance.now();
          const kind = i % 2 === 0 ? 'put' : 'get';
          const key = kind === 'put' ? `fg/${i % 1000}` : `bulk/${(i * 7919) % loaded}`;
          const op = (kind === 'put' ? client.put(key, fg) : client.get(key)).then(
            () => void this.samples.push({ atMs, latencyMs: performance.now() - atMs, kind, key }),
            () => void this.failures++,
          );
          const tracked = op.finally(() => inFlight.delete(tracked));
          inFlight.add(tracked);
        }
        await sleep(2);
      }
      await Promise.all(inFlight);
    })();
  }

  /** Throughput and latency of the operations started in [fromMs, toMs). */
  window(fromMs: number, toMs: number): { ops: number; opsPerSecond: number; p50Ms: number; p99Ms: number } {
    const lat = Float64Array.from(this.samples.filter((s) => s.atMs >= fromMs && s.atMs < toMs).map((s) => s.latencyMs)).sort();
    return { ops: lat.length, opsPerSecond: lat.length / ((toMs - fromMs) / 1000), p50Ms: quantile(lat, 0.5), p99Ms: quantile(lat, 0.99) };
  }

  /**
   * The window's latency second by second (ops, p99, max) and its slowest operations, with their
   * start relative to `fromMs` and the wall clock (to find them in the cluster's logs).
   */
  timeline(fromMs: number, toMs: number): string[] {
    const inWindow = this.samples.filter((s) => s.atMs >= fromMs && s.atMs < toMs);
    const lines: string[] = [];
    for (let t = fromMs; t < toMs; t += 1000) {
      const lat = Float64Array.from(inWindow.filter((s) => s.atMs >= t && s.atMs < t + 1000).map((s) => s.latencyMs)).sort();
      if (lat.length === 0) continue;
      lines.push(`  +${((t - fromMs) / 1000).toFixed(0)}s ops ${lat.length} p99 ${quantile(lat, 0.99).toFixed(1)} ms max ${(lat[lat.length - 1] ?? 0).toFixed(1)} ms`);
    }
    const wallOffset = Date.now() - performance.now();
    for (const s of [...inWindow].sort((a, b) => b.latencyMs - a.latencyMs).slice(0, 15)) {
      lines.push(`  slow: +${((s.atMs - fromMs) / 1000).toFixed(2)}s (${new Date(s.atMs + wallOffset).toISOString()}) ${s.latencyMs.toFixed(0)} ms ${s.kind} ${s.key} (partition ${this.partitionOf(s.key)})`);
    }
    return lines;
  }

  get failed(): number {
    return this.failures;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }
}

/** Polls `condition` every 250 ms; resolves with the time it took, or fails after `timeoutMs`. */
async function until(what: string, timeoutMs: number, condition: () => Promise<boolean>, progress?: () => Promise<string>): Promise<number> {
  const startedMs = performance.now();
  let lastSay = startedMs;
  for (;;) {
    if (await condition()) return performance.now() - startedMs;
    if (performance.now() - startedMs > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    if (progress !== undefined && performance.now() - lastSay > 5_000) {
      lastSay = performance.now();
      say(`  ${await progress()}`);
    }
    await sleep(250);
  }
}

async function quireRun(o: OptionValues<typeof moveBenchOptions>, dir: string, count: number, value: Buffer): Promise<Record<string, unknown>> {
  say(`quire: starting 3 data nodes, replication 3, ${o.partitions} partitions`);
  const cluster = await LocalCluster.start({
    dataDir: join(dir, 'quire'),
    nodes: 3,
    coordinators: 1,
    partitions: o.partitions,
    replicationFactor: 3,
    routerPort: 0,
    etcdBin: o.etcdBin,
    // Longer than quire dev's 2 s, so a load that starves the machine does not fail nodes over.
    nodeLeaseTtlSeconds: 5,
    coordinatorLeaseTtlSeconds: 5,
    logLevel: o.logLevel,
    env: process.env,
    nodeDeadAfterMs: o.deadAfterMs,
    extraArgs: { coordinator: ['--leader-balance-delay-ms', '3600000'], datanode: ['--snapshot-bytes-per-second', String(o.snapshotMibPerSecond * 1024 * 1024), ...o.datanodeArgs.split(' ').filter((a) => a !== '')] },
    onProgress: (line) => say(`  ${line}`),
  });
  const client = new QuireClient({ routers: [...cluster.routerAddresses], requestTimeoutMs: 30_000 });
  try {
    const loadSeconds = await loadValues('quire', async (k, v) => void (await client.put(k, v)), count, value);
    const partitioner = await loadHashPartitioner();
    const fg = new Foreground(client, o.rate, count, (key) => partitioner.partitionOf(Buffer.from(key), o.partitions));
    await sleep(2_000);
    const beforeFrom = performance.now();
    await sleep(o.phaseSeconds * 1000);
    const before = fg.window(beforeFrom, performance.now());
    say(`quire: foreground before the move ${before.opsPerSecond.toFixed(0)} ops/s, p50 ${before.p50Ms.toFixed(1)} ms, p99 ${before.p99Ms.toFixed(1)} ms`);

    say('quire: adding node-4; the coordinator moves replicas onto it');
    const moveFrom = performance.now();
    await cluster.addDataNode();
    const replicasPerNode = (o.partitions * 3) / 4;
    const moveMs = await until('the move onto node-4', 3_600_000, async () => {
      const s = await client.clusterStatus();
      const n4 = s.nodes.find((n) => n.nodeId === 'node-4');
      const full = s.keyspaces.every((k) => k.partitions.every((p) => p.replicas.length === 3 && p.isr.length === 3));
      return s.moves.length === 0 && full && (n4?.replicaCount ?? 0) >= Math.floor(replicasPerNode);
    }, async () => {
      const s = await client.clusterStatus();
      return `moves in flight ${s.moves.length}, node-4 holds ${s.nodes.find((n) => n.nodeId === 'node-4')?.replicaCount ?? 0}`;
    });
    const during = fg.window(moveFrom, moveFrom + moveMs);
    for (const line of fg.timeline(moveFrom, moveFrom + moveMs)) say(line);
    const s = await client.clusterStatus();
    const moved = s.nodes.find((n) => n.nodeId === 'node-4')?.replicaCount ?? 0;
    const movedBytes = (moved * count * value.length) / o.partitions;
    const moveMBps = mb(movedBytes) / (moveMs / 1000);
    say(`quire: moved ${moved} replicas (${mb(movedBytes).toFixed(0)} MB) in ${(moveMs / 1000).toFixed(1)} s: ${moveMBps.toFixed(1)} MB/s; foreground during it ${during.opsPerSecond.toFixed(0)} ops/s, p99 ${during.p99Ms.toFixed(1)} ms`);

    say(`quire: killing node-2 for good; its replicas are re-created after ${o.deadAfterMs} ms`);
    const lostReplicas = s.nodes.find((n) => n.nodeId === 'node-2')?.replicaCount ?? 0;
    const killFrom = performance.now();
    cluster.process('node-2').kill('SIGKILL');
    const repairMs = await until('the repair after node-2 was lost', 3_600_000, async () => {
      const st = await client.clusterStatus();
      return st.moves.length === 0 && st.keyspaces.every((k) => k.partitions.every((p) => !p.replicas.includes('node-2') && p.isr.length === 3 && p.leaderLive));
    }, async () => `repair: moves in flight ${(await client.clusterStatus()).moves.length}`);
    const repairWindow = fg.window(killFrom, killFrom + repairMs);
    await fg.stop();
    say(`quire: replication factor restored ${(repairMs / 1000).toFixed(1)} s after the kill (${lostReplicas} replicas, ${mb((lostReplicas * count * value.length) / o.partitions).toFixed(0)} MB, after the ${o.deadAfterMs} ms wait)`);
    return {
      loadSeconds,
      foregroundBefore: before,
      foregroundDuringMove: during,
      movedReplicas: moved,
      movedMB: mb(movedBytes),
      moveSeconds: moveMs / 1000,
      moveMBps,
      p99Ratio: during.p99Ms / before.p99Ms,
      repairSeconds: repairMs / 1000,
      repairReplicas: lostReplicas,
      foregroundDuringRepair: repairWindow,
      foregroundFailures: fg.failed,
    };
  } finally {
    client.close();
    await cluster.stop();
  }
}

async function etcdRun(o: OptionValues<typeof moveBenchOptions>, dir: string, count: number, value: Buffer): Promise<Record<string, unknown>> {
  const members = [
    { name: 'move-peer-1', client: `127.0.0.1:${await freePort()}`, peer: `127.0.0.1:${await freePort()}` },
    { name: 'move-peer-2', client: `127.0.0.1:${await freePort()}`, peer: `127.0.0.1:${await freePort()}` },
  ] as const;
  const quota = 8 * 1024 * 1024 * 1024;
  const started: ManagedProcess[] = [];
  const spawn = (i: 0 | 1, args: string[]): ManagedProcess => {
    const memberDir = join(dir, `etcd-${i + 1}`);
    mkdirSync(memberDir, { recursive: true });
    const p = new ManagedProcess({ role: 'etcd', id: `peer-etcd-${i + 1}`, command: o.etcdBin, args, env: process.env, address: members[i].client, metricsAddress: undefined, logPath: join(memberDir, 'etcd.log') });
    p.start();
    started.push(p);
    return p;
  };
  try {
    say('etcd: starting one member');
    const first = spawn(0, etcdServerArgs({ member: members[0], dataDir: join(dir, 'etcd-1', 'data'), quotaBackendBytes: quota }));
    await waitForEtcdHealthy(members[0].client, first, 30_000);
    const client = new Etcd3({ hosts: [`http://${members[0].client}`] });
    try {
      const loadSeconds = await loadValues('etcd', async (k, v) => void (await client.put(k).value(v).exec()), count, value);
      const status = await client.maintenance.status();
      const dbBytes = Number(status.dbSize);
      say(`etcd: adding a learner member (database ${mb(dbBytes).toFixed(0)} MB)`);
      const added = await client.cluster.memberAdd({ peerURLs: [`http://${members[1].peer}`], isLearner: true });
      const args = etcdServerArgs({ member: members[1], dataDir: join(dir, 'etcd-2', 'data'), cluster: [...members], quotaBackendBytes: quota });
      args[args.indexOf('--initial-cluster-state') + 1] = 'existing';
      spawn(1, args);
      const id = added.member?.ID ?? '';
      const syncMs = await until('the etcd learner to be in sync', 3_600_000, async () => {
        try {
          await client.cluster.memberPromote({ ID: id });
          return true;
        } catch {
          // "can only promote a learner member which is in sync with leader": not yet.
          return false;
        }
      });
      const mbps = mb(dbBytes) / (syncMs / 1000);
      say(`etcd: the learner was in sync ${(syncMs / 1000).toFixed(1)} s after it started: ${mbps.toFixed(1)} MB/s of a ${mb(dbBytes).toFixed(0)} MB database`);
      return { loadSeconds, dbMB: mb(dbBytes), learnerSyncSeconds: syncMs / 1000, learnerMBps: mbps };
    } finally {
      client.close();
    }
  } finally {
    for (const p of started) await p.stop(5_000);
  }
}

async function main(): Promise<void> {
  const o = parseOptions(moveBenchOptions, process.argv.slice(2), process.env);
  const count = Math.ceil((o.dataMib * 1024 * 1024) / o.valueBytes);
  const value = Buffer.alloc(o.valueBytes, 0x61);
  const dir = mkdtempSync(join(tmpdir(), 'quire-bench-move-'));
  say(`bench-move: ${count} values of ${o.valueBytes} bytes (${o.dataMib} MiB), foreground ${o.rate} ops/s, data in ${dir}`);
  try {
    const quire = await quireRun(o, dir, count, value);
    const etcd = await etcdRun(o, dir, count, value);
    const result = { at: new Date(systemClock.nowMs()).toISOString(), options: o, quire, etcd };
    mkdirSync('bench/results', { recursive: true });
    const path = join('bench/results', `move-${result.at.replace(/[:.]/g, '-')}.json`);
    writeFileSync(path, `${JSON.stringify(result, null, 2)}\n`);
    const q = quire as { moveMBps: number; p99Ratio: number; repairSeconds: number; foregroundBefore: { p99Ms: number }; foregroundDuringMove: { p99Ms: number } };
    const e = etcd as { learnerMBps: number };
    process.stdout.write(
      [
        `move: quire ${q.moveMBps.toFixed(1)} MB/s (etcd learner ${e.learnerMBps.toFixed(1)} MB/s, ratio ${(q.moveMBps / e.learnerMBps).toFixed(2)})`,
        `foreground p99: ${q.foregroundBefore.p99Ms.toFixed(1)} ms before, ${q.foregroundDuringMove.p99Ms.toFixed(1)} ms during the move (x${q.p99Ratio.toFixed(2)})`,
        `repair: replication factor restored ${q.repairSeconds.toFixed(1)} s after the kill (with a ${o.deadAfterMs} ms dead-after)`,
        `results: ${path}`,
        '',
      ].join('\n'),
    );
  } finally {
    if (!o.keep) rmSync(dir, { recursive: true, force: true });
  }
}

await main();
