/**
 * The WAL engine (RFC 0002): the PartitionStore interface over a node-wide write-ahead log and
 * LMDB. Log mutations (appendLog, truncateLogAfter, setEpochHistory, setLeaderTenure, and the
 * reset a finished snapshot install implies) become WAL records; data mutations (putValue,
 * deleteValue, setApplied, the snapshot install's data and marks) are kept in memory as one
 * *layer* per commit and partition, and written to LMDB later by an *apply transaction* that
 * covers many commits. write() resolves once its WAL batch is durable: one pwrite and one
 * fdatasync instead of an LMDB commit with its two syncs.
 *
 * Layout: `<walDir>/` holds the segments (wal/wal.ts); the LMDB environment at `lmdbPath` holds
 * per partition a data sub-database `d/<keyspace>/<id>` and, in `meta`, the applied state, the
 * checkpointed epoch history and leader tenure, the snapshot-install mark and the WAL floor
 * (`wal-floor/<keyspace>/<id>`: no WAL entry below it is needed). `meta` also records which
 * engine wrote the directory (`storage-format`), so neither engine opens the other's layout.
 *
 * Critical invariants (RFC 0002):
 *  - W1: write() resolves only after the WAL batch with the body's records is durable, and, for
 *    a body that began, loaded or finished a snapshot install (data the log cannot rebuild),
 *    only after an apply transaction holding that body's layer is durable too.
 *  - An apply transaction takes only commits whose WAL batch is durable, oldest first, so LMDB
 *    never holds the data of an entry whose log record could still be lost: after a crash,
 *    LMDB's applied index is at most the end of the replayed log, and the entries above it are
 *    in the log (the replica re-applies them, as it does after any restart).
 *  - W3: a partition's WAL floor rises only to min(what truncateLogBefore asked, LMDB's durable
 *    applied index + 1); it is written in the apply transaction, and the log index learns it —
 *    which is what lets segments go — only once that transaction is durable.
 *  - A finished install's reset record is durable in the WAL before the apply transaction
 *    that clears the install mark, so replay never joins the pre-install log to the new state.
 *  - WAL retention: once the live WAL exceeds walRetentionBytes, the quiet partitions pinning
 *    its oldest segment (no commit of theirs in flight, no install pending, at most a quarter
 *    segment of entries) have their whole indexed run copied into one new batch after a
 *    relocate record, which replay reads as the run's new place (log-index.ts). The batch is
 *    atomic and ordered after every earlier commit, so replay rebuilds the same run from it
 *    whether or not the old segments are still there. A run too long to copy is reported
 *    (onLogTrimWanted): the replica trims its log to what it must keep, and its floor rises.
 *  - Reads see the newest layer that holds the key, then LMDB; a layer of beginSnapshotInstall
 *    hides everything older. A body that throws leaves nothing: its layer, its records and its
 *    changes to the stores' in-memory state are undone.
 *  - Dropping a replica (dropPartition) is one apply transaction: it writes the partition's
 *    earlier layers, drops its data sub-database (freeing its maxDbs slot), removes every meta key
 *    of it and writes its drop mark `wal-dropped/<keyspace>/<id>` = S, the sequence of the last
 *    WAL batch appended when the body ran. Every WAL record of the replica is in a batch at or
 *    below S (the body's own records of it are discarded, and it is never relocated while being
 *    dropped), every record of a later replica of the same partition above it, and replay skips
 *    the partition's records at or below its mark: before that transaction the replica reopens
 *    whole (its WAL records still pin their segments), after it nothing of it comes back. write()
 *    resolves once that transaction is durable; the log index then forgets the partition, so its
 *    segments can go. A mark is removed once no segment holds a batch at or below it.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { open, type RootDatabase } from 'lmdb';
import { assert, compareBytes, CorruptReplicaError } from '@quire/common';
import {
  decodeAppliedState,
  decodeStoredValue,
  encodeAppliedState,
  encodeStoredValue,
  storedKey,
  storedVersion,
  type AppliedState,
} from './codec.js';
import type {
  IndexedLogEntry,
  PartitionStore,
  RangeQuery,
  SnapshotReader,
  StorageEngine,
  StoredEntry,
  StoredPartition,
} from './engine.js';
import {
  addPartition,
  checkAppliedState,
  checkLogRead,
  checkSnapshotChunk,
  claimStorageFormat,
  continuedInstall,
  encodeMetaU64,
  LmdbSnapshotReader,
  metaPartitions,
  openExistingDb,
  pageBytes,
  partitionMetaKeys,
  partitionMetaPrefixes,
  rangeOver,
  readMetaU64,
  sameState,
  storedRangeOptions,
  subDatabasePartitions,
  type BinaryDb,
  type MetaDb,
  type PendingInstall,
  type SnapshotOverlay,
} from './lmdb-engine.js';
import { WalLogIndex } from './wal/log-index.js';
import type { WalPartition, WalRecord } from './wal/records.js';
import { openWal, type WalLocation, type WriteAheadLog } from './wal/wal.js';

const floorPrefix = 'wal-floor/';
/** `wal-dropped/<keyspace>/<id>` -> [u64 S]: the partition's WAL records in batches up to S belong to a deleted replica. */
const droppedPrefix = 'wal-dropped/';
const installMark = Buffer.from([1]);
/** The value of `storage-format` in a directory this engine wrote. */
export const walStorageFormat = 'wal-v1';
const snapshotReadersMaxDefault = 4;
/** Apply transaction cadence when WalEngineOptions does not say (RFC 0002 "Commit path"). */
export const applyIntervalMsDefault = 20;
export const applyMutationsMaxDefault = 2_000;
/** WalEngineOptions.walRetentionBytes when not given. */
export const walRetentionBytesDefault = 1024 * 1024 * 1024;
/** Decoded batches kept for log reads (catch-up and restart read runs of entries of one batch). */
const readCacheBatches = 8;
/** Bytes a relocated append takes besides its entry (type, partition, index, length), rounded up. */
const relocatedRecordOverhead = 64;

