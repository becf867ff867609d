/**
 * The LMDB storage engine (lmdb-js). One LMDB environment per data node; per partition a
 * data sub-database `d/<keyspace>/<id>` and a log sub-database `l/<keyspace>/<id>`; one
 * `meta` sub-database holds each partition's applied state under `applied/<keyspace>/<id>`.
 *
 * Durability: the environment is opened with overlappingSync off, so an lmdb-js transaction
 * promise resolves only after LMDB's commit has fsynced data and meta pages. lmdb-js batches
 * the transactions queued in one event turn into one LMDB transaction, and the data node's
 * group committer queues many requests into one `write()`: one fsync covers them all.
 *
 * lmdb-js does not roll back a transaction callback that throws (its earlier writes still
 * commit), so `write()` bodies validate before they write, and a throw inside one is an
 * assertion failure that stops the process.
 *
 * Replication primitives (RFC 0001):
 *  - The log may run ahead of the applied index. Its shape (engine.ts) is checked on open from
 *    the first and last log keys and the sub-database's entry count (mdb_stat, O(1)), and kept
 *    by appendLog, setApplied and both truncations, which assert it.
 *  - The epoch history is opaque bytes in `meta` under `epoch-history/<keyspace>/<id>`.
 *  - A snapshot reader is an lmdb-js read transaction (`useReadTransaction`) held open between
 *    chunks; each read is one synchronous range read on it whose cursor is closed before the
 *    chunk is returned, so no cursor outlives a call. At most `snapshotReadersMax` are open.
 *    Chunks come in key byte order (the wire order of replication.proto's SnapshotChunk): an
 *    overflow group of long keys is sorted in memory, as range() does.
 *  - A snapshot install spans several write transactions: `snapshot-install/<keyspace>/<id>`
 *    in `meta` marks it pending from beginSnapshotInstall until finishSnapshotInstall, so a
 *    restart in between finds the partial data marked rather than serving it. An install cut
 *    off by a restart is not resumed: only beginSnapshotInstall (which clears it) continues.
 *  - dropPartition deletes a replica in the body's transaction: it drops both sub-databases
 *    (mdb_drop with delete, which also frees their slots of maxDbs for other partitions) and
 *    removes every meta key of the partition, so the commit either keeps the replica whole or
 *    removes it entirely. The store object of a dropped partition refuses every further call.
 */
import { open, type Database, type RootDatabase } from 'lmdb';
import { assert, compareBytes } from '@quire/common';
import {
  decodeAppliedState,
  decodeStoredValue,
  directKeyBytesMax,
  encodeAppliedState,
  encodeStoredValue,
  isOverflowStoredKey,
  logIndexOf,
  logKey,
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

/** `applied/<keyspace>/<id>`: a partition's applied state; its presence lists the partition as stored. */
export const appliedPrefix = 'applied/';
const epochHistoryPrefix = 'epoch-history/';
/**
 * `leader-term/<keyspace>/<id>`: the leader tenure, i.e. the newest epoch this node led the
 * partition at, 8 bytes big-endian. The stored key keeps the spelling `leader-term/` so that
 * existing data directories read unchanged.
 */
const leaderTenurePrefix = 'leader-term/';
const installPrefix = 'snapshot-install/';

/** The `meta` keys of one partition that both engines keep. */
export function partitionMetaKeys(id: string): { appliedKey: string; epochHistoryKey: string; installKey: string; leaderTenureKey: string } {
  return { appliedKey: `${appliedPrefix}${id}`, epochHistoryKey: `${epochHistoryPrefix}${id}`, installKey: `${installPrefix}${id}`, leaderTenureKey: `${leaderTenurePrefix}${id}` };
}

/** The prefixes of the per-partition `meta` keys both engines keep (partitionMetaKeys). */
export const partitionMetaPrefixes: readonly string[] = [appliedPrefix, epochHistoryPrefix, leaderTenurePrefix, installPrefix];

/** Options of a partition's sub-databases (`d/…`, `l/…`). */
const subDatabaseOptions = { keyEncoding: 'binary', encoding: 'binary' } as const;

/**
 * Opens the sub-database `name` if it exists (undefined if not), without creating it: the handles
 * a drop needs for a partition that is not open.
 */
export function openExistingDb(root: RootDatabase, name: string): BinaryDb | undefined {
  // lmdb-js honours `create: false` (open.js: openDB answers undefined for "Database not found")
  // but does not declare it in DatabaseOptions.
  const options = { ...subDatabaseOptions, create: false } as typeof subDatabaseOptions;
  const db: BinaryDb | undefined = root.openDB<Buffer, Buffer>(name, options);
  return db;
}

/**
 * The partitions named by the sub-databases of the environment (`d/<keyspace>/<id>`, and with
 * the LMDB engine `l/<keyspace>/<id>`): the names are the keys of LMDB's main database.
 */
export function subDatabasePartitions(root: RootDatabase): { keyspace: string; partitionId: number }[] {
  const out: { keyspace: string; partitionId: number }[] = [];
  for (const key of root.getKeys()) {
    // lmdb-js stores a database name with its terminating NUL.
    const name = Buffer.from(key as Uint8Array).toString('utf8').replace(/\0$/, '');
    const match = /^[dl]\/(.+)\/(\d+)$/.exec(name);
    if (match === null) continue;
    out.push({ keyspace: match[1] as string, partitionId: Number(match[2]) });
  }
  return out;
}

/** Adds `p` to `into`, keyed by keyspace/id. */
export function addPartition(into: Map<string, StoredPartition>, p: { readonly keyspace: string; readonly partitionId: number }): void {
  into.set(`${p.keyspace}/${p.partitionId}`, { keyspace: p.keyspace, partitionId: p.partitionId });
}

/** Partitions named by `meta` keys `<prefix><keyspace>/<id>`, with the key. */
export function metaPartitions(meta: MetaDb, prefix: string): { keyspace: string; partitionId: number; key: string }[] {
  const out: { keyspace: string; partitionId: number; key: string }[] = [];
  for (const key of meta.getKeys({ start: prefix })) {
    if (!key.startsWith(prefix)) break;
    const rest = key.slice(prefix.length);
    const slash = rest.lastIndexOf('/');
    out.push({ keyspace: rest.slice(0, slash), partitionId: Number(rest.slice(slash + 1)), key });
  }
  return out;
}

/** An 8-byte big-endian `meta` value (leader tenures, WAL floors). */
export function encodeMetaU64(value: number): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(BigInt(value), 0);
  return out;
}

