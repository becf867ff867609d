#!/usr/bin/env node
/**
 * `make bench`: durable put and get throughput and latency of Quire through its router, with
 * etcd (one member, Debian's etcd-server) doing the same operations in the same run as the
 * peer. `--replication N` gives Quire's keyspace N replicas per partition and makes the peer an
 * etcd cluster of N members (`--etcd-members` overrides), all on 127.0.0.1. Phases alternate
 * between the two systems round by round so that drift in the shared machine's load affects
 * both; the report quotes per-round medians and the median of the per-round Quire/etcd ratios.
 * Each round ends with a fixed-rate put phase per system (`--cpu-rate`, default 2000/s) that
 * measures the CPU time its processes and its client spend per put: on a shared machine that
 * figure moves far less than throughput. It depends on the rate (Quire spends CPU per storage
 * transaction, and batches grow with load), so figures compare only at the same rate.
 * Prints progress, Markdown tables for docs/benchmarks.md, and writes the raw figures as JSON
 * under bench/results/.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalCluster, ManagedProcess, etcdServerArgs, freePort, waitForEtcdHealthy } from '@quire/cli';
import { ConfigError, seededRng } from '@quire/common';
import { isSingleCopy, loadBenchConfig, systemLabels, type BenchConfig } from './config.js';
import { canReadProcessCpu, processesCpuSeconds, selfCpuSeconds } from './cpu.js';
import { runFixedRate, runLoad, type LoadResult } from './load.js';
import { median, quantile } from './stats.js';
import { etcdTarget, quireTarget, type KvTarget } from './targets.js';

type Operation = 'put' | 'get';

/** What every measured phase reports of its completed and failed operations. */
interface MeasuredFigures {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly ops: number;
  readonly errors: number;
  readonly firstError: string | undefined;
}

function measuredFigures(result: LoadResult): MeasuredFigures {
  return {
    p50Ms: quantile(result.latenciesUs, 0.5) / 1_000,
    p99Ms: quantile(result.latenciesUs, 0.99) / 1_000,
    ops: result.ops,
    errors: result.errors,
    firstError: result.firstError,
  };
}

/** The progress line's note on failed operations ('' when none failed). */
const errorsNote = (f: MeasuredFigures): string => (f.errors > 0 ? `, ${f.errors} errors (first: ${f.firstError ?? ''})` : '');

interface PhaseFigures extends MeasuredFigures {
  readonly system: string;
  readonly operation: Operation;
  readonly round: number;
  readonly opsPerSecond: number;
}

/** CPU per completed put of one system. */
interface CpuPerOp {
  /** CPU (user + system) of the system's processes per completed put, in µs. */
  readonly serverCpuUsPerOp: number;
  /** CPU of the benchmark process (the system's client library) per completed put, in µs. */
  readonly clientCpuUsPerOp: number;
}

/** One system's fixed-rate put phase: the CPU it spent per put. */
interface CpuFigures extends MeasuredFigures, CpuPerOp {
  readonly system: string;
  readonly round: number;
  readonly ratePerSecond: number;
  /** Puts started in the measured period, and how many the rate asked for. */
  readonly started: number;
  readonly due: number;
}

const say = (line: string): void => void process.stderr.write(`${line}\n`);

/** 16-byte keys: "bench-" and ten digits. */
const keyOf = (n: number): Buffer => Buffer.from(`bench-${String(n).padStart(10, '0')}`);

/** `count` free ports on 127.0.0.1, all different. */
async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

/**
 * Starts the peer etcd: one member (in `dir`, as it always was) or a cluster of
 * `config.etcdMembers` members (each in `dir`/member-N with its own log). Every process is
 * pushed to `started` as soon as it runs, so the caller stops it whatever happens next.
 */
