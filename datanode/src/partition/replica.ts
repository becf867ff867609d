/**
 * PartitionReplica: one partition's state machine on this node (RFC 0001, "Write path on the
 * leader"). A write is first *appended*: its compare-and-set condition is checked against the
 * pending view (data overlaid with appended-but-unapplied entries), it gets the next log index
 * and its log entry is written. Once the entry is *acknowledged* (today, with one replica: as
 * soon as the append is durable) it is *applied*: its value is written to data and the applied
 * index moves. Data therefore holds acknowledged writes only, and every read — served from
 * data — returns only values no failover can take back. It does no I/O of its own and has no
 * timers; the group committer calls it inside storage write transactions.
 *
 * Critical invariants:
 *  - Log indexes are assigned consecutively from the log end + 1 and never reused; a key's
 *    version is the index of the write that produced its current value.
 *  - appliedIndex ≤ acknowledgedIndex ≤ logEndIndex; entries in (applied, logEnd] are exactly
 *    the pending view, so compare-and-set sees every write appended before it.
 *  - A result is answered only once the replica has applied everything it depended on (the
 *    write itself, or for a refused or no-op write the log end it was decided against), so no
 *    answer rests on a write that could still be lost.
 *  - appendWrite and applyAcknowledged never throw for an operating error (a failed condition
 *    is a result): a failed storage transaction body stops the process.
 */
import { ConditionFailedError, assert, type QuireError } from '@quire/common';
import { EpochHistory } from '../replication/epoch-history.js';
import { PendingView, type PendingViewLimits } from '../replication/pending-view.js';
import { LogEntryKind, decodeLogEntry, encodeLogEntry } from '../storage/codec.js';
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

/** A write's result and the index the replica must have applied before it is answered. */
export interface AppendOutcome {
  readonly result: WriteResult;
  readonly answerAfterIndex: number;
}

/** Log retention and apply settings. */
export interface ReplicaSettings {
  /** Keep at least this many of the newest log entries. */
  readonly logRetainEntriesMax: number;
  /** Delete at most this many old entries per transaction, to spread the cost. */
  readonly logTruncateBatchMax: number;
  /** Apply at most this many entries per transaction (the rest go in the next one). */
  readonly applyEntriesMax: number;
  /** Bounds of the appended-but-unapplied entries. */
  readonly pending: PendingViewLimits;
}

/** Reads at most this many bytes of log per read while applying (at least one entry always). */
const applyReadBytesMax = 4 * 1024 * 1024;

/** One partition's replica state machine. */
export class PartitionReplica {
  private logEnd: number;
  private logEndEpoch: number;
  private applied: number;
  private appliedEpoch: number;
  private acknowledged: number;
  private readonly pending: PendingView;
  private readonly history: EpochHistory;
  private dirty = false;
  private historyDirty = false;

  constructor(
    private readonly store: PartitionStore,
    private readonly settings: ReplicaSettings,
  ) {
    const state = store.applied();
    this.applied = state.appliedIndex;
    this.appliedEpoch = state.epoch;
    this.logEnd = store.lastLogIndex();
    const encoded = store.epochHistory();
    this.history = encoded === undefined ? this.historyFromLog() : EpochHistory.decode(encoded);
    this.logEndEpoch = this.logEnd > this.applied ? decodeLogEntry(this.entryAt(this.logEnd)).epoch : state.epoch;
    this.pending = new PendingView(settings.pending, this.applied);
    // Entries appended before a restart but not applied are pending again, so compare-and-set
    // sees them. With one replica they are durable, hence acknowledged.
    for (let index = this.applied + 1; index <= this.logEnd; index++) {
      const entry = decodeLogEntry(this.entryAt(index));
      const full = this.pending.add(index, entry.key, entry.kind === LogEntryKind.Put ? 'put' : 'delete', entry.value);
      assert(full === undefined, `Partition ${store.keyspace}/${store.partitionId}: ${this.logEnd - this.applied} unapplied entries exceed the pending view's limits`);
    }
    this.acknowledged = this.logEnd;
  }

  /** The epoch history of a partition written before histories were stored: rebuilt from its log. */
  private historyFromLog(): EpochHistory {
    const first = this.store.firstLogIndex();
    if (first > this.logEnd) return this.logEnd === 0 ? EpochHistory.empty() : EpochHistory.startingAfter(this.applied, this.appliedEpoch);
    const history = EpochHistory.startingAfter(first - 1, this.appliedEpoch);
    for (let index = first; index <= this.logEnd; index++) history.append(decodeLogEntry(this.entryAt(index)).epoch, index);
    this.historyDirty = true;
    return history;
  }

  private entryAt(index: number): Buffer {
    const raw = this.store.logEntry(index);
    assert(raw !== undefined, `Partition ${this.store.keyspace}/${this.store.partitionId} has no log entry ${index}`);
    return raw;
  }