/** Reads an 8-byte big-endian `meta` value; 0 when absent. */
export function readMetaU64(meta: MetaDb, key: string): number {
  const raw = meta.get(key);
  if (raw === undefined) return 0;
  assert(raw.length === 8, `${key} has ${raw.length} bytes, not 8`);
  return Number(raw.readBigUInt64BE(0));
}

/**
 * Records `format` as the engine of the directory, or refuses one another engine wrote: reading
 * it as this engine's would lose the log the other engine keeps elsewhere. A directory without
 * the key was written by the LMDB-log engine before the key existed, if it holds partitions.
 */
export function claimStorageFormat(meta: MetaDb, path: string, format: string, flag: string): void {
  const recorded = meta.get(storageFormatKey)?.toString('utf8');
  const found = recorded ?? (metaPartitions(meta, appliedPrefix).length > 0 ? lmdbStorageFormat : undefined);
  if (found !== undefined && found !== format) {
    throw new Error(`The data directory ${path} was written by the "${found}" storage engine; this node runs the "${format}" engine (${flag}). Start it with the engine that wrote it, or with an empty data directory.`);
  }
  if (recorded === undefined) meta.putSync(storageFormatKey, Buffer.from(format, 'utf8'));
}

/** A snapshot install in progress (engine.ts "snapshot install"). */
export interface PendingInstall {
  /** The snapshot's state, named by its first chunk. */
  readonly state: AppliedState | undefined;
  /** The last key loaded; the next must be greater. */
  readonly lastKey: Buffer | undefined;
  /** Found pending at open: what was loaded is unknown, so only beginSnapshotInstall may follow. */
  readonly restartRequired: boolean;
}

/** The install `method` continues, or an assertion failure naming why it cannot. */
export function continuedInstall(install: PendingInstall | undefined, name: string, method: string): PendingInstall {
  assert(install !== undefined, `PartitionStore.${method} on ${name} without beginSnapshotInstall`);
  assert(!install.restartRequired, `PartitionStore.${method} on ${name}: an install cut off by a restart must begin again`);
  return install;
}

/** Checks the arguments of PartitionStore.logEntries against a log starting at `first`. */
export function checkLogRead(fromIndex: number, toIndexInclusive: number, bytesMax: number, first: number): void {
  assert(Number.isSafeInteger(fromIndex) && fromIndex >= 1, `Log read from ${fromIndex}`);
  assert(Number.isSafeInteger(toIndexInclusive) && toIndexInclusive >= fromIndex - 1, `Log read of ${fromIndex}..${toIndexInclusive}`);
  assert(bytesMax >= 1, 'Log read byte budget must be positive');
  assert(fromIndex >= first, `Log read from ${fromIndex} below the log start ${first}: those entries are gone, send a snapshot`);
}
/** Meta key naming the engine that wrote the directory (absent in directories of this engine written before it existed). */
export const storageFormatKey = 'storage-format';
/** The value of `storage-format` in a directory this engine wrote. */
export const lmdbStorageFormat = 'lmdb-log-v1';
/** The value under an install key: the key's presence is the mark. */
const installMark = Buffer.from([1]);
/** Open snapshot readers when LmdbEngineOptions.snapshotReadersMax is not given. */
const snapshotReadersMaxDefault = 4;

