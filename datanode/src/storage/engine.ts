/**
 * The storage interface the data node's partition logic is written against. It never names
 * LMDB: the engine is injected, so the partition state machine can run over a simulated
 * disk later. Reads are synchronous (LMDB reads are memory-mapped and faster than an event
 * loop turn); writes happen inside `write()`, whose body runs synchronously in one write
 * transaction and whose promise resolves only once that transaction is durable on disk.
 *
 * Shape of a partition's log (RFC 0001), checked on open and kept by every method:
 *  - The log is one run of consecutive indexes [firstLogIndex, lastLogIndex], or empty.
 *  - Empty log: firstLogIndex = appliedIndex + 1 and lastLogIndex = appliedIndex.
 *  - Otherwise firstLogIndex ≤ appliedIndex + 1 ≤ lastLogIndex + 1: every index in
 *    (appliedIndex, lastLogIndex] has an entry (with deferred apply the log runs ahead of the
 *    applied index), and nothing between the applied data and the log is missing.
 *  - Appends extend the log at lastLogIndex + 1; prefix truncation stops at appliedIndex + 1;
 *    suffix truncation (a follower's) stops at appliedIndex (RFC invariant 6).
 * A snapshot install is the one operation that replaces data, log and applied state wholesale;
 * it spans several transactions and is marked durably while it is incomplete.
 *
 * Deleting a replica (dropPartition, RFC 0003: this node is no longer among the partition's
 * replicas) removes its data, log and every meta key of it in one step that a crash cannot cut in
 * half: after a restart the replica is either whole, as before the drop, or gone, never a
 * replica that opens with part of its data or log missing. A store handle of a dropped partition
 * must not be used again; partition() then opens a new, empty replica.
 */
import type { AppliedState } from './codec.js';

/** A key with its value and version. */
export interface StoredEntry {
  readonly key: Buffer;
  readonly value: Buffer;
  readonly version: number;
}

/** A [start, end) range read. */
export interface RangeQuery {
  /** Inclusive lower bound; empty = unbounded. */
  readonly start: Buffer;
  /** Exclusive upper bound; empty = unbounded. */
  readonly end: Buffer;
  /** Most entries to return (at least 1). */
  readonly limit: number;
  /** Stop adding entries once their key+value bytes reach this. */
  readonly bytesMax: number;
  readonly keysOnly: boolean;
}

/** One log entry as stored: its index and its encoded bytes (codec.ts encodeLogEntry). */
export interface IndexedLogEntry {
  readonly index: number;
  readonly entry: Buffer;
}

/**
 * A consistent, read-only view of one partition's data at one applied index (an open read
 * transaction). Writes that commit after it was taken are not visible through it. It pins
 * the storage pages of its view, so close it as soon as the snapshot is sent.
 */
export interface SnapshotReader {
  /** The applied index the view's data reflects exactly. */
  readonly appliedIndex: number;
  /** The epoch of the write at appliedIndex (0 for an empty partition). */
  readonly epoch: number;
  /**
   * Reads the view's entries in strictly ascending key byte order, in chunks whose key+value
   * bytes stop once they reach `bytesMax` (so at most bytesMax plus one entry; every chunk holds
   * at least one entry). Long keys that share their first 1900 bytes (an overflow group,
   * codec.ts) are sorted in memory, a group at a time. Each call starts from the first key.
   */
  chunks(bytesMax: number): Iterable<StoredEntry[]>;
  /** Ends the read transaction; idempotent. chunks() must not be used afterwards. */
  close(): void;
}

