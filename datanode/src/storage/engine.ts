/**
 * The storage interface the data node's partition logic is written against. It never names
 * LMDB: the engine is injected, so the partition state machine can run over a simulated
 * disk later. Reads are synchronous (LMDB reads are memory-mapped and faster than an event
 * loop turn); writes happen inside `write()`, whose body runs synchronously in one write
 * transaction and whose promise resolves only once that transaction is durable on disk.
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
  /** The applied index and epoch as last committed (read at open, updated by setApplied). */
  applied(): AppliedState;
  /** The first index still in the log, or appliedIndex + 1 when the log is empty. */
  firstLogIndex(): number;
  /** Writes a key at `version` (inside write()). */
  putValue(key: Buffer, version: number, value: Buffer): void;
  /** Removes a key (inside write()). */
  deleteValue(key: Buffer): void;
  /** Appends an encoded log entry at `index` (inside write()). */
  appendLog(index: number, entry: Buffer): void;
  /** Records the applied index and epoch (inside write()). */
  setApplied(state: AppliedState): void;
  /** Deletes up to `entriesMax` log entries below `index` (inside write()); returns how many. */
  truncateLogBefore(index: number, entriesMax: number): number;
  /** Reads a log entry, if still present. */
  logEntry(index: number): Buffer | undefined;
}

/** A partition found on disk. */
export interface StoredPartition {
  readonly keyspace: string;
  readonly partitionId: number;
}

/** The node's storage. */
export interface StorageEngine {
  /** Opens (creating if needed) a partition's data and log. */
  partition(keyspace: string, partitionId: number): PartitionStore;
  /** Partitions that have data on disk. */
  storedPartitions(): StoredPartition[];
  /**
   * Runs `body` synchronously inside one write transaction and resolves with its result once
   * the transaction is durable (fsynced). If the commit fails the process must stop: the
   * in-memory state already reflects the body.
   */
  write<T>(body: () => T): Promise<T>;
  close(): Promise<void>;
}