/** Options for the LMDB engine. */
export interface LmdbEngineOptions {
  /** Directory of the LMDB environment. */
  readonly path: string;
  /** Most partitions this node can hold (each uses two named databases). */
  readonly partitionsMax: number;
  /**
   * Commit without fsync. BREAKS DURABILITY: set only by the `datanode.storage.skipFsync`
   * failpoint, so tests can prove the chaos checkers catch acknowledged writes lost on power loss.
   */
  readonly skipFsync?: boolean;
  /**
   * Most snapshot readers open at once (default 4). Each holds an LMDB read transaction, which
   * takes one of LMDB's reader slots and keeps the pages of its view from being reused.
   */
  readonly snapshotReadersMax?: number;
}

export type BinaryDb = Database<Buffer, Buffer>;
export type MetaDb = Database<Buffer, string>;
type ReadTransaction = ReturnType<RootDatabase['useReadTransaction']>;

/** What the engine shares with its stores: the write body in progress and the open readers. */
interface EngineScope {
  /** True while a write() body runs, so mutators can assert they are inside one. */
  bodyRunning: boolean;
  readonly openReaders: Set<LmdbSnapshotReader>;
  readonly snapshotReadersMax: number;
}

/**
 * Writes a snapshot reader sees on top of its LMDB view: the WAL engine's committed layers that
 * LMDB does not hold yet (wal-engine.ts), frozen when the reader opens.
 */
export interface SnapshotOverlay {
  /** The applied state the layers reach, if they set one. */
  readonly applied: AppliedState | undefined;
  /** Whether the layers leave the install mark set (true) or cleared (false); undefined: as in LMDB. */
  readonly installMark: boolean | undefined;
  /** The LMDB entries from `start` on, merged with the layers' writes, in stored-key order. */
  merge(lmdb: Iterable<{ key: Buffer; value: Buffer }>, start: Buffer | undefined): Iterable<{ key: Buffer; value: Buffer }>;
}

/** What a snapshot reader reads: a partition's data and the meta keys of its applied state. */
export interface SnapshotSource {
  readonly root: RootDatabase;
  readonly data: BinaryDb;
  readonly meta: MetaDb;
  readonly appliedKey: string;
  readonly installKey: string;
}

/** Database handles and meta keys of one partition. */
interface PartitionDbs extends SnapshotSource {
  readonly log: BinaryDb;
  readonly epochHistoryKey: string;
  readonly leaderTenureKey: string;
}


class LmdbPartitionStore implements PartitionStore {
  private readonly data: BinaryDb;
  private readonly log: BinaryDb;
  private readonly meta: MetaDb;
  private appliedState: AppliedState;
  private firstIndex: number;
  /** The last log index, or the applied index when the log is empty (engine.ts). */
  private lastIndex: number;
  /** Set while a snapshot install is pending (engine.ts). */
  private install: PendingInstall | undefined;
  /** Set once dropPartition deleted the partition: its handles are closed. */
  private dropped = false;

  constructor(
    readonly keyspace: string,
    readonly partitionId: number,
    readonly dbs: PartitionDbs,
    private readonly scope: EngineScope,
  ) {
    this.data = dbs.data;
    this.log = dbs.log;
    this.meta = dbs.meta;
    const raw = this.meta.get(dbs.appliedKey);
    this.appliedState = raw === undefined ? { appliedIndex: 0, epoch: 0 } : decodeAppliedState(raw);
    const mark = this.meta.get(dbs.installKey);
    assert(mark === undefined || mark.equals(installMark), `Partition ${keyspace}/${partitionId}: install mark of ${mark?.length} bytes`);
    // What this process loaded before the restart is unknown, so the install must start over.
    this.install = mark === undefined ? undefined : { state: undefined, lastKey: undefined, restartRequired: true };
    const applied = this.appliedState.appliedIndex;
    let first: number | undefined;
    let last: number | undefined;
    for (const key of this.log.getKeys({ limit: 1 })) first = logIndexOf(key);
    for (const key of this.log.getKeys({ limit: 1, reverse: true })) last = logIndexOf(key);
    if (first === undefined || last === undefined) {
      this.firstIndex = applied + 1;
      this.lastIndex = applied;
      return;
    }
    // With deferred apply the log runs ahead of the applied index, so what holds is the shape
    // in engine.ts: one gap-free run that reaches from at most applied + 1 to at least applied.
    const name = `Partition ${keyspace}/${partitionId}`;
    assert(this.install === undefined, `${name}: log ${first}..${last} present while a snapshot install is pending`);
    const count = entryCount(this.log);
    assert(first >= 1 && count === last - first + 1, `${name}: log ${first}..${last} holds ${count} entries, so it has gaps`);
    assert(first <= applied + 1, `${name}: log starts at ${first}, leaving a gap after applied index ${applied}`);
    assert(last >= applied, `${name}: log ends at ${last}, below applied index ${applied}`);
    this.firstIndex = first;
    this.lastIndex = last;
  }

  get(key: Buffer): StoredEntry | undefined {
    this.assertLive('get');
    const raw = this.data.get(storedKey(key));
    if (raw === undefined) return undefined;
    const v = decodeStoredValue(raw);
    return { key, value: v.value, version: v.version };
  }

  version(key: Buffer): number {
    this.assertLive('version');
    const raw = this.data.get(storedKey(key));
    return raw === undefined ? 0 : storedVersion(raw);
  }