async function startPeerEtcd(config: BenchConfig, dir: string, started: ManagedProcess[]): Promise<string[]> {
  const count = config.etcdMembers;
  const ports = await freePorts(2 * count);
  const members = Array.from({ length: count }, (_, i) => ({
    name: count === 1 ? 'bench-peer' : `bench-peer-${i + 1}`,
    client: `127.0.0.1:${ports[2 * i]}`,
    peer: `127.0.0.1:${ports[2 * i + 1]}`,
  }));
  const processes = members.map((member, i) => {
    const memberDir = count === 1 ? dir : join(dir, `member-${i + 1}`);
    mkdirSync(memberDir, { recursive: true });
    return new ManagedProcess({
      role: 'etcd',
      id: count === 1 ? 'peer-etcd' : `peer-etcd-${i + 1}`,
      command: config.etcdBin,
      args: etcdServerArgs({ member, dataDir: join(memberDir, 'data'), ...(count === 1 ? {} : { cluster: members }) }),
      env: process.env,
      address: member.client,
      metricsAddress: undefined,
      logPath: join(memberDir, 'etcd.log'),
    });
  });
  for (const etcd of processes) {
    etcd.start();
    started.push(etcd);
  }
  // A member reports healthy only once the cluster has a leader, so every member is started first.
  await Promise.all(processes.map((etcd, i) => waitForEtcdHealthy(members[i]?.client ?? '', etcd, 30_000)));
  return members.map((m) => m.client);
}