/** Options for the WAL engine. */
export interface WalEngineOptions {
  /** Directory of the LMDB environment (the materialised state). */
  readonly lmdbPath: string;
  /** Directory of the WAL segments. */
  readonly walDir: string;
  /** Most partitions this node can hold. */
  readonly partitionsMax: number;
  /**
   * Commit without fsync, in the WAL and in LMDB. BREAKS DURABILITY: set only by the
   * `datanode.storage.skipFsync` failpoint (the chaos suite's negative control).
   */
  readonly skipFsync?: boolean;
  /** Awaited before each WAL fdatasync; a rejection fails it (WalOptions.beforeSync, a failpoint). */
  readonly beforeWalSync?: () => Promise<void> | undefined;
  /** Most snapshot readers open at once (default 4). */
  readonly snapshotReadersMax?: number;
  /** An apply transaction starts at most this long after a durable commit (default 20 ms). */
  readonly applyIntervalMs?: number;
  /** ...or as soon as this many data mutations wait (default 2 000). */
  readonly applyMutationsMax?: number;
  /** WAL segment size (default 64 MiB). */
  readonly segmentBytes?: number;
  /**
   * Live WAL (segments from the oldest one still needed to the current one) beyond which the
   * partitions that pin the oldest segment are copied forward (relocate records), so a partition
   * that stopped writing does not keep every later segment alive (default 1 GiB).
   */
  readonly walRetentionBytes?: number;
  /**
   * Called (repeatedly, while it lasts) for a partition that pins the oldest segment past
   * walRetentionBytes with a run too long to copy forward: the replica should trim its log to
   * what it must keep (PartitionReplica.trimLog), which lets its floor, and the segment, go.
   */
  readonly onLogTrimWanted?: (p: WalPartition) => void;
  /**
   * Called when an apply transaction or a segment deletion fails: LMDB or the WAL is in an
   * unknown state, and the process must stop (as for a failed commit). Later writes reject.
   */
  readonly onFatal?: (err: unknown) => void;
}

/** A data mutation waiting for an apply: the stored key and value, or undefined for a delete. */
interface Mutation {
  readonly stored: Buffer;
  readonly raw: Buffer | undefined;
}

/** One commit's changes to one partition's materialised state. */
interface Layer {
  readonly commit: Commit;
  readonly muts: Map<string, Mutation>;
  /** beginSnapshotInstall ran: LMDB's data and every older layer are void. */
  cleared: boolean;
  applied: AppliedState | undefined;
  /** true: set the install mark; false: clear it. */
  installMark: boolean | undefined;
  /** A Buffer: checkpoint it; null: remove the checkpoint. */
  epochHistory: Buffer | null | undefined;
  leaderTenure: number | undefined;
}

/** What a body changed in one store, for its records and for undoing a throw. */
interface BodyChanges {
  readonly saved: StoreState;
  readonly log: WalRecord[];
  reset: number | undefined;
}

/** A partition dropped by a body (dropPartition), for the apply transaction that deletes it. */
interface Drop {
  readonly partition: WalPartition;
  readonly id: string;
  /** The data sub-database, if it exists. */
  readonly data: BinaryDb | undefined;
  /** The partition's open store, if any (dropped with it). */
  readonly store: WalPartitionStore | undefined;
  /** The last WAL batch appended when the body ran: the drop mark. */
  readonly sequence: number;
  /** What replay found of the partition (restored if the body throws). */
  readonly replayed: ReplayedMeta | undefined;
}

/** One write() body's work. */
interface Commit {
  readonly seq: number;
  readonly stores: Map<WalPartitionStore, BodyChanges>;
  readonly layers: Map<WalPartitionStore, Layer>;
  /** Entries this commit appended (removed from the stores' tails once indexed). */
  readonly appended: { store: WalPartitionStore; index: number; entry: Buffer }[];
  mutations: number;
  /** Partitions the body dropped, in call order. */
  readonly drops: Drop[];
  /** The body wrote data the log cannot rebuild (a snapshot install, a drop): wait for its apply. */
  needsApply: boolean;
  durable: boolean;
  /** The WAL batch's sequence, when the commit wrote records. */
  sequence: number | undefined;
}

/** The in-memory state of a store that a throwing body must restore. */
interface StoreState {
  readonly appliedState: AppliedState;
  readonly first: number;
  readonly last: number;
  readonly tail: Map<number, Buffer>;
  readonly epochHistory: Buffer | undefined;
  readonly leaderTenure: number;
  readonly install: PendingInstall | undefined;
  readonly floorWanted: number;
}

/** What replay found of a partition besides its entries. */
interface ReplayedMeta {
  /** Newest epoch history since the last reset; null when a reset came after the last one. */
  epochHistory: Buffer | null | undefined;
  leaderTenure: number | undefined;
}

/** What the engine shares with its stores. */
interface EngineCore {
  readonly wal: WriteAheadLog;
  readonly index: WalLogIndex;
  readonly openReaders: Set<LmdbSnapshotReader>;
  readonly snapshotReadersMax: number;
  /** The body running now, if any. */
  current: Commit | undefined;
  /** Reads an entry of a durable batch. */
  readEntry(p: WalPartition, index: number): Buffer | undefined;
}

interface StoreDbs {
  readonly root: RootDatabase;
  readonly data: BinaryDb;
  readonly meta: MetaDb;
  readonly appliedKey: string;
  readonly epochHistoryKey: string;
  readonly installKey: string;
  readonly leaderTenureKey: string;
  readonly floorKey: string;
}

const latin1 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');

class WalPartitionStore implements PartitionStore {
  readonly partition: WalPartition;
  private appliedState: AppliedState;
  /** LMDB's applied state as of the last durable apply transaction. */
  private durableApplied: AppliedState;
  private first: number;
  private last: number;
  /** Entries whose batch is not indexed yet (not durable, or durable a moment ago). */
  private tail = new Map<number, Buffer>();
  private epochHistoryValue: Buffer | undefined;
  private leaderTenureValue: number;
  private install: PendingInstall | undefined;
  /** The lowest entry still wanted (truncateLogBefore); the WAL floor follows it once applied. */
  private floorWanted: number;
  /** The WAL floor durable in LMDB. */
  private floorStored: number;
  /** Layers not yet durable in LMDB, oldest first. */
  private layers: Layer[] = [];
  /** Set once dropPartition deleted the partition in a body (cleared if that body throws). */
  dropped = false;