  range(query: RangeQuery): StoredEntry[] {
    this.assertLive('range');
    return rangeOver(this.data.getRange(storedRangeOptions(query)), query);
  }

  approximateDataBytes(): number {
    this.assertLive('approximateDataBytes');
    return pageBytes(this.data);
  }

  applied(): AppliedState {
    return this.appliedState;
  }

  firstLogIndex(): number {
    return this.firstIndex;
  }

  lastLogIndex(): number {
    return this.lastIndex;
  }

  logEntries(fromIndex: number, toIndexInclusive: number, bytesMax: number): IndexedLogEntry[] {
    this.assertLive('logEntries');
    checkLogRead(fromIndex, toIndexInclusive, bytesMax, this.firstIndex);
    const out: IndexedLogEntry[] = [];
    if (toIndexInclusive < fromIndex) return out;
    let bytes = 0;
    for (const { key, value } of this.log.getRange({ start: logKey(fromIndex), end: logKey(toIndexInclusive + 1) })) {
      const index = logIndexOf(key);
      // Pairs with the gap check on open: what is read back is one consecutive run too.
      assert(index === fromIndex + out.length, `Log gap: read entry ${index} where ${fromIndex + out.length} was due`);
      out.push({ index, entry: value });
      bytes += value.length;
      if (bytes >= bytesMax) break;
    }
    return out;
  }

  putValue(key: Buffer, version: number, value: Buffer): void {
    this.assertNoInstall('putValue');
    this.data.putSync(storedKey(key), encodeStoredValue(key, version, value));
  }

  deleteValue(key: Buffer): void {
    this.assertNoInstall('deleteValue');
    this.data.removeSync(storedKey(key));
  }

  appendLog(index: number, entry: Buffer): void {
    this.assertNoInstall('appendLog');
    // The applied index no longer pins the log end at open, so an append over an existing entry
    // would go unnoticed there: refuse it here.
    assert(index === this.lastIndex + 1, `Log append at ${index}, but the log ends at ${this.lastIndex}`);
    this.log.putSync(logKey(index), entry);
    this.lastIndex = index;
  }

  setApplied(state: AppliedState): void {
    this.assertNoInstall('setApplied');
    assert(state.appliedIndex >= this.appliedState.appliedIndex, 'Applied index must not go backwards');
    const logEmpty = this.firstIndex > this.lastIndex;
    assert(
      logEmpty || state.appliedIndex <= this.lastIndex,
      `Applied index ${state.appliedIndex} beyond the log end ${this.lastIndex}: only logged entries can be applied`,
    );
    this.meta.putSync(this.dbs.appliedKey, encodeAppliedState(state));
    this.appliedState = state;
    if (logEmpty) {
      this.firstIndex = state.appliedIndex + 1;
      this.lastIndex = state.appliedIndex;
    }
  }

  truncateLogBefore(index: number, entriesMax: number): number {
    this.assertNoInstall('truncateLogBefore');
    // An entry leaves the log only once the data reflects it; later entries are still to apply.
    assert(
      index <= this.appliedState.appliedIndex + 1,
      `Log truncation below ${index} would drop entries after applied index ${this.appliedState.appliedIndex}`,
    );
    let removed = 0;
    const end = logKey(index);
    for (const key of this.log.getKeys({ start: logKey(this.firstIndex), end, limit: entriesMax })) {
      this.log.removeSync(key);
      removed++;
    }
    if (removed > 0) {
      this.firstIndex = Math.min(index, this.firstIndex + removed);
      for (const key of this.log.getKeys({ start: logKey(this.firstIndex), limit: 1 })) this.firstIndex = logIndexOf(key);
    }
    return removed;
  }

  truncateLogAfter(index: number): number {
    this.assertInBody('truncateLogAfter');
    this.assertNoInstall('truncateLogAfter');
    assert(Number.isSafeInteger(index), `Log truncation after ${index}`);
    const applied = this.appliedState.appliedIndex;
    assert(index >= applied, `Log truncation after ${index} would drop entries up to applied index ${applied} (RFC invariant 6)`);
    if (index >= this.lastIndex) return 0;
    // Newest first, so the log is one gap-free run after every single deletion. The suffix is
    // what a follower accepted but its leader never matched, bounded by what it was sent.
    let removed = 0;
    for (let i = this.lastIndex; i > index; i--) {
      assert(this.log.removeSync(logKey(i)), `Log entry ${i} missing below the log end ${this.lastIndex}`);
      removed++;
    }
    this.lastIndex = index;
    // first ≤ applied + 1 ≤ index + 1, so the log is empty only when index = applied.
    if (this.firstIndex > index) this.firstIndex = index + 1;
    return removed;
  }

  logEntry(index: number): Buffer | undefined {
    this.assertLive('logEntry');
    return this.log.get(logKey(index));
  }

  epochHistory(): Buffer | undefined {
    return this.meta.get(this.dbs.epochHistoryKey);
  }

