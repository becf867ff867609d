#!/usr/bin/env node
/**
 * `make bench-storage`: what one replica's durable commit costs, in CPU and wall time, today
 * and in the write-ahead-log design of RFC 0002. In one process, on one disk, phases alternating
 * round by round:
 *
 *  - `lmdb-commit`: today's commit: one StorageEngine.write() that appends `--batch` log entries
 *    over `--partitions` partitions, applies them (putValue), records each touched partition's
 *    applied index and trims its log — the leader's commit when its followers are already
 *    caught up, the cheapest shape a commit takes in the data node now.
 *  - `wal-append`: the proposed commit: the same entries as one batch of the node-wide
 *    write-ahead log (`WriteAheadLog.append`: one pwrite at the end of a preallocated segment,
 *    one fdatasync; RFC 0002 step 1, which the data node does not use yet).
 *  - `lmdb-apply`: the proposed apply: one StorageEngine.write() of `--apply-batch` putValues
 *    plus the applied indexes, as a WAL design would apply committed entries to LMDB in the
 *    background (RFC 0002).
 *
 * After the phases it reopens the log the wal-append phases wrote and times the replay: the
 * recovery time a node would pay at start for that much log.
 *
 * CPU is the process's user + system time (every thread: lmdb-js's write thread and libuv's
 * pool included). Prints a progress line per phase, then a table of medians and the per-round
 * ratios for docs/benchmarks.md, and
 * writes the raw figures as JSON under bench/results/.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, parseOptions, seededRng, type OptionValues } from '@quire/common';
import {
  encodeLogEntry,
  LogEntryKind,
  openLmdbEngine,
  openWal,
  type PartitionStore,
  type StorageEngine,
  type WalRecord,
  type WriteAheadLog,
} from '@quire/datanode/storage';
import { median } from './stats.js';

export const storageBenchOptions = {
  rounds: { kind: 'integer', flag: 'rounds', env: 'QUIRE_BENCH_ROUNDS', description: 'Rounds of every phase; figures are medians over rounds', default: 3, min: 1, max: 50 },
  durationSeconds: { kind: 'integer', flag: 'duration-seconds', env: 'QUIRE_BENCH_DURATION_SECONDS', description: 'Measured seconds per phase and round', default: 5, min: 1, max: 600 },
  batch: { kind: 'integer', flag: 'batch', env: 'QUIRE_BENCH_BATCH', description: 'Log entries per commit', default: 20, min: 1, max: 10_000 },
  applyBatch: { kind: 'integer', flag: 'apply-batch', env: 'QUIRE_BENCH_APPLY_BATCH', description: 'Entries per background apply transaction (lmdb-apply)', default: 200, min: 1, max: 100_000 },
  partitions: { kind: 'integer', flag: 'partitions', env: 'QUIRE_BENCH_PARTITIONS', description: 'Partition replicas the entries are spread over', default: 16, min: 1, max: 256 },
  keys: { kind: 'integer', flag: 'keys', env: 'QUIRE_BENCH_KEYS', description: 'Distinct keys, chosen at random per entry', default: 20_000, min: 1, max: 10_000_000 },
  valueBytes: { kind: 'integer', flag: 'value-bytes', env: 'QUIRE_BENCH_VALUE_BYTES', description: 'Value size in bytes', default: 100, min: 0, max: 1_048_576 },
  dir: { kind: 'string', flag: 'dir', env: 'QUIRE_BENCH_DIR', description: 'Directory for the LMDB environments and the write-ahead log (default: a new one under the OS temp dir)', default: '' },
  out: { kind: 'string', flag: 'out', env: 'QUIRE_BENCH_OUT', description: 'Directory for the JSON results', default: 'bench/results' },
} as const;

export type StorageBenchConfig = OptionValues<typeof storageBenchOptions>;

/** The phases, in the order of odd rounds (even rounds run them reversed). */
export const storagePhases = ['lmdb-commit', 'wal-append', 'lmdb-apply'] as const;
export type StoragePhase = (typeof storagePhases)[number];