  constructor(
    readonly keyspace: string,
    readonly partitionId: number,
    readonly dbs: StoreDbs,
    private readonly core: EngineCore,
    replayed: ReplayedMeta | undefined,
  ) {
    this.partition = { keyspace, partitionId };
    const name = `Partition ${keyspace}/${partitionId}`;
    const raw = dbs.meta.get(dbs.appliedKey);
    this.appliedState = raw === undefined ? { appliedIndex: 0, epoch: 0 } : decodeAppliedState(raw);
    this.durableApplied = this.appliedState;
    const mark = dbs.meta.get(dbs.installKey);
    assert(mark === undefined || mark.equals(installMark), `${name}: install mark of ${mark?.length} bytes`);
    this.install = mark === undefined ? undefined : { state: undefined, lastKey: undefined, restartRequired: true };
    this.leaderTenureValue = Math.max(readMetaU64(dbs.meta, dbs.leaderTenureKey), replayed?.leaderTenure ?? 0);
    this.floorStored = readMetaU64(dbs.meta, dbs.floorKey);
    // An install cut off by a restart voids the log, and the WAL's records with it.
    const checkpoint = dbs.meta.get(dbs.epochHistoryKey);
    this.epochHistoryValue = this.install !== undefined || replayed?.epochHistory === undefined ? checkpoint : (replayed.epochHistory ?? undefined);
    const applied = this.appliedState.appliedIndex;
    const f = core.index.firstIndex(this.partition);
    const l = core.index.lastIndex(this.partition);
    if (this.install !== undefined || f === undefined || l === undefined || l < f) {
      this.first = applied + 1;
      this.last = applied;
      if (this.install === undefined && f !== undefined && l !== undefined && l < f) {
        // An empty run that continues after l: it must continue right after the applied index.
        if (f !== applied + 1) throw new CorruptReplicaError(`${name}: the WAL's log of it is empty and continues at ${f}, but its applied index is ${applied}`);
      }
    } else {
      // The shape of engine.ts: one gap-free run reaching from at most applied + 1 to at least applied.
      if (f > applied + 1) throw new CorruptReplicaError(`${name}: log starts at ${f}, leaving a gap after applied index ${applied} (in the WAL)`);
      if (l < applied) throw new CorruptReplicaError(`${name}: log ends at ${l}, below applied index ${applied} (in the WAL)`);
      this.first = f;
      this.last = l;
    }
    this.floorWanted = this.first;
  }

  // ---- reads ----