  setEpochHistory(encoded: Buffer): void {
    this.assertInBody('setEpochHistory');
    // Empty would read back as a history; epoch-history.ts never encodes fewer than 21 bytes.
    assert(encoded.length > 0, 'Epoch history must not be empty');
    this.meta.putSync(this.dbs.epochHistoryKey, encoded);
  }

  leaderTenure(): number {
    return readMetaU64(this.meta, this.dbs.leaderTenureKey);
  }

  setLeaderTenure(epoch: number): void {
    this.assertInBody('setLeaderTenure');
    assert(Number.isSafeInteger(epoch) && epoch >= this.leaderTenure(), `Leader tenure of ${this.keyspace}/${this.partitionId} would go from ${this.leaderTenure()} to ${epoch}`);
    this.meta.putSync(this.dbs.leaderTenureKey, encodeMetaU64(epoch));
  }

  snapshotReader(): SnapshotReader {
    this.assertNoInstall('snapshotReader');
    assert(
      this.scope.openReaders.size < this.scope.snapshotReadersMax,
      `More than ${this.scope.snapshotReadersMax} snapshot readers open at once`,
    );
    const reader = new LmdbSnapshotReader(this.dbs, (closed) => this.scope.openReaders.delete(closed));
    this.scope.openReaders.add(reader);
    return reader;
  }

  beginSnapshotInstall(): void {
    this.assertInBody('beginSnapshotInstall');
    // clearSync empties a sub-database inside the current (child) transaction, so this is
    // undone with the rest of a body that throws (lmdb-engine-replication.test.ts).
    this.data.clearSync();
    this.log.clearSync();
    this.meta.removeSync(this.dbs.epochHistoryKey);
    this.meta.putSync(this.dbs.installKey, installMark);
    // Written so that storedPartitions() lists a partition whose first install is pending.
    this.meta.putSync(this.dbs.appliedKey, encodeAppliedState(this.appliedState));
    this.install = { state: undefined, lastKey: undefined, restartRequired: false };
    this.firstIndex = this.appliedState.appliedIndex + 1;
    this.lastIndex = this.appliedState.appliedIndex;
  }

  installSnapshot(state: AppliedState, entries: Iterable<StoredEntry>): void {
    this.assertInBody('installSnapshot');
    const install = this.pendingInstall('installSnapshot');
    const { chunk, lastKey } = checkSnapshotChunk(install, state, entries);
    for (const entry of chunk) this.data.putSync(storedKey(entry.key), encodeStoredValue(entry.key, entry.version, entry.value));
    this.install = { state, lastKey, restartRequired: false };
  }

  finishSnapshotInstall(state: AppliedState): void {
    this.assertInBody('finishSnapshotInstall');
    const install = this.pendingInstall('finishSnapshotInstall');
    checkAppliedState(state);
    if (install.state === undefined) {
      let empty = true;
      for (const _ of this.data.getKeys({ limit: 1 })) empty = false;
      assert(empty, 'Snapshot install finished with data but without a chunk naming its state');
    } else {
      assert(sameState(install.state, state), `Snapshot install of ${install.state.appliedIndex} finished as ${state.appliedIndex}`);
    }
    assert(this.firstIndex > this.lastIndex, 'Log entries appeared during a snapshot install');
    // Not setApplied: the applied index may go down when a replica is re-seeded (RFC invariant 6).
    this.meta.putSync(this.dbs.appliedKey, encodeAppliedState(state));
    this.meta.removeSync(this.dbs.installKey);
    this.appliedState = state;
    this.install = undefined;
    this.firstIndex = state.appliedIndex + 1;
    this.lastIndex = state.appliedIndex;
  }

  snapshotInstallPending(): boolean {
    return this.install !== undefined;
  }

  private pendingInstall(method: string): PendingInstall {
    return continuedInstall(this.install, `${this.keyspace}/${this.partitionId}`, method);
  }

  /** Marks the store dropped (dropPartition): every later call is an assertion failure. */
  markDropped(): void {
    this.dropped = true;
  }

  private assertLive(method: string): void {
    assert(!this.dropped, `PartitionStore.${method} on ${this.keyspace}/${this.partitionId}, which was dropped`);
  }

  private assertInBody(method: string): void {
    this.assertLive(method);
    assert(this.scope.bodyRunning, `PartitionStore.${method} called outside a write() body`);
  }

  private assertNoInstall(method: string): void {
    this.assertLive(method);
    assert(
      this.install === undefined,
      `PartitionStore.${method} on ${this.keyspace}/${this.partitionId} while a snapshot install is pending`,
    );
  }
}

/**
 * A snapshot reader over one lmdb-js read transaction. The applied state is read through that
 * transaction too, so it describes exactly the data the chunks return.
 */
export class LmdbSnapshotReader implements SnapshotReader {
  readonly appliedIndex: number;
  readonly epoch: number;
  /** The partition's applied-state key: which partition the reader reads (a drop refuses while one is open). */
  readonly appliedKey: string;
  private transaction: ReadTransaction | undefined;