/** One phase of one round. */
export interface PhaseSample {
  readonly phase: StoragePhase;
  readonly round: number;
  readonly commits: number;
  readonly entries: number;
  readonly seconds: number;
  /** Process CPU (user + system, all threads) over the phase, in seconds. */
  readonly cpuSeconds: number;
  /** Median wall time of one commit, in ms. */
  readonly commitMsP50: number;
}

/** A phase's figures per commit and per entry. */
export interface PhaseFigures {
  readonly commitsPerSecond: number;
  readonly commitMsP50: number;
  readonly cpuMsPerCommit: number;
  readonly cpuUsPerEntry: number;
}

export function phaseFigures(sample: PhaseSample): PhaseFigures {
  return {
    commitsPerSecond: sample.commits / sample.seconds,
    commitMsP50: sample.commitMsP50,
    cpuMsPerCommit: (sample.cpuSeconds * 1_000) / sample.commits,
    cpuUsPerEntry: (sample.cpuSeconds * 1e6) / sample.entries,
  };
}

/**
 * The storage CPU one entry costs one replica: today one lmdb-commit share; in the WAL design a
 * wal-append share plus an lmdb-apply share.
 */
export function perEntryComparison(today: PhaseFigures, walAppend: PhaseFigures, lazyApply: PhaseFigures): { todayUs: number; walUs: number; ratio: number } {
  const walUs = walAppend.cpuUsPerEntry + lazyApply.cpuUsPerEntry;
  return { todayUs: today.cpuUsPerEntry, walUs, ratio: today.cpuUsPerEntry / walUs };
}

const say = (line: string): void => void process.stderr.write(`${line}\n`);
const keyOf = (n: number): Buffer => Buffer.from(`bench-${String(n).padStart(10, '0')}`);
/** lmdb-commit keeps about this many entries per partition log, trimming the rest as the node does. */
const logKeptPerPartition = 1_000;

interface Workload {
  readonly config: StorageBenchConfig;
  readonly next: () => number;
  readonly value: Buffer;
  readonly requestId: Buffer;
}

function cpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

/** Runs `commit` back to back for the configured duration and measures it. */
async function measure(phase: StoragePhase, round: number, config: StorageBenchConfig, entriesPerCommit: number, commit: () => Promise<void>): Promise<PhaseSample> {
  // Warm-up: a second of the same commits, unmeasured.
  const warmEnd = performance.now() + 1_000;
  while (performance.now() < warmEnd) await commit();
  const latencies: number[] = [];
  const cpu0 = cpuSeconds();
  const start = performance.now();
  const end = start + config.durationSeconds * 1_000;
  for (let now = start; now < end; ) {
    await commit();
    const after = performance.now();
    latencies.push(after - now);
    now = after;
  }
  const seconds = (performance.now() - start) / 1_000;
  const sample: PhaseSample = {
    phase,
    round,
    commits: latencies.length,
    entries: latencies.length * entriesPerCommit,
    seconds,
    cpuSeconds: cpuSeconds() - cpu0,
    commitMsP50: median(latencies),
  };
  const f = phaseFigures(sample);
  say(
    `  round ${round} ${phase}: ${f.commitsPerSecond.toFixed(0)} commits/s of ${entriesPerCommit}, p50 ${f.commitMsP50.toFixed(2)} ms, CPU ${f.cpuMsPerCommit.toFixed(3)} ms/commit = ${f.cpuUsPerEntry.toFixed(1)} µs/entry`,
  );
  return sample;
}

/** Today's commit: append, apply, applied index and log trim in one engine transaction. */
function lmdbCommit(engine: StorageEngine, stores: PartitionStore[], w: Workload): () => Promise<void> {
  return () =>
    engine.write(() => {
      const touched = new Set<PartitionStore>();
      for (let i = 0; i < w.config.batch; i++) {
        const store = stores[w.next() % stores.length] as PartitionStore;
        const key = keyOf(w.next() % w.config.keys);
        const index = store.lastLogIndex() + 1;
        store.appendLog(index, encodeLogEntry(LogEntryKind.Put, 1, key, w.value, w.requestId));
        store.putValue(key, index, w.value);
        touched.add(store);
      }
      for (const store of touched) {
        const last = store.lastLogIndex();
        store.setApplied({ appliedIndex: last, epoch: 1 });
        if (last - store.firstLogIndex() + 1 > logKeptPerPartition) store.truncateLogBefore(last - logKeptPerPartition + 1, w.config.batch);
      }
    });
}