  /** The newest pending mutation of `stored`, 'hidden' when a clear hides LMDB, undefined to read LMDB. */
  private pending(stored: Buffer): Mutation | 'hidden' | undefined {
    if (this.layers.length === 0) return undefined;
    const k = latin1(stored);
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const layer = this.layers[i] as Layer;
      const m = layer.muts.get(k);
      if (m !== undefined) return m;
      if (layer.cleared) return 'hidden';
    }
    return undefined;
  }

  private rawValue(key: Buffer): Buffer | undefined {
    const stored = storedKey(key);
    const m = this.pending(stored);
    if (m === 'hidden') return undefined;
    if (m !== undefined) return m.raw;
    return this.dbs.data.get(stored);
  }

  get(key: Buffer): StoredEntry | undefined {
    this.assertLive('get');
    const raw = this.rawValue(key);
    if (raw === undefined) return undefined;
    const v = decodeStoredValue(raw);
    return { key, value: v.value, version: v.version };
  }

  version(key: Buffer): number {
    this.assertLive('version');
    const raw = this.rawValue(key);
    return raw === undefined ? 0 : storedVersion(raw);
  }

  approximateDataBytes(): number {
    this.assertLive('approximateDataBytes');
    return pageBytes(this.dbs.data);
  }

  range(query: RangeQuery): StoredEntry[] {
    this.assertLive('range');
    const options = storedRangeOptions(query);
    if (this.layers.length === 0) return rangeOver(this.dbs.data.getRange(options), query);
    const start = latin1(options.start);
    const end = options.end === undefined ? undefined : latin1(options.end);
    const { pending, hidden } = newestPending(this.layers, (k) => k >= start && (end === undefined || k < end));
    return rangeOver(mergeStored(hidden ? [] : this.dbs.data.getRange(options), pending), query);
  }

  applied(): AppliedState {
    return this.appliedState;
  }

  firstLogIndex(): number {
    return this.first;
  }

  lastLogIndex(): number {
    return this.last;
  }

  logEntries(fromIndex: number, toIndexInclusive: number, bytesMax: number): IndexedLogEntry[] {
    this.assertLive('logEntries');
    checkLogRead(fromIndex, toIndexInclusive, bytesMax, this.first);
    const out: IndexedLogEntry[] = [];
    let bytes = 0;
    for (let index = fromIndex; index <= Math.min(toIndexInclusive, this.last); index++) {
      const entry = this.logEntry(index);
      assert(entry !== undefined, `Log gap: entry ${index} of ${this.keyspace}/${this.partitionId} is missing in ${this.first}..${this.last}`);
      out.push({ index, entry });
      bytes += entry.length;
      if (bytes >= bytesMax) break;
    }
    return out;
  }

  logEntry(index: number): Buffer | undefined {
    this.assertLive('logEntry');
    if (index < this.first || index > this.last) return undefined;
    return this.tail.get(index) ?? this.core.readEntry(this.partition, index);
  }

  epochHistory(): Buffer | undefined {
    return this.epochHistoryValue;
  }

  leaderTenure(): number {
    return this.leaderTenureValue;
  }

  snapshotInstallPending(): boolean {
    return this.install !== undefined;
  }

  snapshotReader(): SnapshotReader {
    this.assertLive('snapshotReader');
    this.assertNoInstall('snapshotReader');
    assert(this.core.openReaders.size < this.core.snapshotReadersMax, `More than ${this.core.snapshotReadersMax} snapshot readers open at once`);
    // LMDB's view plus the committed layers it does not hold yet, frozen now: a layer LMDB
    // already holds too reads the same either way. A body's own layer is not committed.
    const current = this.core.current;
    const layers = this.layers.filter((layer) => layer.commit !== current);
    const reader = new LmdbSnapshotReader(this.dbs, (closed) => this.core.openReaders.delete(closed), layers.length === 0 ? undefined : snapshotOverlay(layers));
    this.core.openReaders.add(reader);
    return reader;
  }

  // ---- mutations (inside write()) ----

  /** This body's changes to the store, recording the state to restore if the body throws. */
  private changes(method: string): BodyChanges {
    this.assertLive(method);
    const commit = this.core.current;
    assert(commit !== undefined, `PartitionStore.${method} called outside a write() body`);
    let changes = commit.stores.get(this);
    if (changes === undefined) {
      changes = { saved: this.state(), log: [], reset: undefined };
      commit.stores.set(this, changes);
    }
    return changes;
  }

  /** This body's layer of data mutations. */
  private layer(): Layer {
    const commit = this.core.current as Commit;
    let layer = commit.layers.get(this);
    if (layer === undefined) {
      layer = { commit, muts: new Map(), cleared: false, applied: undefined, installMark: undefined, epochHistory: undefined, leaderTenure: undefined };
      commit.layers.set(this, layer);
      this.layers.push(layer);
    }
    return layer;
  }

  private mutate(stored: Buffer, raw: Buffer | undefined): void {
    const layer = this.layer();
    layer.muts.set(latin1(stored), { stored, raw });
    layer.commit.mutations++;
  }

  putValue(key: Buffer, version: number, value: Buffer): void {
    this.changes('putValue');
    this.assertNoInstall('putValue');
    this.mutate(storedKey(key), encodeStoredValue(key, version, value));
  }

  deleteValue(key: Buffer): void {
    this.changes('deleteValue');
    this.assertNoInstall('deleteValue');
    this.mutate(storedKey(key), undefined);
  }

  appendLog(index: number, entry: Buffer): void {
    const changes = this.changes('appendLog');
    this.assertNoInstall('appendLog');
    assert(index === this.last + 1, `Log append at ${index}, but the log ends at ${this.last}`);
    changes.log.push({ type: 'append', partition: this.partition, index, entry });
    (this.core.current as Commit).appended.push({ store: this, index, entry });
    this.tail.set(index, entry);
    this.last = index;
  }

  setApplied(state: AppliedState): void {
    this.changes('setApplied');
    this.assertNoInstall('setApplied');
    assert(state.appliedIndex >= this.appliedState.appliedIndex, 'Applied index must not go backwards');
    const logEmpty = this.first > this.last;
    assert(logEmpty || state.appliedIndex <= this.last, `Applied index ${state.appliedIndex} beyond the log end ${this.last}: only logged entries can be applied`);
    const layer = this.layer();
    layer.applied = state;
    layer.commit.mutations++;
    this.appliedState = state;
    if (logEmpty) {
      this.first = state.appliedIndex + 1;
      this.last = state.appliedIndex;
    }
  }

  truncateLogBefore(index: number, entriesMax: number): number {
    this.changes('truncateLogBefore');
    this.assertNoInstall('truncateLogBefore');
    assert(index <= this.appliedState.appliedIndex + 1, `Log truncation below ${index} would drop entries after applied index ${this.appliedState.appliedIndex}`);
    // Only the view moves here: the WAL keeps the entries until LMDB holds their data durably
    // (writeFloor), since until then they are what rebuilds it after a crash.
    const upTo = Math.min(index, this.last + 1, this.first + entriesMax);
    if (upTo <= this.first) return 0;
    const removed = upTo - this.first;
    for (let i = this.first; i < upTo; i++) this.tail.delete(i);
    this.first = upTo;
    this.floorWanted = Math.max(this.floorWanted, upTo);
    return removed;
  }

  truncateLogAfter(index: number): number {
    const changes = this.changes('truncateLogAfter');
    this.assertNoInstall('truncateLogAfter');
    assert(Number.isSafeInteger(index), `Log truncation after ${index}`);
    const applied = this.appliedState.appliedIndex;
    assert(index >= applied, `Log truncation after ${index} would drop entries up to applied index ${applied} (RFC invariant 6)`);
    if (index >= this.last) return 0;
    const removed = this.last - index;
    for (let i = index + 1; i <= this.last; i++) this.tail.delete(i);
    changes.log.push({ type: 'truncate-after', partition: this.partition, index });
    this.last = index;
    if (this.first > index) this.first = index + 1;
    return removed;
  }

  setEpochHistory(encoded: Buffer): void {
    this.changes('setEpochHistory');
    assert(encoded.length > 0, 'Epoch history must not be empty');
    const copy = Buffer.from(encoded);
    const layer = this.layer();
    layer.epochHistory = copy;
    layer.commit.mutations++;
    this.epochHistoryValue = copy;
  }

  setLeaderTenure(epoch: number): void {
    this.changes('setLeaderTenure');
    assert(Number.isSafeInteger(epoch) && epoch >= this.leaderTenureValue, `Leader tenure of ${this.keyspace}/${this.partitionId} would go from ${this.leaderTenureValue} to ${epoch}`);
    const layer = this.layer();
    layer.leaderTenure = epoch;
    layer.commit.mutations++;
    this.leaderTenureValue = epoch;
  }

  beginSnapshotInstall(): void {
    const changes = this.changes('beginSnapshotInstall');
    const layer = this.layer();
    layer.muts.clear();
    layer.cleared = true;
    layer.installMark = true;
    layer.epochHistory = null;
    // Written so that storedPartitions() lists a partition whose first install is pending.
    layer.applied = this.appliedState;
    layer.commit.needsApply = true;
    // The log is void from here; the reset that finishSnapshotInstall writes ends it in the WAL.
    changes.log.length = 0;
    this.tail.clear();
    this.epochHistoryValue = undefined;
    this.install = { state: undefined, lastKey: undefined, restartRequired: false };
    this.first = this.appliedState.appliedIndex + 1;
    this.last = this.appliedState.appliedIndex;
  }

  installSnapshot(state: AppliedState, entries: Iterable<StoredEntry>): void {
    this.changes('installSnapshot');
    const install = this.pendingInstall('installSnapshot');
    const { chunk, lastKey } = checkSnapshotChunk(install, state, entries);
    for (const entry of chunk) {
      const key = Buffer.from(entry.key);
      this.mutate(storedKey(key), encodeStoredValue(key, entry.version, entry.value));
    }
    // No apply is awaited here: a chunk needs no durability of its own. The install stays marked
    // pending until finishSnapshotInstall, whose write() waits for an apply that covers every
    // chunk before it (applies run in commit order); a crash before that discards the install.
    // So a chunk's write() ends without an LMDB sync, and the node's other writes do not queue
    // behind one per chunk.
    this.install = { state, lastKey, restartRequired: false };
  }

  finishSnapshotInstall(state: AppliedState): void {
    const changes = this.changes('finishSnapshotInstall');
    const install = this.pendingInstall('finishSnapshotInstall');
    checkAppliedState(state);
    if (install.state === undefined) {
      const some = this.range({ start: Buffer.alloc(0), end: Buffer.alloc(0), limit: 1, bytesMax: 1, keysOnly: true });
      assert(some.length === 0, 'Snapshot install finished with data but without a chunk naming its state');
    } else {
      assert(sameState(install.state, state), `Snapshot install of ${install.state.appliedIndex} finished as ${state.appliedIndex}`);
    }
    assert(this.first > this.last, 'Log entries appeared during a snapshot install');
    const layer = this.layer();
    layer.applied = state;
    layer.installMark = false;
    layer.commit.needsApply = true;
    changes.reset = state.appliedIndex;
    this.appliedState = state;
    this.install = undefined;
    this.first = state.appliedIndex + 1;
    this.last = state.appliedIndex;
    this.floorWanted = this.first;
  }

  // ---- engine hooks ----

  /** The state a throwing body must restore. */
  private state(): StoreState {
    return {
      appliedState: this.appliedState,
      first: this.first,
      last: this.last,
      tail: new Map(this.tail),
      epochHistory: this.epochHistoryValue,
      leaderTenure: this.leaderTenureValue,
      install: this.install,
      floorWanted: this.floorWanted,
    };
  }

  /** Undoes a body that threw. */
  rollback(commit: Commit, saved: StoreState): void {
    this.appliedState = saved.appliedState;
    this.first = saved.first;
    this.last = saved.last;
    this.tail = saved.tail;
    this.epochHistoryValue = saved.epochHistory;
    this.leaderTenureValue = saved.leaderTenure;
    this.install = saved.install;
    this.floorWanted = saved.floorWanted;
    if (this.layers.at(-1)?.commit === commit) this.layers.pop();
  }

  /** The body's records, in the order replay must see them. */
  records(changes: BodyChanges, layer: Layer | undefined): WalRecord[] {
    const out: WalRecord[] = [];
    // Dropped by this body: its records would land above the drop mark and come back on replay.
    if (this.dropped) return out;
    if (changes.reset !== undefined) out.push({ type: 'reset', partition: this.partition, index: changes.reset });
    out.push(...changes.log);
    // The newest of each, from the body's layer (null: an install began, nothing to record).
    if (layer?.epochHistory instanceof Buffer) out.push({ type: 'epoch-history', partition: this.partition, bytes: layer.epochHistory });
    if (layer?.leaderTenure !== undefined) out.push({ type: 'leader-tenure', partition: this.partition, epoch: layer.leaderTenure });
    return out;
  }

  /** An appended entry is in the log index now: the tail drops it unless a later body replaced it. */
  indexed(index: number, entry: Buffer): void {
    if (this.tail.get(index) === entry) this.tail.delete(index);
  }

  /** Writes `layer` into LMDB (inside the apply transaction). */
  writeLayer(layer: Layer): void {
    const { data, meta } = this.dbs;
    if (layer.cleared) data.clearSync();
    for (const m of layer.muts.values()) {
      if (m.raw === undefined) data.removeSync(m.stored);
      else data.putSync(m.stored, m.raw);
    }
    if (layer.applied !== undefined) meta.putSync(this.dbs.appliedKey, encodeAppliedState(layer.applied));
    if (layer.installMark === true) meta.putSync(this.dbs.installKey, installMark);
    if (layer.installMark === false) meta.removeSync(this.dbs.installKey);
    if (layer.epochHistory === null) meta.removeSync(this.dbs.epochHistoryKey);
    else if (layer.epochHistory !== undefined) meta.putSync(this.dbs.epochHistoryKey, layer.epochHistory);
    if (layer.leaderTenure !== undefined) meta.putSync(this.dbs.leaderTenureKey, encodeMetaU64(layer.leaderTenure));
  }

  /**
   * Writes the WAL floor that goes with the layers being applied (inside the apply transaction),
   * if it moves: what truncateLogBefore asked, at most the applied index the transaction makes
   * durable plus one; after a reset, the reset's index plus one. Returns the floor written.
   */
  writeFloor(layers: readonly Layer[]): number | undefined {
    // A dropped partition's floor key goes with it (the drop, later in the same transaction).
    if (this.dropped) return undefined;
    let applied = this.durableApplied.appliedIndex;
    let floor = this.floorStored;
    for (const layer of layers) {
      if (layer.installMark === false && layer.applied !== undefined) floor = layer.applied.appliedIndex + 1; // a reset
      if (layer.applied !== undefined) applied = layer.applied.appliedIndex;
    }
    if (layers.some((l) => l.installMark === true) && !layers.some((l) => l.installMark === false)) return undefined;
    const next = Math.max(floor, Math.min(this.floorWanted, applied + 1));
    if (next === this.floorStored) return undefined;
    this.dbs.meta.putSync(this.dbs.floorKey, encodeMetaU64(next));
    return next;
  }

  /** `layers` (the oldest of this store's) are durable in LMDB. */
  layersApplied(layers: readonly Layer[], floor: number | undefined): void {
    for (const layer of layers) {
      assert(this.layers[0] === layer, 'Layers are applied oldest first');
      this.layers.shift();
      if (layer.applied !== undefined) this.durableApplied = layer.applied;
    }
    if (floor !== undefined) this.floorStored = floor;
  }

  get installPending(): boolean {
    return this.install !== undefined;
  }

  private pendingInstall(method: string): PendingInstall {
    return continuedInstall(this.install, `${this.keyspace}/${this.partitionId}`, method);
  }

  private assertNoInstall(method: string): void {
    assert(this.install === undefined, `PartitionStore.${method} on ${this.keyspace}/${this.partitionId} while a snapshot install is pending`);
  }

  private assertLive(method: string): void {
    assert(!this.dropped, `PartitionStore.${method} on ${this.keyspace}/${this.partitionId}, which was dropped`);
  }
}