  constructor(
    private readonly dbs: SnapshotSource,
    private readonly onClose: (reader: LmdbSnapshotReader) => void,
    private readonly overlay?: SnapshotOverlay,
  ) {
    this.appliedKey = dbs.appliedKey;
    const transaction = dbs.root.useReadTransaction();
    try {
      const marked = overlay?.installMark ?? readMetaIn(dbs.meta, dbs.installKey, transaction) !== undefined;
      assert(!marked, 'Snapshot of a partition whose install is pending');
      const raw = readMetaIn(dbs.meta, dbs.appliedKey, transaction);
      const state = overlay?.applied ?? (raw === undefined ? { appliedIndex: 0, epoch: 0 } : decodeAppliedState(raw));
      this.appliedIndex = state.appliedIndex;
      this.epoch = state.epoch;
    } catch (error) {
      transaction.done();
      throw error;
    }
    this.transaction = transaction;
  }

  *chunks(bytesMax: number): Iterable<StoredEntry[]> {
    assert(bytesMax >= 1, 'Snapshot chunk byte budget must be positive');
    // Entries read and put in key order but not yet returned (from index `head` on): reads stop
    // only between overflow groups, so a group is sorted whole and may spill into later chunks.
    let ready: StoredEntry[] = [];
    let head = 0;
    let readyBytes = 0;
    let start: Buffer | undefined;
    let exhausted = false;
    let previous: Buffer | undefined;
    for (;;) {
      const transaction = this.transaction;
      assert(transaction !== undefined, 'Snapshot reader used after close()');
      if (!exhausted && readyBytes < bytesMax) {
        ready = ready.slice(head);
        head = 0;
        let group: StoredEntry[] = [];
        let groupPrefix: Buffer | undefined;
        const take = (entry: StoredEntry): void => {
          ready.push(entry);
          readyBytes += entry.key.length + entry.value.length;
        };
        const flushGroup = (): void => {
          group.sort((a, b) => compareBytes(a.key, b.key));
          group.forEach(take);
          group = [];
          groupPrefix = undefined;
        };
        exhausted = true;
        // One synchronous range read: its cursor is closed (by break or by the end of the
        // range) before anything is yielded, so only the transaction waits between chunks.
        const stored$ = this.dbs.data.getRange(start === undefined ? { transaction } : { transaction, start });
        for (const { key: stored, value: raw } of this.overlay === undefined ? stored$ : this.overlay.merge(stored$, start)) {
          const v = decodeStoredValue(raw);
          // Pairs with installSnapshot's checks: what a snapshot carries is checked as it is read.
          assert((v.fullKey !== undefined) === isOverflowStoredKey(stored), 'Stored key form does not match its value');
          assert(v.version >= 1 && v.version <= this.appliedIndex, `Stored version ${v.version} outside 1..${this.appliedIndex}`);
          const entry: StoredEntry = { key: v.fullKey ?? Buffer.from(stored), value: v.value, version: v.version };
          if (isOverflowStoredKey(stored)) {
            const prefix = stored.subarray(0, directKeyBytesMax);
            if (groupPrefix !== undefined && !groupPrefix.equals(prefix)) {
              flushGroup();
              // Stop between groups; `start` is still this entry, so the next read takes it again.
              if (readyBytes >= bytesMax) {
                exhausted = false;
                break;
              }
            }
            groupPrefix ??= Buffer.from(prefix);
            group.push(entry);
          } else {
            if (group.length > 0) flushGroup();
            take(entry);
          }
          start = Buffer.concat([stored, Buffer.alloc(1)]); // the smallest stored key after this one
          if (group.length === 0 && readyBytes >= bytesMax) {
            exhausted = false;
            break;
          }
        }
        if (group.length > 0) flushGroup();
      }
      if (head === ready.length) return;
      const chunk: StoredEntry[] = [];
      let bytes = 0;
      while (head < ready.length && bytes < bytesMax) {
        const entry = ready[head++] as StoredEntry;
        assert(previous === undefined || compareBytes(entry.key, previous) > 0, 'Snapshot read out of ascending key order');
        previous = entry.key;
        bytes += entry.key.length + entry.value.length;
        chunk.push(entry);
      }
      readyBytes -= bytes;
      yield chunk;
    }
  }

  close(): void {
    if (this.transaction === undefined) return;
    this.transaction.done();
    this.transaction = undefined;
    this.onClose(this);
  }
}

/**
 * Reads one meta value through `transaction`. lmdb-js's get() ignores an explicit read
 * transaction while a write transaction is active (read.js: `env.writeTxn || options.transaction`);
 * getRange() honours it, so a snapshot's applied state is read with a range of one key.
 */
function readMetaIn(meta: MetaDb, key: string, transaction: ReadTransaction): Buffer | undefined {
  for (const entry of meta.getRange({ start: key, limit: 1, transaction })) return entry.key === key ? entry.value : undefined;
  return undefined;
}

/** The bytes of a sub-database's pages (mdb_stat: O(1)): branch, leaf and overflow pages times the page size. */
export function pageBytes(db: BinaryDb): number {
  const stats: { pageSize?: unknown; treeBranchPageCount?: unknown; treeLeafPageCount?: unknown; overflowPages?: unknown } = db.getStats();
  const count = (v: unknown): number => (typeof v === 'number' ? v : 0);
  return (count(stats.treeBranchPageCount) + count(stats.treeLeafPageCount) + count(stats.overflowPages)) * count(stats.pageSize);
}