/** One partition replica's data and log. */
export interface PartitionStore {
  readonly keyspace: string;
  readonly partitionId: number;
  /** Reads a key's value and version (committed state, or the current write transaction's). */
  get(key: Buffer): StoredEntry | undefined;
  /** Reads a key's version only; 0 when absent. */
  version(key: Buffer): number;
  /** Reads entries in key order. */
  range(query: RangeQuery): StoredEntry[];
  /**
   * The bytes the partition's data takes on disk, from the data sub-database's page counts
   * (O(1)); writes not yet moved to LMDB (the WAL engine's layers) are not counted. For the
   * split check's size threshold.
   */
  approximateDataBytes(): number;
  /**
   * The applied index and epoch as last committed (read at open, updated by setApplied and
   * finishSnapshotInstall).
   */
  applied(): AppliedState;
  /** The first index still in the log, or appliedIndex + 1 when the log is empty. */
  firstLogIndex(): number;
  /**
   * The index of the last entry in the log: 0 when the log never had an entry, the applied
   * index when the log is empty after truncation or a snapshot install. Never below the
   * applied index. Like applied(), it reflects the last write() body that ran.
   */
  lastLogIndex(): number;
  /**
   * Reads the encoded log entries of [fromIndex, toIndexInclusive] in index order, stopping
   * once their bytes reach `bytesMax` but returning at least one entry when the range holds
   * any. `fromIndex` must be at least firstLogIndex() (entries below it are gone: send a
   * snapshot instead); a range beyond the log end is cut at the log end.
   */
  logEntries(fromIndex: number, toIndexInclusive: number, bytesMax: number): IndexedLogEntry[];
  /** Writes a key at `version` (inside write()). */
  putValue(key: Buffer, version: number, value: Buffer): void;
  /** Removes a key (inside write()). */
  deleteValue(key: Buffer): void;
  /** Appends an encoded log entry at `index`, which must be lastLogIndex() + 1 (inside write()). */
  appendLog(index: number, entry: Buffer): void;
  /**
   * Records the applied index and epoch (inside write()). The applied index never goes back,
   * and never passes the log end unless the log is empty.
   */
  setApplied(state: AppliedState): void;
  /**
   * Deletes up to `entriesMax` log entries below `index` (inside write()); returns how many.
   * `index` is at most appliedIndex + 1: an entry is dropped only once it is applied.
   */
  truncateLogBefore(index: number, entriesMax: number): number;
  /**
   * Deletes every log entry above `index` (inside write()), a follower dropping a divergent
   * suffix; returns how many. `index` must be at least the applied index (RFC invariant 6).
   * The caller writes the matching epoch history in the same transaction.
   */
  truncateLogAfter(index: number): number;
  /** Reads a log entry, if still present. */
  logEntry(index: number): Buffer | undefined;
  /** The stored epoch history (epoch-history.ts encoding; not interpreted here), if any. */
  epochHistory(): Buffer | undefined;
  /** Stores the encoded epoch history, replacing the previous one (inside write()). */
  setEpochHistory(encoded: Buffer): void;
  /**
   * The leader tenure: the newest epoch this node recorded as leading the partition at
   * (setLeaderTenure), or 0. Kept across restarts and snapshot installs: it tells a restarted
   * leader that it may have sent entries of that epoch it no longer holds (RFC 0001 "Sending ahead of the leader's fsync").
   */
  leaderTenure(): number;
  /** Records that this node leads the partition at `epoch` (inside write(); never lowered). */
  setLeaderTenure(epoch: number): void;
  /**
   * Opens a consistent view of the partition's committed data and applied state. Not allowed
   * while a snapshot install is pending. The engine bounds how many are open at once.
   */
  snapshotReader(): SnapshotReader;
  /**
   * Starts (or restarts) loading a snapshot (inside write()): deletes the partition's data, log
   * and epoch history and durably marks the install as pending. Until finishSnapshotInstall
   * commits, the data is incomplete and must not be served or sent, and the other mutators
   * refuse to run. An install found pending at open must begin again.
   */
  beginSnapshotInstall(): void;
  /**
   * Loads one chunk of a snapshot taken at `state` (inside write()). Keys come in strictly
   * ascending byte order across the whole install (as SnapshotReader.chunks gives them); every
   * chunk of one install names the same state, and every version is in [1, state.appliedIndex].
   */
  installSnapshot(state: AppliedState, entries: Iterable<StoredEntry>): void;
  /**
   * Completes the install (inside write()): records `state` as the applied state, with an empty
   * log that continues at state.appliedIndex + 1, and clears the pending mark. The applied
   * index may go down here and only here: a re-seed replaces the replica (RFC invariant 6).
   * Write the new epoch history in the same transaction.
   */
  finishSnapshotInstall(state: AppliedState): void;
  /** Whether a snapshot install has begun and not finished (also across restarts). */
  snapshotInstallPending(): boolean;
}

/** A partition found on disk. */
export interface StoredPartition {
  readonly keyspace: string;
  readonly partitionId: number;
}

/** The node's storage. */
export interface StorageEngine {
  /**
   * Opens (creating if needed) a partition's data and log. Not allowed while a drop of the
   * partition is under way (dropPartition, until its write() resolved).
   */
  partition(keyspace: string, partitionId: number): PartitionStore;
  /**
   * Every partition with anything on disk: data, log, applied state, epoch history, leader
   * tenure or a pending install mark, whether or not it is open. A partition being dropped is
   * listed until its drop is durable.
   */
  storedPartitions(): StoredPartition[];
  /**
   * Deletes a partition replica (inside write()): its data, its log and every meta key of it
   * (applied state, epoch history, leader tenure, install mark, WAL floor), open or not. Once
   * write() resolves the deletion is durable, the sub-databases are gone (their LMDB slots free
   * for other partitions) and the log's entries never come back on replay; a crash before that
   * leaves the replica as it was. The partition's store, if open, must not be used again, and no
   * snapshot reader of it may be open. partition() may open it again, empty, once write() resolved.
   */
  dropPartition(keyspace: string, partitionId: number): void;
  /**
   * Runs `body` synchronously inside one write transaction and resolves with its result once
   * the transaction is durable (fsynced). If the commit fails the process must stop: the
   * in-memory state already reflects the body.
   */
  write<T>(body: () => T): Promise<T>;
  close(): Promise<void>;
}
