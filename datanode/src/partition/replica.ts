/**
 * PartitionReplica: one partition's state machine on this node. It assigns log indexes,
 * checks compare-and-set conditions and writes data, log entry and applied index through the
 * injected PartitionStore. It does no I/O of its own and has no timers; the group committer
 * calls applyWrite inside a storage write transaction.
 *
 * Critical invariants:
 *  - Log indexes are assigned consecutively from appliedIndex + 1 and never reused; a key's
 *    version is the index of the write that produced its current value.
 *  - Data, log entry and applied index change in the same storage transaction, so after a
 *    crash the log never runs ahead of or behind the data.
 *  - applyWrite never throws for an operating error (a failed condition is a result): the
 *    storage cannot roll back half a transaction body.
 */
import { ConditionFailedError, assert, type QuireError } from '@quire/common';
import { LogEntryKind, encodeLogEntry } from '../storage/codec.js';
import type { PartitionStore, RangeQuery, StoredEntry } from '../storage/engine.js';

/** A validated write, addressed to this partition. */
export interface WriteRequest {
  readonly kind: 'put' | 'delete';
  readonly key: Buffer;
  /** The new value (empty for deletes). */
  readonly value: Buffer;
  /** When defined, the write applies only if the key's version equals it (0 = absent). */
  readonly expectedVersion: number | undefined;
}

/** The outcome of a write. */
export type WriteResult =
  | {
      readonly ok: true;
      /** The write's log index, or 0 for a delete that found nothing. */
      readonly version: number;
      /** Whether the key existed before (meaningful for deletes). */
      readonly found: boolean;
    }
  | { readonly ok: false; readonly error: QuireError };

/** Log retention settings. */
export interface LogRetention {
  /** Keep at least this many of the newest log entries. */
  readonly logRetainEntriesMax: number;
  /** Delete at most this many old entries per commit, to spread the cost. */
  readonly logTruncateBatchMax: number;
}

/** One partition's replica state machine. */
export class PartitionReplica {
  private lastIndex: number;
  private lastEpoch: number;
  private dirty = false;

  constructor(
    private readonly store: PartitionStore,
    private readonly retention: LogRetention,
  ) {
    const applied = store.applied();
    this.lastIndex = applied.appliedIndex;
    this.lastEpoch = applied.epoch;
  }

  get keyspace(): string {
    return this.store.keyspace;
  }

  get partitionId(): number {
    return this.store.partitionId;
  }

  /** The index of the newest write (durable once its commit resolved). */
  get appliedIndex(): number {
    return this.lastIndex;
  }

  /** Reads one key from committed state. */
  read(key: Buffer): StoredEntry | undefined {
    return this.store.get(key);
  }

  /** Reads a chunk of keys in order from committed state. */
  range(query: RangeQuery): StoredEntry[] {
    return this.store.range(query);
  }

  /** Applies one write inside the current storage write transaction. */
  applyWrite(request: WriteRequest, epoch: number): WriteResult {
    assert(epoch >= this.lastEpoch, `Write at epoch ${epoch} after epoch ${this.lastEpoch}`);
    const current = this.store.version(request.key);
    if (request.expectedVersion !== undefined && request.expectedVersion !== current) {
      return {
        ok: false,
        error: new ConditionFailedError(
          `expected_version is ${request.expectedVersion} but the key's current version is ${current}`,
          { currentVersion: current, field: 'expected_version' },
        ),
      };
    }
    if (request.kind === 'delete' && current === 0) return { ok: true, version: 0, found: false };
    const index = this.lastIndex + 1;
    this.store.appendLog(index, encodeLogEntry(request.kind === 'put' ? LogEntryKind.Put : LogEntryKind.Delete, epoch, request.key, request.value));
    if (request.kind === 'put') {
      this.store.putValue(request.key, index, request.value);
    } else {
      this.store.deleteValue(request.key);
    }
    this.lastIndex = index;
    this.lastEpoch = epoch;
    this.dirty = true;
    return { ok: true, version: index, found: current !== 0 };
  }

  /**
   * Ends this transaction's writes to the partition: records the applied index and trims
   * the log to its retention. Call once per transaction for every replica written.
   */
  finishWrites(): void {
    if (!this.dirty) return;
    this.dirty = false;
    this.store.setApplied({ appliedIndex: this.lastIndex, epoch: this.lastEpoch });
    const keepFrom = this.lastIndex - this.retention.logRetainEntriesMax + 1;
    if (keepFrom > this.store.firstLogIndex()) {
      this.store.truncateLogBefore(keepFrom, this.retention.logTruncateBatchMax);
    }
  }
}