/** The number of entries in a sub-database (mdb_stat: O(1)), in the current transaction. */
function entryCount(db: BinaryDb): number {
  const stats: { entryCount?: unknown } = db.getStats();
  assert(typeof stats.entryCount === 'number', 'lmdb-js getStats() has no entryCount');
  return stats.entryCount;
}

/**
 * Checks one snapshot chunk of an install whose first chunk named `install.state` (undefined
 * before the first) and whose last key was `install.lastKey`: one state for the whole install,
 * every version in [1, state.appliedIndex], keys in strictly ascending byte order. Returns the
 * chunk and its last key; throws before anything is written.
 */
export function checkSnapshotChunk(
  install: { readonly state: AppliedState | undefined; readonly lastKey: Buffer | undefined },
  state: AppliedState,
  entries: Iterable<StoredEntry>,
): { chunk: StoredEntry[]; lastKey: Buffer | undefined } {
  checkAppliedState(state);
  assert(
    install.state === undefined || sameState(install.state, state),
    `Snapshot chunk at ${state.appliedIndex}/${state.epoch} in an install of ${install.state?.appliedIndex}/${install.state?.epoch}`,
  );
  const chunk: StoredEntry[] = [];
  let previous = install.lastKey;
  for (const entry of entries) {
    assert(entry.key.length >= 1 && entry.key.length <= 0xffff, `Snapshot key of ${entry.key.length} bytes`);
    assert(
      Number.isSafeInteger(entry.version) && entry.version >= 1 && entry.version <= state.appliedIndex,
      `Snapshot entry version ${entry.version} outside 1..${state.appliedIndex}`,
    );
    // Key order makes almost every put an append at the B-tree's right edge, so pages fill
    // up and little goes to LMDB's free list (only an overflow group's hashes break it).
    assert(previous === undefined || compareBytes(entry.key, previous) > 0, 'Snapshot entries out of ascending key order');
    chunk.push(entry);
    previous = entry.key;
  }
  return { chunk, lastKey: previous === undefined ? install.lastKey : Buffer.from(previous) };
}

export function checkAppliedState(state: AppliedState): void {
  assert(
    Number.isSafeInteger(state.appliedIndex) && state.appliedIndex >= 0 && Number.isSafeInteger(state.epoch) && state.epoch >= 0,
    `Applied state ${state.appliedIndex}/${state.epoch}`,
  );
}

export function sameState(a: AppliedState, b: AppliedState): boolean {
  return a.appliedIndex === b.appliedIndex && a.epoch === b.epoch;
}

/** The stored-key bounds (LMDB getRange options) that cover every real key of `query`. */
export function storedRangeOptions(query: RangeQuery): { start: Buffer; end?: Buffer } {
  // Stored bounds cover the real range; real bounds are checked per entry (rangeOver).
  const start = query.start.subarray(0, directKeyBytesMax);
  const end = query.end.length === 0 ? undefined : storedUpperBound(query.end);
  return end === undefined ? { start } : { start, end };
}

/**
 * Answers `query` from stored entries in stored-key byte order (an LMDB range over
 * storedRangeOptions(query), possibly merged with writes not in LMDB yet). Long keys that share
 * their first directKeyBytesMax bytes (an overflow group) are sorted in memory, a group at a time.
 */
export function rangeOver(stored: Iterable<{ readonly key: Uint8Array; readonly value: Uint8Array }>, query: RangeQuery): StoredEntry[] {
  assert(query.limit >= 1, 'Range limit must be positive');
  const out: StoredEntry[] = [];
  let bytes = 0;
  let group: StoredEntry[] = [];
  let groupPrefix: Buffer | undefined;
  const inRange = (key: Buffer): boolean =>
    compareBytes(key, query.start) >= 0 && (query.end.length === 0 || compareBytes(key, query.end) < 0);
  const emit = (entry: StoredEntry): boolean => {
    out.push(entry);
    bytes += entry.key.length + entry.value.length;
    return out.length < query.limit && bytes < query.bytesMax;
  };
  const flushGroup = (): boolean => {
    group.sort((a, b) => compareBytes(a.key, b.key));
    for (const entry of group) {
      if (inRange(entry.key) && !emit(entry)) return false;
    }
    group = [];
    groupPrefix = undefined;
    return true;
  };
  for (const { key: storedKeyBytes, value: raw } of stored) {
    const v = decodeStoredValue(raw);
    const key = v.fullKey ?? Buffer.from(storedKeyBytes);
    const entry: StoredEntry = { key, value: query.keysOnly ? Buffer.alloc(0) : v.value, version: v.version };
    if (isOverflowStoredKey(storedKeyBytes)) {
      const prefix = Buffer.from(storedKeyBytes.subarray(0, directKeyBytesMax));
      if (groupPrefix !== undefined && !groupPrefix.equals(prefix) && !flushGroup()) return out;
      groupPrefix = prefix;
      group.push(entry);
      continue;
    }
    if (group.length > 0 && !flushGroup()) return out;
    if (query.end.length > 0 && compareBytes(key, query.end) >= 0) break;
    if (inRange(key) && !emit(entry)) return out;
  }
  if (group.length > 0) flushGroup();
  return out;
}