/** The writes of committed layers, oldest first, as a snapshot reader's overlay. */
function snapshotOverlay(layers: readonly Layer[]): SnapshotOverlay {
  const applied = layers.findLast((layer) => layer.applied !== undefined)?.applied;
  const installMark = layers.findLast((layer) => layer.installMark !== undefined)?.installMark;
  const { pending, hidden } = newestPending(layers, () => true);
  return {
    applied,
    installMark,
    merge: (lmdb, start) => mergeStored(hidden ? [] : lmdb, start === undefined ? pending : pending.filter((m) => compareBytes(m.stored, start) >= 0)),
  };
}

/**
 * The newest pending mutation of every key `wanted` accepts, sorted by stored key, looking
 * through `layers` newest first and stopping at a clear; `hidden` when a clear hides LMDB.
 */
function newestPending(layers: readonly Layer[], wanted: (key: string) => boolean): { pending: Mutation[]; hidden: boolean } {
  const newest = new Map<string, Mutation>();
  let hidden = false;
  for (let i = layers.length - 1; i >= 0 && !hidden; i--) {
    const layer = layers[i] as Layer;
    for (const [k, m] of layer.muts) if (!newest.has(k) && wanted(k)) newest.set(k, m);
    hidden = layer.cleared;
  }
  // Stored keys as latin1 strings compare as their bytes do.
  const pending = [...newest].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, m]) => m);
  return { pending, hidden };
}