async function load(target: KvTarget, config: BenchConfig, value: Buffer): Promise<void> {
  let done = 0;
  const started = Date.now();
  // Writes every key once, in order, through `inFlight` workers.
  await Promise.all(
    Array.from({ length: config.inFlight }, async () => {
      for (;;) {
        const n = done++;
        if (n >= config.keys) return;
        await target.put(keyOf(n), value);
        if (n > 0 && n % 5_000 === 0) say(`  ${target.label}: loaded ${n}/${config.keys} keys (${((Date.now() - started) / 1000).toFixed(1)} s)`);
      }
    }),
  );
  say(`  ${target.label}: loaded ${config.keys} keys in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

async function phase(target: KvTarget, operation: Operation, round: number, config: BenchConfig, value: Buffer): Promise<PhaseFigures> {
  // Seeded key choice, so runs and systems are comparable.
  const rng = seededRng(round * 7919 + (operation === 'put' ? 1 : 2));
  const next = (): number => rng.below(config.keys);
  const result: LoadResult = await runLoad({
    inFlight: config.inFlight,
    warmupMs: config.warmupSeconds * 1_000,
    durationMs: config.durationSeconds * 1_000,
    op: operation === 'put' ? () => target.put(keyOf(next()), value) : () => target.get(keyOf(next())),
    onProgress: (ops, elapsedMs) => say(`    ${target.label} ${operation}: ${ops} ops in ${(elapsedMs / 1000).toFixed(0)} s`),
    progressIntervalMs: 5_000,
  });
  const figures: PhaseFigures = {
    system: target.name,
    operation,
    round,
    opsPerSecond: result.ops / (result.elapsedMs / 1_000),
    ...measuredFigures(result),
  };
  say(
    `  round ${round} ${target.label} ${operation}: ${figures.opsPerSecond.toFixed(0)} ops/s, p50 ${figures.p50Ms.toFixed(2)} ms, p99 ${figures.p99Ms.toFixed(2)} ms` + errorsNote(figures),
  );
  return figures;
}

/**
 * Drives puts at `config.cpuRate` per second and measures the CPU time of `pids()` (every
 * process of the system) and of this process over the measured period, per completed put.
 */
async function cpuPhase(target: KvTarget, pids: () => number[], round: number, config: BenchConfig, value: Buffer): Promise<CpuFigures> {
  const rng = seededRng(round * 7919 + 3);
  const sample = (): { server: number; client: number } => ({ server: processesCpuSeconds(pids()), client: selfCpuSeconds() });
  let before = { server: 0, client: 0 };
  let used = { server: 0, client: 0 };
  const result = await runFixedRate({
    ratePerSecond: config.cpuRate,
    inFlightMax: config.inFlight,
    warmupMs: config.warmupSeconds * 1_000,
    durationMs: config.durationSeconds * 1_000,
    op: () => target.put(keyOf(rng.below(config.keys)), value),
    onMeasureStart: () => (before = sample()),
    onMeasureEnd: () => {
      const after = sample();
      used = { server: after.server - before.server, client: after.client - before.client };
    },
  });
  const perOpUs = (seconds: number): number => (result.ops === 0 ? Number.NaN : (seconds * 1e6) / result.ops);
  const figures: CpuFigures = {
    system: target.name,
    round,
    ratePerSecond: config.cpuRate,
    started: result.started,
    due: result.due,
    ...measuredFigures(result),
    serverCpuUsPerOp: perOpUs(used.server),
    clientCpuUsPerOp: perOpUs(used.client),
  };
  say(
    `  round ${round} ${target.label} puts at ${config.cpuRate}/s: CPU ${figures.serverCpuUsPerOp.toFixed(0)} µs/put in its processes + ${figures.clientCpuUsPerOp.toFixed(0)} µs/put in the client, p50 ${figures.p50Ms.toFixed(2)} ms` +
      (fellBehind(figures) ? `, FELL BEHIND (${figures.started} of ${figures.due} puts started)` : '') +
      errorsNote(figures),
  );
  return figures;
}

/** A fixed-rate phase that started fewer than 99 % of its puts did not hold the rate. */
const fellBehind = (f: CpuFigures): boolean => f.started < 0.99 * f.due;

interface CpuSummary {
  readonly ratePerSecond: number;
  readonly quire: CpuPerOp;
  readonly etcd: CpuPerOp;
  /** Median over rounds of (etcd CPU per put ÷ Quire CPU per put), processes and client together. */
  readonly etcdToQuireCpuRatio: number;
  /** Phases (system and round) that did not hold the rate (their figures are then at a lower rate). */
  readonly roundsBehind: number;
}

function summarizeCpu(list: readonly CpuFigures[], ratePerSecond: number): CpuSummary {
  const of = (system: string): CpuFigures[] => list.filter((f) => f.system === system);
  const figures = (l: CpuFigures[]): CpuPerOp => ({
    serverCpuUsPerOp: median(l.map((f) => f.serverCpuUsPerOp)),
    clientCpuUsPerOp: median(l.map((f) => f.clientCpuUsPerOp)),
  });
  const total = (f: CpuFigures | undefined): number => (f === undefined ? Number.NaN : f.serverCpuUsPerOp + f.clientCpuUsPerOp);
  const quire = of('quire');
  const etcd = of('etcd');
  const ratios = quire.map((q) => total(etcd.find((e) => e.round === q.round)) / total(q));
  return { ratePerSecond, quire: figures(quire), etcd: figures(etcd), etcdToQuireCpuRatio: median(ratios), roundsBehind: list.filter(fellBehind).length };
}

function cpuTable(s: CpuSummary, config: BenchConfig): string {
  const f0 = (n: number): string => n.toFixed(0);
  const { quire, etcd } = systemLabels(config);
  return [
    `| puts at ${s.ratePerSecond}/s | ${quire} CPU µs/put: processes + client | ${etcd} CPU µs/put: processes + client | etcd/Quire CPU per put |`,
    '|---|---:|---:|---:|',
    `| durable put | ${f0(s.quire.serverCpuUsPerOp)} + ${f0(s.quire.clientCpuUsPerOp)} | ${f0(s.etcd.serverCpuUsPerOp)} + ${f0(s.etcd.clientCpuUsPerOp)} | ${s.etcdToQuireCpuRatio.toFixed(2)}× |`,
  ].join('\n');
}

function versionOf(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8' }).split('\n')[0]?.trim() ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

interface Summary {
  readonly operation: Operation;
  readonly quire: { opsPerSecond: number; p50Ms: number; p99Ms: number };
  readonly etcd: { opsPerSecond: number; p50Ms: number; p99Ms: number };
  /** Median over rounds of (Quire ops/s ÷ etcd ops/s) measured in the same round. */
  readonly throughputRatio: number;
}

function summarize(phases: readonly PhaseFigures[], operation: Operation): Summary {
  const of = (system: string): PhaseFigures[] => phases.filter((p) => p.system === system && p.operation === operation);
  const figures = (list: PhaseFigures[]): Summary['quire'] => ({
    opsPerSecond: median(list.map((p) => p.opsPerSecond)),
    p50Ms: median(list.map((p) => p.p50Ms)),
    p99Ms: median(list.map((p) => p.p99Ms)),
  });
  const quire = of('quire');
  const etcd = of('etcd');
  const ratios = quire.map((q) => q.opsPerSecond / (etcd.find((e) => e.round === q.round)?.opsPerSecond ?? Number.NaN));
  return { operation, quire: figures(quire), etcd: figures(etcd), throughputRatio: median(ratios) };
}

function table(summaries: readonly Summary[], config: BenchConfig): string {
  const f0 = (n: number): string => n.toFixed(0);
  const f2 = (n: number): string => n.toFixed(2);
  const { quire, etcd } = systemLabels(config);
  const lines = [
    `| operation (${config.inFlight} in flight) | ${quire} ops/s | ${quire} p50 / p99 ms | ${etcd} ops/s | ${etcd} p50 / p99 ms | Quire/etcd throughput |`,
    '|---|---:|---:|---:|---:|---:|',
    ...summaries.map(
      (s) =>
        `| ${s.operation === 'put' ? 'durable put' : 'get'} | ${f0(s.quire.opsPerSecond)} | ${f2(s.quire.p50Ms)} / ${f2(s.quire.p99Ms)} | ${f0(s.etcd.opsPerSecond)} | ${f2(s.etcd.p50Ms)} / ${f2(s.etcd.p99Ms)} | ${f2(s.throughputRatio)}× |`,
    ),
  ];
  return lines.join('\n');
}

async function main(): Promise<void> {
  const config = loadBenchConfig(process.argv.slice(2), process.env);
  const dir = mkdtempSync(join(tmpdir(), 'quire-bench-'));
  const value = Buffer.alloc(config.valueBytes, 'v');
  let cluster: LocalCluster | undefined;
  const peers: ManagedProcess[] = [];
  const targets: KvTarget[] = [];
  const labels = systemLabels(config);
  const singleCopy = isSingleCopy(config);
  if (config.cpuRate > 0 && !canReadProcessCpu()) {
    throw new ConfigError('--cpu-rate needs per-process CPU times from /proc (Linux); pass --cpu-rate 0 to skip the CPU phase');
  }
  try {
    say(`quire bench: ${config.rounds} round(s) × (put, get) × (${labels.quire}, ${labels.etcd}), ${config.durationSeconds} s each after ${config.warmupSeconds} s warm-up; data in ${dir}`);
    say(`Starting Quire (${config.nodes} data nodes${singleCopy ? '' : `, replication ${config.replication}`}, storage engine ${config.storageEngine})`);
    cluster = await LocalCluster.start({
      dataDir: join(dir, 'quire'),
      nodes: config.nodes,
      coordinators: 1,
      partitions: 16,
      ...(config.replication === 1 ? {} : { replicationFactor: config.replication }),
      routerPort: 0,
      etcdBin: config.etcdBin,
      nodeLeaseTtlSeconds: 5,
      coordinatorLeaseTtlSeconds: 5,
      logLevel: 'info',
      env: process.env,
      extraArgs: { datanode: ['--storage-engine', config.storageEngine, ...config.datanodeFlags.split(' ').filter((f) => f !== '')] },
      onProgress: (m) => say(`  ${m}`),
    });
    say(config.etcdMembers === 1 ? 'Starting the peer etcd (one member)' : `Starting the peer etcd (a cluster of ${config.etcdMembers} members)`);
    const etcdEndpoints = await startPeerEtcd(config, join(dir, 'peer-etcd'), peers);
    const quire = singleCopy ? quireTarget(cluster.routerAddress) : quireTarget(cluster.routerAddress, labels.quire);
    const etcdPeer = singleCopy ? etcdTarget(etcdEndpoints) : etcdTarget(etcdEndpoints, labels.etcd);
    targets.push(quire, etcdPeer);

    say(`Loading ${config.keys} keys (${config.valueBytes}-byte values) into each system`);
    await load(quire, config, value);
    await load(etcdPeer, config, value);

    const phases: PhaseFigures[] = [];
    const cpuPhases: CpuFigures[] = [];
    const pidsOf = (processes: readonly ManagedProcess[]) => (): number[] => processes.flatMap((p) => (p.pid === undefined ? [] : [p.pid]));
    const quirePids = pidsOf(cluster.all);
    const etcdPids = pidsOf(peers);
    for (let round = 1; round <= config.rounds; round++) {
      say(`Round ${round}/${config.rounds}`);
      // Alternate which system goes first so slow drift in the machine's load hits both.
      const order = round % 2 === 1 ? [quire, etcdPeer] : [etcdPeer, quire];
      for (const operation of ['put', 'get'] as const) {
        for (const target of order) phases.push(await phase(target, operation, round, config, value));
      }
      if (config.cpuRate > 0) {
        for (const target of order) cpuPhases.push(await cpuPhase(target, target === quire ? quirePids : etcdPids, round, config, value));
      }
    }

    const summaries = [summarize(phases, 'put'), summarize(phases, 'get')];
    const cpuSummary = config.cpuRate > 0 ? summarizeCpu(cpuPhases, config.cpuRate) : undefined;
    const errors = phases.reduce((n, p) => n + p.errors, 0) + cpuPhases.reduce((n, p) => n + p.errors, 0);
    const environment = {
      date: new Date().toISOString(),
      node: process.version,
      etcd: versionOf(config.etcdBin, ['--version']),
      cpus: cpus().length,
      commit: `${versionOf('git', ['rev-parse', '--short', 'HEAD'])}${versionOf('git', ['status', '--porcelain', '--untracked-files=no']) === '' ? '' : '+uncommitted changes'}`,
    };
    mkdirSync(config.out, { recursive: true });
    const outFile = join(config.out, `kv-${environment.date.replace(/[:.]/g, '-')}.json`);
    // config records the replication factor and the etcd member count (resolved) of the run.
    writeFileSync(outFile, `${JSON.stringify({ config, environment, summaries, phases, cpuSummary, cpuPhases }, null, 2)}\n`);

    const replicationFlags = singleCopy ? '' : ` --replication ${config.replication} --etcd-members ${config.etcdMembers}`;
    const command = `make bench  # node bench/dist/main.js --rounds ${config.rounds} --duration-seconds ${config.durationSeconds} --in-flight ${config.inFlight} --keys ${config.keys} --value-bytes ${config.valueBytes} --nodes ${config.nodes}${replicationFlags} --cpu-rate ${config.cpuRate}${config.storageEngine === 'wal' ? '' : ` --storage-engine ${config.storageEngine}`}${config.datanodeFlags === '' ? '' : ` --datanode-flags='${config.datanodeFlags}'`}`;
    const quireSetup = `${config.nodes} data nodes, 16 partitions${config.replication === 1 ? '' : ` with ${config.replication} replicas each`}, fsync before every acknowledgement`;
    const etcdSetup = config.etcdMembers === 1 ? 'one member' : `${config.etcdMembers} members on 127.0.0.1`;
    process.stdout.write(
      `\n${command}\n${environment.date}, commit ${environment.commit}, Node ${environment.node}, ${environment.etcd}, ${environment.cpus} CPUs; ` +
        `medians of ${config.rounds} rounds of ${config.durationSeconds} s; 16-byte keys, ${config.valueBytes}-byte values, ${config.keys} keys; ` +
        `Quire: ${quireSetup}; etcd: ${etcdSetup}\n\n${table(summaries, config)}\n\n` +
        (cpuSummary === undefined
          ? ''
          : `${cpuTable(cpuSummary, config)}\n\nCPU per put: user + system time of every process of the system (Quire: data nodes, router, coordinator, its metadata etcd; etcd: its members) and of the client in this process, over ${config.durationSeconds} s of puts at ${config.cpuRate}/s, per completed put; medians of ${config.rounds} rounds${cpuSummary.roundsBehind > 0 ? `; ${cpuSummary.roundsBehind} phase(s) fell behind the rate` : ''}.\n\n`) +
        `Errors: ${errors}. Raw figures: ${outFile}\n`,
    );
    if (errors > 0) process.exitCode = 1;
  } finally {
    for (const t of targets) t.close();
    await Promise.all(peers.map((p) => p.stop(10_000)));
    await cluster?.stop();
    if (!config.keepData) rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  say(err instanceof ConfigError ? `quire bench: ${err.message}` : `quire bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(err instanceof ConfigError ? 64 : 1);
});