  get keyspace(): string {
    return this.store.keyspace;
  }

  get partitionId(): number {
    return this.store.partitionId;
  }

  /** The index of the newest entry reflected in data. */
  get appliedIndex(): number {
    return this.applied;
  }

  /** The highest index the ack policy is met for. */
  get acknowledgedIndex(): number {
    return this.acknowledged;
  }

  /** The index of the newest log entry (durable once its transaction resolved). */
  get logEndIndex(): number {
    return this.logEnd;
  }

  /** Whether acknowledged entries wait to be applied. */
  get needsApply(): boolean {
    return this.acknowledged > this.applied;
  }

  /** Reads one key from data (acknowledged, applied writes only). */
  read(key: Buffer): StoredEntry | undefined {
    return this.store.get(key);
  }

  /** Reads a chunk of keys in order from data. */
  range(query: RangeQuery): StoredEntry[] {
    return this.store.range(query);
  }

  /**
   * Appends one write inside the current storage write transaction, or refuses it: a failed
   * condition, a full pending view. A delete of an absent key takes no index.
   */
  appendWrite(request: WriteRequest, epoch: number): AppendOutcome {
    assert(epoch >= this.logEndEpoch, `Write at epoch ${epoch} after epoch ${this.logEndEpoch}`);
    const current = this.pending.versionOf(request.key, this.store.version(request.key));
    // Refusals and no-ops were decided against everything appended so far: answer them only
    // once that is applied, so the answer never rests on a write that could be lost.
    const decidedAt = this.logEnd;
    if (request.expectedVersion !== undefined && request.expectedVersion !== current) {
      const error = new ConditionFailedError(`expected_version is ${request.expectedVersion} but the key's current version is ${current}`, {
        currentVersion: current,
        field: 'expected_version',
      });
      return { result: { ok: false, error }, answerAfterIndex: decidedAt };
    }
    if (request.kind === 'delete' && current === 0) return { result: { ok: true, version: 0, found: false }, answerAfterIndex: decidedAt };
    const index = this.logEnd + 1;
    const full = this.pending.add(index, request.key, request.kind, request.kind === 'put' ? request.value : Buffer.alloc(0));
    if (full !== undefined) return { result: { ok: false, error: full }, answerAfterIndex: 0 };
    this.store.appendLog(index, encodeLogEntry(request.kind === 'put' ? LogEntryKind.Put : LogEntryKind.Delete, epoch, request.key, request.value));
    if (this.history.append(epoch, index)) this.historyDirty = true;
    this.logEnd = index;
    this.logEndEpoch = epoch;
    this.dirty = true;
    return { result: { ok: true, version: index, found: current !== 0 }, answerAfterIndex: index };
  }

  /**
   * Records that the log is durable up to its end. With one replica that is what the ack
   * policy needs; with followers the leader's progress decides (RFC 0001).
   */
  logDurable(): void {
    this.acknowledged = this.logEnd;
  }

  /**
   * Applies acknowledged entries to data, at most applyEntriesMax of them, inside the current
   * storage write transaction. Returns how many it applied.
   */
  applyAcknowledged(): number {
    const target = Math.min(this.acknowledged, this.applied + this.settings.applyEntriesMax);
    let index = this.applied;
    while (index < target) {
      const batch = this.store.logEntries(index + 1, target, applyReadBytesMax);
      assert(batch.length > 0 && batch[0]?.index === index + 1, `Partition ${this.store.keyspace}/${this.store.partitionId} is missing log entry ${index + 1}`);
      for (const { index: at, entry: raw } of batch) {
        const entry = decodeLogEntry(raw);
        if (entry.kind === LogEntryKind.Put) {
          this.store.putValue(entry.key, at, entry.value);
        } else {
          this.store.deleteValue(entry.key);
        }
        index = at;
        this.appliedEpoch = entry.epoch;
      }
    }
    const count = index - this.applied;
    if (count > 0) {
      this.pending.applyUpTo(index);
      this.applied = index;
      this.dirty = true;
    }
    return count;
  }

  /**
   * Ends this transaction's work on the partition: records the applied index and epoch
   * history, and trims the log to its retention (never above the applied index). Call once per
   * transaction for every replica touched.
   */
  finishWrites(): void {
    if (this.historyDirty) {
      this.store.setEpochHistory(this.history.encode());
      this.historyDirty = false;
    }
    if (!this.dirty) return;
    this.dirty = false;
    this.store.setApplied({ appliedIndex: this.applied, epoch: this.appliedEpoch });
    const keepFrom = Math.min(this.logEnd - this.settings.logRetainEntriesMax + 1, this.applied + 1);
    if (keepFrom > this.store.firstLogIndex()) {
      this.store.truncateLogBefore(keepFrom, this.settings.logTruncateBatchMax);
    }
  }
}