/** LMDB's entries merged with pending mutations (sorted by stored key); a pending one wins. */
function* mergeStored(lmdb: Iterable<{ key: Buffer; value: Buffer }>, pending: readonly Mutation[]): Generator<{ key: Buffer; value: Buffer }> {
  let i = 0;
  const take = function* (): Generator<{ key: Buffer; value: Buffer }> {
    const m = pending[i++] as Mutation;
    if (m.raw !== undefined) yield { key: m.stored, value: m.raw };
  };
  for (const entry of lmdb) {
    while (i < pending.length && compareBytes((pending[i] as Mutation).stored, entry.key) < 0) yield* take();
    if (i < pending.length && compareBytes((pending[i] as Mutation).stored, entry.key) === 0) {
      yield* take();
      continue;
    }
    yield entry;
  }
  while (i < pending.length) yield* take();
}

/** Opens the node's WAL engine: LMDB, then the WAL's replay into the log index. */
export async function openWalEngine(options: WalEngineOptions): Promise<StorageEngine> {
  // In a new data directory the WAL directory exists before LMDB does: it marks the directory as
  // this engine's (engine-choice.ts). An existing one is claimed below first, so a refusal leaves
  // another engine's directory as it was.
  if (!existsSync(options.lmdbPath)) await mkdir(options.walDir, { recursive: true });
  const root: RootDatabase = open({
    path: options.lmdbPath,
    maxDbs: options.partitionsMax + 4,
    overlappingSync: false,
    ...(options.skipFsync === true ? { noSync: true } : {}),
    compression: false,
    keyEncoding: 'binary',
    encoding: 'binary',
  });
  const meta = root.openDB<Buffer, string>('meta', { keyEncoding: 'ordered-binary', encoding: 'binary' });
  try {
    claimStorageFormat(meta, options.lmdbPath, walStorageFormat, '--storage-engine wal');
  } catch (err) {
    await root.close();
    throw err;
  }

  const index = new WalLogIndex();
  for (const { keyspace, partitionId, key } of metaPartitions(meta, floorPrefix)) index.startFloor({ keyspace, partitionId }, readMetaU64(meta, key));
  /** Drop marks by partition (keyspace/id): its records in batches up to the mark are of a deleted replica. */
  const dropMarks = new Map<string, number>();
  for (const { keyspace, partitionId, key } of metaPartitions(meta, droppedPrefix)) dropMarks.set(`${keyspace}/${partitionId}`, readMetaU64(meta, key));
  const replayed = new Map<string, ReplayedMeta>();
  const { wal } = await openWal({ dir: options.walDir, ...(options.segmentBytes === undefined ? {} : { segmentBytes: options.segmentBytes }), skipSync: options.skipFsync === true, ...(options.beforeWalSync === undefined ? {} : { beforeSync: options.beforeWalSync }) }, (batch) => {
    const records = dropMarks.size === 0 ? batch.records : batch.records.filter((r) => (dropMarks.get(`${r.partition.keyspace}/${r.partition.partitionId}`) ?? 0) < batch.sequence);
    index.apply(batch, records);
    for (const record of records) {
      if (record.type !== 'epoch-history' && record.type !== 'leader-tenure' && record.type !== 'reset') continue;
      const name = `${record.partition.keyspace}/${record.partition.partitionId}`;
      const m = replayed.get(name) ?? { epochHistory: undefined, leaderTenure: undefined };
      if (record.type === 'epoch-history') m.epochHistory = record.bytes;
      if (record.type === 'reset') m.epochHistory = null;
      if (record.type === 'leader-tenure') m.leaderTenure = Math.max(m.leaderTenure ?? 0, record.epoch);
      replayed.set(name, m);
    }
  });

  const stores = new Map<string, WalPartitionStore>();
  /** Partitions dropped by a body whose apply transaction is not durable yet, by keyspace/id. */
  const dropping = new Map<string, Drop>();
  const readCache = new Map<number, Map<string, Buffer>>();
  const core: EngineCore = {
    wal,
    index,
    openReaders: new Set(),
    snapshotReadersMax: options.snapshotReadersMax ?? snapshotReadersMaxDefault,
    current: undefined,
    readEntry(p, at) {
      const place = index.place(p, at);
      if (place === undefined) return undefined;
      let entries = readCache.get(place.batch.sequence);
      if (entries === undefined) {
        entries = new Map();
        for (const record of wal.readSync(place.batch)) {
          if (record.type === 'append') entries.set(`${record.partition.keyspace}/${record.partition.partitionId}/${record.index}`, record.entry);
        }
        if (readCache.size >= readCacheBatches) readCache.delete(readCache.keys().next().value as number);
        readCache.set(place.batch.sequence, entries);
      }
      return entries.get(`${p.keyspace}/${p.partitionId}/${at}`);
    },
  };
  assert(core.snapshotReadersMax >= 1, 'snapshotReadersMax must be positive');
  const applyIntervalMs = options.applyIntervalMs ?? applyIntervalMsDefault;
  const applyMutationsMax = options.applyMutationsMax ?? applyMutationsMaxDefault;

  /** Commits not yet durable in LMDB, oldest first. */
  const commits: Commit[] = [];
  let nextSeq = 1;
  const newCommit = (): Commit => ({ seq: nextSeq++, stores: new Map(), layers: new Map(), appended: [], drops: [], mutations: 0, needsApply: false, durable: false, sequence: undefined });
  /** Resolves once every batch appended so far is durable. */
  let walTail: Promise<unknown> = Promise.resolve();
  let waitingMutations = 0;
  let timer: NodeJS.Timeout | undefined;
  let applying: Promise<void> | undefined;
  let broken: unknown;
  let closed = false;
  /** Waiters for an apply that covers a commit (snapshot installs). */
  const applyWaiters: { seq: number; resolve: () => void; reject: (err: unknown) => void }[] = [];

  const fail = (err: unknown): void => {
    if (broken !== undefined) return;
    broken = err;
    for (const w of applyWaiters.splice(0)) w.reject(err);
    options.onFatal?.(err);
  };

  /**
   * Appends a commit's records to the WAL in call order; once the batch is durable, indexes them
   * and marks the commit durable. A failed append stops the engine (fail) and rejects.
   */
  const logCommit = async (commit: Commit, records: WalRecord[]): Promise<void> => {
    const appended = wal.append(records);
    walTail = appended.catch(() => undefined);
    let location: WalLocation;
    try {
      location = await appended;
    } catch (err) {
      fail(err);
      throw err;
    }
    commit.sequence = location.sequence;
    index.apply(location, records);
    for (const { store, index: at, entry } of commit.appended) store.indexed(at, entry);
    commit.durable = true;
  };

  /** Deletes a dropped partition from LMDB (inside the apply transaction, after its earlier layers). */
  const writeDrop = (drop: Drop): void => {
    drop.data?.dropSync();
    const keys = { ...partitionMetaKeys(drop.id), floorKey: `${floorPrefix}${drop.id}` };
    for (const key of Object.values(keys)) meta.removeSync(key);
    meta.putSync(`${droppedPrefix}${drop.id}`, encodeMetaU64(drop.sequence));
  };

  /** One apply transaction over the durable commits at the front of the queue. */
  const applyOnce = async (): Promise<void> => {
    let n = 0;
    while (n < commits.length && (commits[n] as Commit).durable) n++;
    if (n === 0) return;
    const taken = commits.slice(0, n);
    const byStore = new Map<WalPartitionStore, Layer[]>();
    let sequence = 0;
    for (const commit of taken) {
      for (const store of commit.stores.keys()) if (!byStore.has(store)) byStore.set(store, []);
      for (const [store, layer] of commit.layers) byStore.get(store)?.push(layer);
      if (commit.sequence !== undefined) sequence = commit.sequence;
    }
    const floors = new Map<WalPartitionStore, number | undefined>();
    const drops = taken.flatMap((commit) => commit.drops);
    // Marks no segment needs any more: every batch at or below them is deleted.
    const firstKept = wal.segments()[0]?.firstSequence ?? wal.lastSequence + 1;
    const obsoleteMarks = [...dropMarks].filter(([, mark]) => mark < firstKept).map(([id]) => id);
    await root.transaction(() => {
      for (const commit of taken) {
        for (const [store, layer] of commit.layers) store.writeLayer(layer);
        for (const drop of commit.drops) writeDrop(drop);
      }
      for (const [store, layers] of byStore) floors.set(store, store.writeFloor(layers));
      for (const id of obsoleteMarks) if (!drops.some((d) => d.id === id)) meta.removeSync(`${droppedPrefix}${id}`);
    });
    commits.splice(0, n);
    for (const commit of taken) waitingMutations -= commit.mutations;
    for (const id of obsoleteMarks) dropMarks.delete(id);
    for (const [store, layers] of byStore) {
      const floor = floors.get(store);
      store.layersApplied(layers, floor);
      if (store.dropped) continue;
      if (floor !== undefined && !store.installPending) index.setFloor(store.partition, Math.max(floor, index.floor(store.partition)));
      if (sequence > 0) index.checkpointed(store.partition, sequence);
    }
    for (const drop of drops) {
      // Durable: nothing of the replica is needed from the WAL any more, and its partition may be opened again.
      dropMarks.set(drop.id, drop.sequence);
      index.forget(drop.partition);
      dropping.delete(drop.id);
    }
    const lastSeq = (taken.at(-1) as Commit).seq;
    for (let i = applyWaiters.length - 1; i >= 0; i--) {
      const w = applyWaiters[i] as (typeof applyWaiters)[number];
      if (w.seq <= lastSeq) {
        applyWaiters.splice(i, 1);
        w.resolve();
      }
    }
    // W3: the floors just made durable are what free segments.
    const keepFrom = index.segmentsNeededFrom(wal.currentSegment);
    if (keepFrom > (wal.segments()[0]?.segment ?? keepFrom)) await wal.deleteSegmentsBefore(keepFrom);
    relocateIfOver();
  };

  const walRetentionBytes = options.walRetentionBytes ?? walRetentionBytesDefault;
  assert(walRetentionBytes >= 2 * wal.batchBytesMax, `WAL retention of ${walRetentionBytes} bytes is less than two segments of ${wal.batchBytesMax}`);
  let relocating = false;

  /** Runs found too long to copy, by partition: the run's first and last index then. */
  const tooLong = new Map<string, string>();

  /**
   * The records that copy partition `p`'s indexed run forward, if it is quiet and its entries
   * take at most `bytesMax`; 'busy' when it is not quiet, 'long' when its run takes more.
   */
  const relocation = (p: WalPartition, bytesMax: number): { records: WalRecord[]; bytes: number } | 'busy' | 'long' => {
    const name = `${p.keyspace}/${p.partitionId}`;
    // Copying a replica being dropped forward would put its entries above its drop mark.
    if (dropping.has(name)) return 'busy';
    const store = stores.get(name);
    if (store !== undefined && (store.installPending || commits.some((c) => !c.durable && c.stores.has(store)))) return 'busy';
    const first = index.firstIndex(p);
    const last = index.lastIndex(p);
    if (first === undefined || last === undefined || last < first) return 'busy';
    const run = `${first}..${last}`;
    if (tooLong.get(name) === run) return 'long';
    const records: WalRecord[] = [{ type: 'relocate', partition: p, index: first }];
    let bytes = 0;
    for (let i = first; i <= last; i++) {
      const entry = core.readEntry(p, i);
      assert(entry !== undefined, `WAL entry ${i} of ${name} is indexed but not found`);
      bytes += entry.length + relocatedRecordOverhead;
      if (bytes > bytesMax) {
        tooLong.set(name, run);
        return 'long';
      }
      records.push({ type: 'append', partition: p, index: i, entry });
    }
    tooLong.delete(name);
    return { records, bytes };
  };

  /** Copies the quiet partitions pinning the oldest segment forward when the live WAL is over its bound. */
  function relocateIfOver(): void {
    if (relocating || broken !== undefined || closed) return;
    const oldest = index.segmentsNeededFrom(wal.currentSegment);
    if ((wal.currentSegment - oldest + 1) * wal.batchBytesMax <= walRetentionBytes) return;
    const bytesMax = Math.floor(wal.batchBytesMax / 4);
    const records: WalRecord[] = [];
    let bytes = 0;
    for (const p of index.pinning(oldest)) {
      const copy = relocation(p, bytesMax);
      if (copy === 'long') options.onLogTrimWanted?.(p);
      if (typeof copy === 'string' || bytes + copy.bytes > bytesMax) continue;
      records.push(...copy.records);
      bytes += copy.bytes;
    }
    if (records.length === 0) return;
    relocating = true;
    const commit = newCommit();
    commits.push(commit);
    logCommit(commit, records).then(
      () => {
        relocating = false;
        scheduleApply();
      },
      () => {
        relocating = false;
      },
    );
  }

  /** Runs an apply transaction now, or right after the one running; one at a time. */
  let again: Promise<void> | undefined;
  const apply = (): Promise<void> => {
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    if (applying !== undefined) {
      again ??= applying.then(() => {
        again = undefined;
        return apply();
      });
      return again;
    }
    const run = applyOnce()
      .catch((err: unknown) => fail(err))
      .finally(() => {
        applying = undefined;
        // Commits that became durable while it ran wait for the next interval.
        if (commits[0]?.durable === true) scheduleApply();
      });
    applying = run;
    return run;
  };

  function scheduleApply(): void {
    if (broken !== undefined || closed) return;
    if (waitingMutations >= applyMutationsMax) {
      void apply();
    } else {
      timer ??= setTimeout(() => {
        timer = undefined;
        void apply();
      }, applyIntervalMs);
    }
  }

  return {
    partition(keyspace: string, partitionId: number): PartitionStore {
      const id = `${keyspace}/${partitionId}`;
      let store = stores.get(id);
      if (store === undefined) {
        assert(!dropping.has(id), `Partition ${id} opened while its drop is not durable yet`);
        assert(stores.size < options.partitionsMax, `More than ${options.partitionsMax} partitions on one node`);
        const data = root.openDB<Buffer, Buffer>(`d/${id}`, { keyEncoding: 'binary', encoding: 'binary' });
        store = new WalPartitionStore(
          keyspace,
          partitionId,
          {
            root,
            data,
            meta,
            ...partitionMetaKeys(id),
            floorKey: `${floorPrefix}${id}`,
          },
          core,
          replayed.get(id),
        );
        stores.set(id, store);
      }
      return store;
    },

    storedPartitions(): StoredPartition[] {
      const seen = new Map<string, StoredPartition>();
      for (const prefix of [...partitionMetaPrefixes, floorPrefix]) for (const p of metaPartitions(meta, prefix)) addPartition(seen, p);
      for (const p of subDatabasePartitions(root)) addPartition(seen, p);
      // A partition whose writes are all still in the WAL has no applied state in LMDB yet.
      for (const p of index.partitions()) addPartition(seen, p);
      for (const store of stores.values()) addPartition(seen, store);
      for (const drop of dropping.values()) addPartition(seen, drop.partition);
      return [...seen.values()];
    },

    dropPartition(keyspace: string, partitionId: number): void {
      const commit = core.current;
      assert(commit !== undefined, 'StorageEngine.dropPartition called outside a write() body');
      const id = `${keyspace}/${partitionId}`;
      assert(!dropping.has(id), `Partition ${id} dropped twice`);
      const { appliedKey } = partitionMetaKeys(id);
      for (const reader of core.openReaders) assert(reader.appliedKey !== appliedKey, `Partition ${id} dropped while a snapshot reader of it is open`);
      const store = stores.get(id);
      const drop: Drop = {
        partition: { keyspace, partitionId },
        id,
        data: store?.dbs.data ?? openExistingDb(root, `d/${id}`),
        store,
        sequence: wal.lastSequence,
        replayed: replayed.get(id),
      };
      if (store !== undefined) store.dropped = true;
      stores.delete(id);
      replayed.delete(id);
      tooLong.delete(id);
      dropping.set(id, drop);
      commit.drops.push(drop);
      // The deletion is data the log cannot rebuild: write() waits for its apply transaction.
      commit.needsApply = true;
    },

    async write<T>(body: () => T): Promise<T> {
      if (broken !== undefined) throw broken;
      if (closed) throw new Error('The storage engine is closed');
      assert(core.current === undefined, 'write() bodies do not nest');
      const commit = newCommit();
      core.current = commit;
      let result: T;
      try {
        result = body();
      } catch (err) {
        for (const [store, changes] of [...commit.stores].reverse()) store.rollback(commit, changes.saved);
        for (const drop of [...commit.drops].reverse()) {
          dropping.delete(drop.id);
          if (drop.replayed !== undefined) replayed.set(drop.id, drop.replayed);
          if (drop.store !== undefined) {
            drop.store.dropped = false;
            stores.set(drop.id, drop.store);
          }
        }
        throw err;
      } finally {
        core.current = undefined;
      }
      commits.push(commit);
      waitingMutations += commit.mutations;
      const records: WalRecord[] = [];
      for (const [store, changes] of commit.stores) records.push(...store.records(changes, commit.layers.get(store)));
      if (records.length > 0) {
        await logCommit(commit, records);
      } else {
        await walTail;
        if (broken !== undefined) throw broken;
        commit.durable = true;
      }
      if (commit.needsApply) {
        const done = new Promise<void>((resolve, reject) => applyWaiters.push({ seq: commit.seq, resolve, reject }));
        void apply();
        await done;
      } else {
        scheduleApply();
      }
      return result;
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await walTail;
      if (broken === undefined) {
        while (commits[0]?.durable === true && broken === undefined) await apply();
      }
      if (timer !== undefined) clearTimeout(timer);
      await applying;
      for (const reader of [...core.openReaders]) reader.close();
      await wal.close();
      await root.close();
    },
  };
}