/** The smallest stored key that is >= the stored form of every real key below `end`. */
function storedUpperBound(end: Buffer): Buffer | undefined {
  if (end.length <= directKeyBytesMax) return end;
  // Long end bound: include the whole overflow group of its first directKeyBytesMax bytes.
  const prefix = Buffer.from(end.subarray(0, directKeyBytesMax));
  for (let i = prefix.length - 1; i >= 0; i--) {
    const byte = prefix[i] ?? 0xff;
    if (byte < 0xff) {
      prefix[i] = byte + 1;
      return prefix.subarray(0, i + 1);
    }
  }
  return undefined;
}

/** Opens the node's LMDB environment. */
export function openLmdbEngine(options: LmdbEngineOptions): StorageEngine {
  const root: RootDatabase = open({
    path: options.path,
    maxDbs: options.partitionsMax * 2 + 4,
    // Resolve writes only after the commit is fsynced (see the module comment).
    overlappingSync: false,
    ...(options.skipFsync === true ? { noSync: true } : {}),
    compression: false,
    keyEncoding: 'binary',
    encoding: 'binary',
  });
  const meta = root.openDB<Buffer, string>('meta', { keyEncoding: 'ordered-binary', encoding: 'binary' });
  try {
    claimStorageFormat(meta, options.path, lmdbStorageFormat, '--storage-engine lmdb');
  } catch (err) {
    void root.close();
    throw err;
  }
  const stores = new Map<string, LmdbPartitionStore>();
  const scope: EngineScope = {
    bodyRunning: false,
    openReaders: new Set(),
    snapshotReadersMax: options.snapshotReadersMax ?? snapshotReadersMaxDefault,
  };
  assert(scope.snapshotReadersMax >= 1, 'snapshotReadersMax must be positive');

  return {
    partition(keyspace: string, partitionId: number): PartitionStore {
      const id = `${keyspace}/${partitionId}`;
      let store = stores.get(id);
      if (store === undefined) {
        assert(stores.size < options.partitionsMax, `More than ${options.partitionsMax} partitions on one node`);
        const data = root.openDB<Buffer, Buffer>(`d/${id}`, subDatabaseOptions);
        const log = root.openDB<Buffer, Buffer>(`l/${id}`, subDatabaseOptions);
        store = new LmdbPartitionStore(keyspace, partitionId, {
          root,
          data,
          log,
          meta,
          ...partitionMetaKeys(id),
        }, scope);
        stores.set(id, store);
      }
      return store;
    },

    storedPartitions(): StoredPartition[] {
      const seen = new Map<string, StoredPartition>();
      for (const prefix of partitionMetaPrefixes) for (const p of metaPartitions(meta, prefix)) addPartition(seen, p);
      for (const p of subDatabasePartitions(root)) addPartition(seen, p);
      for (const store of stores.values()) addPartition(seen, store);
      return [...seen.values()];
    },

    dropPartition(keyspace: string, partitionId: number): void {
      assert(scope.bodyRunning, 'StorageEngine.dropPartition called outside a write() body');
      const id = `${keyspace}/${partitionId}`;
      const keys = partitionMetaKeys(id);
      for (const reader of scope.openReaders) assert(reader.appliedKey !== keys.appliedKey, `Partition ${id} dropped while a snapshot reader of it is open`);
      const store = stores.get(id);
      // mdb_drop with delete, in this body's (child) transaction: the databases go with its commit,
      // and their handles, closed now, free their maxDbs slots. A body that throws after this stops
      // the process (as any throwing body does): the handles cannot be reopened by the abort.
      const data = store?.dbs.data ?? openExistingDb(root, `d/${id}`);
      const log = store?.dbs.log ?? openExistingDb(root, `l/${id}`);
      data?.dropSync();
      log?.dropSync();
      for (const key of Object.values(keys)) meta.removeSync(key);
      store?.markDropped();
      stores.delete(id);
    },

    async write<T>(body: () => T): Promise<T> {
      // The body runs in a child transaction: lmdb-js commits whatever a top-level
      // asynchronous transaction's callback wrote even when the callback throws, which would
      // persist half a batch (say, log entries without their applied index). A child
      // transaction is aborted when its callback throws, so a failed body writes nothing.
      return root.transaction(() =>
        root.childTransaction(() => {
          scope.bodyRunning = true;
          try {
            return body();
          } finally {
            scope.bodyRunning = false;
          }
        }),
      );
    },

    async close(): Promise<void> {
      // A read transaction must end before its environment closes; a reader still open now
      // (a snapshot stream cut off by shutdown) fails its next chunk instead.
      for (const reader of [...scope.openReaders]) reader.close();
      await root.close();
    },
  };
}