/** The proposed apply: putValues and applied indexes only, in large transactions. */
function lmdbApply(engine: StorageEngine, stores: PartitionStore[], w: Workload, appliedIndex: { value: number }): () => Promise<void> {
  return () =>
    engine.write(() => {
      const touched = new Set<PartitionStore>();
      for (let i = 0; i < w.config.applyBatch; i++) {
        const store = stores[w.next() % stores.length] as PartitionStore;
        store.putValue(keyOf(w.next() % w.config.keys), ++appliedIndex.value, w.value);
        touched.add(store);
      }
      for (const store of touched) store.setApplied({ appliedIndex: appliedIndex.value, epoch: 1 });
    });
}

/** The proposed commit: the entries as one batch of the write-ahead log, durable when it resolves. */
function walAppend(wal: WriteAheadLog, w: Workload): () => Promise<void> {
  return async () => {
    const records: WalRecord[] = [];
    for (let i = 0; i < w.config.batch; i++) {
      const partitionId = 1 + (w.next() % w.config.partitions);
      const key = keyOf(w.next() % w.config.keys);
      records.push({ type: 'append', partition: { keyspace: 'bench', partitionId }, index: i + 1, entry: encodeLogEntry(LogEntryKind.Put, 1, key, w.value, w.requestId) });
    }
    await wal.append(records);
  };
}

/** What reopening the log after the run cost: the recovery time a node pays at start. */
export interface ReplayFigures {
  readonly batches: number;
  readonly mebibytes: number;
  readonly wallMs: number;
  readonly cpuMs: number;
}

/** Reopens the write-ahead log the phases wrote and times its replay. */
async function measureReplay(walDir: string): Promise<ReplayFigures> {
  let batches = 0;
  let bytes = 0;
  const cpu0 = cpuSeconds();
  const start = performance.now();
  const { wal } = await openWal({ dir: walDir }, (batch) => {
    batches++;
    bytes += batch.bytes;
  });
  const figures: ReplayFigures = { batches, mebibytes: bytes / 2 ** 20, wallMs: performance.now() - start, cpuMs: (cpuSeconds() - cpu0) * 1_000 };
  await wal.close();
  say(`  wal-replay: ${replayLine(figures)}`);
  return figures;
}

export const replayLine = (r: ReplayFigures): string =>
  `${r.batches} batches, ${r.mebibytes.toFixed(1)} MiB replayed in ${r.wallMs.toFixed(0)} ms (${(r.mebibytes / (r.wallMs / 1_000)).toFixed(0)} MiB/s, CPU ${r.cpuMs.toFixed(0)} ms)`;

function table(samples: readonly PhaseSample[], config: StorageBenchConfig): string {
  const lines: string[] = [];
  const byPhase = (phase: StoragePhase): PhaseFigures[] => samples.filter((s) => s.phase === phase).map(phaseFigures);
  const med = (figures: PhaseFigures[], pick: (f: PhaseFigures) => number): number => median(figures.map(pick));
  const medianFigures = (phase: StoragePhase): PhaseFigures => {
    const f = byPhase(phase);
    return {
      commitsPerSecond: med(f, (x) => x.commitsPerSecond),
      commitMsP50: med(f, (x) => x.commitMsP50),
      cpuMsPerCommit: med(f, (x) => x.cpuMsPerCommit),
      cpuUsPerEntry: med(f, (x) => x.cpuUsPerEntry),
    };
  };
  const entriesOf = (phase: StoragePhase): number => (phase === 'lmdb-apply' ? config.applyBatch : config.batch);
  lines.push('| phase | entries/commit | commits/s | commit p50 ms | CPU ms/commit | CPU µs/entry |', '|---|---:|---:|---:|---:|---:|');
  for (const phase of storagePhases) {
    const f = medianFigures(phase);
    lines.push(`| ${phase} | ${entriesOf(phase)} | ${f.commitsPerSecond.toFixed(0)} | ${f.commitMsP50.toFixed(2)} | ${f.cpuMsPerCommit.toFixed(3)} | ${f.cpuUsPerEntry.toFixed(1)} |`);
  }
  const rounds = [...new Set(samples.map((s) => s.round))];
  const ratios = rounds.map((round) => {
    const one = (phase: StoragePhase): PhaseFigures => phaseFigures(samples.find((s) => s.round === round && s.phase === phase) as PhaseSample);
    return perEntryComparison(one('lmdb-commit'), one('wal-append'), one('lmdb-apply'));
  });
  lines.push(
    '',
    `Storage CPU per entry and replica: today (lmdb-commit) ${median(ratios.map((r) => r.todayUs)).toFixed(1)} µs; ` +
      `WAL design (wal-append + lmdb-apply) ${median(ratios.map((r) => r.walUs)).toFixed(1)} µs; ` +
      `today/WAL ${median(ratios.map((r) => r.ratio)).toFixed(2)}× (rounds ${ratios.map((r) => r.ratio.toFixed(2)).join(', ')}).`,
  );
  return lines.join('\n');
}

async function main(): Promise<void> {
  const config = parseOptions(storageBenchOptions, process.argv.slice(2), process.env);
  const dir = config.dir === '' ? mkdtempSync(join(tmpdir(), 'quire-bench-storage-')) : config.dir;
  mkdirSync(dir, { recursive: true });
  const rng = seededRng(42);
  const workload: Workload = {
    config,
    next: () => rng.below(0x7fffffff),
    value: Buffer.alloc(config.valueBytes, 7),
    requestId: Buffer.alloc(16, 9),
  };
  say(`Storage commit benchmark in ${dir}: ${config.rounds} rounds × ${storagePhases.length} phases × ${config.durationSeconds} s`);
  const today = openLmdbEngine({ path: join(dir, 'lmdb-commit'), partitionsMax: config.partitions });
  const applied = openLmdbEngine({ path: join(dir, 'lmdb-apply'), partitionsMax: config.partitions });
  const { wal } = await openWal({ dir: join(dir, 'wal') }, () => undefined);
  const samples: PhaseSample[] = [];
  let replay: ReplayFigures | undefined;
  try {
    const todayStores = Array.from({ length: config.partitions }, (_, i) => today.partition('bench', i + 1));
    const appliedStores = Array.from({ length: config.partitions }, (_, i) => applied.partition('bench', i + 1));
    const appliedIndex = { value: 0 };
    const commits: Record<StoragePhase, { entries: number; commit: () => Promise<void> }> = {
      'lmdb-commit': { entries: config.batch, commit: lmdbCommit(today, todayStores, workload) },
      'wal-append': { entries: config.batch, commit: walAppend(wal, workload) },
      'lmdb-apply': { entries: config.applyBatch, commit: lmdbApply(applied, appliedStores, workload, appliedIndex) },
    };
    for (let round = 1; round <= config.rounds; round++) {
      const order = round % 2 === 1 ? storagePhases : [...storagePhases].reverse();
      for (const phase of order) {
        const { entries, commit } = commits[phase];
        samples.push(await measure(phase, round, config, entries, commit));
      }
    }
    await wal.close();
    replay = await measureReplay(join(dir, 'wal'));
  } finally {
    await wal.close();
    await today.close();
    await applied.close();
    if (config.dir === '') rmSync(dir, { recursive: true, force: true });
  }
  const at = new Date().toISOString();
  mkdirSync(config.out, { recursive: true });
  const file = join(config.out, `storage-${at.replaceAll(':', '-').replace('.', '-')}.json`);
  writeFileSync(file, `${JSON.stringify({ at, config, node: process.version, samples, replay }, null, 2)}\n`);
  const replayNote = replay === undefined ? '' : `\nWAL replay at open (the log the wal-append phases wrote): ${replayLine(replay)}.\n`;
  process.stdout.write(`\n${table(samples, config)}\n${replayNote}\nRaw figures: ${file}\n`);
}

// Run as a program, not when a test imports the helpers above.
if (process.argv[1]?.endsWith('storage-commit.js') === true) {
  main().catch((err: unknown) => {
    say(err instanceof ConfigError ? `quire bench-storage: ${err.message}` : `quire bench-storage failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(err instanceof ConfigError ? 64 : 1);
  });
}
