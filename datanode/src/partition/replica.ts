/**
 * PartitionReplica: one partition's state machine on this node (RFC 0001, "Write path on the
 * leader"). A write is first *appended*: its compare-and-set condition is checked against the
 * pending view (data overlaid with appended-but-unapplied entries), it gets the next log index
 * and its log entry is written. Once the entry is *acknowledged* (today, with one replica: as
 * soon as the append is durable) it is *applied*: its value is written to data and the applied
 * index moves. Data therefore holds acknowledged writes only; reads see data overlaid with the
 * acknowledged but not yet applied writes, so a write is readable exactly from the moment it is
 * acknowledged — and no read returns a value a failover could take back. It does no I/O of its
 * own and has no timers; the group committer calls it inside storage write transactions.
 *
 * Critical invariants:
 *  - Log indexes are assigned consecutively from the log end + 1 and never reused; a key's
 *    version is the index of the write that produced its current value.
 *  - appliedIndex ≤ acknowledgedIndex ≤ logEndIndex; entries in (applied, logEnd] are exactly
 *    the pending view, so compare-and-set sees every write appended before it. An entry leaves
 *    the view only once the transaction that applied it has committed (appliedDurable), so a
 *    read never falls between the view and data.
 *  - A result is answered only once everything it depended on is acknowledged (the write
 *    itself, or for a refused or no-op write the log end it was decided against), so no answer
 *    rests on a write that could still be lost; reads see acknowledged writes at once.
 *  - appendWrite and applyAcknowledged never throw for an operating error (a failed condition
 *    is a result): a failed storage transaction body stops the process.
 */
import { ConditionFailedError, NotLeaderError, assert, type QuireError } from '@quire/common';
import type { LogEnd } from '../replication/divergence.js';
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

/** A write's result and the index that must be acknowledged before it is answered. */
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
  /**
   * Whether the partition has followers (replication factor > 1). Then the acknowledged index
   * comes from outside — the leader's replication progress, or a follower's leader — and a
   * replica opened with unapplied entries does not know they were acknowledged: it starts with
   * acknowledged = applied. With one replica a durable entry is acknowledged.
   */
  readonly replicated: boolean;
}

/** A log entry as replication carries it: index and epoch with the write. */
export interface ReplicatedEntry {
  readonly index: number;
  readonly epoch: number;
  readonly kind: 'put' | 'delete';
  readonly key: Buffer;
  readonly value: Buffer;
}

/** The smallest key after `key` in byte order. */
function successor(key: Buffer): Buffer {
  return Buffer.concat([key, Buffer.from([0])]);
}

/** Key and value bytes of a chunk. */
function chunkBytes(chunk: readonly StoredEntry[]): number {
  let bytes = 0;
  for (const e of chunk) bytes += e.key.length + e.value.length;
  return bytes;
}

/** One partition's replica state machine. */
export class PartitionReplica {
  private logEnd: number;
  private logEndEpoch: number;
  /** Applied and committed: data readers see everything up to here. */
  private applied: number;
  /** Applied inside the transaction in progress (≥ applied); becomes `applied` once it commits. */
  private applying: number;
  private appliedEpoch: number;
  private acknowledged: number;
  /** The log end as of the last durable transaction that appended to it. */
  private durable: number;
  /** The newest epoch this replica has seen for the partition (its view's or an accepted message's). */
  private known = 0;
  /** The epoch this node leads the partition at by its view; 0 when it does not lead; undefined when not tracked (tests). */
  private leading: number | undefined;
  /** The log is kept from here on at least (entries followers still need); Infinity for no floor. */
  private keepFloor = Number.POSITIVE_INFINITY;
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
    this.applying = state.appliedIndex;
    this.appliedEpoch = state.epoch;
    this.logEnd = store.lastLogIndex();
    const encoded = store.epochHistory();
    this.history = encoded === undefined ? this.historyFromLog() : EpochHistory.decode(encoded);
    this.logEndEpoch = this.logEnd > this.applied ? decodeLogEntry(this.entryAt(this.logEnd)).epoch : state.epoch;
    this.pending = new PendingView(settings.pending, this.applied);
    // Entries appended before a restart but not applied are pending again, so compare-and-set
    // sees them. With one replica they are durable, hence acknowledged; with followers, whether
    // they were is not known here (the leader's progress or the follower's leader says).
    for (let index = this.applied + 1; index <= this.logEnd; index++) {
      const entry = decodeLogEntry(this.entryAt(index));
      this.pending.restore(index, entry.key, entry.kind === LogEntryKind.Put ? 'put' : 'delete', entry.value);
    }
    this.durable = this.logEnd;
    this.acknowledged = settings.replicated ? this.applied : this.logEnd;
    this.known = this.logEndEpoch;
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

  /** The log end as of the last durable transaction (entries above it are still being written). */
  get durableIndex(): number {
    return this.durable;
  }

  /** Whether the acknowledged index comes from replication (see ReplicaSettings.replicated). */
  get replicated(): boolean {
    return this.settings.replicated;
  }

  /** The log's last entry as (epoch, index); (0, 0) for an empty log that starts at 1. */
  get logEndPair(): LogEnd {
    return { epoch: this.logEnd === 0 ? 0 : this.logEndEpoch, index: this.logEnd };
  }

  /**
   * Records the epoch this node leads the partition at (0: it does not lead). Writes submitted
   * for another epoch are refused when they reach appendWrite, so a write queued before a
   * leadership change is never appended after it.
   */
  setLeading(epoch: number): void {
    this.leading = epoch;
    this.noteEpoch(epoch);
  }

  /** The epoch this node leads the partition at (0: not leading; undefined: not tracked). */
  get leadingEpoch(): number | undefined {
    return this.leading;
  }

  /** The newest epoch this replica has seen for the partition. */
  get knownEpoch(): number {
    return this.known;
  }

  /** Records an epoch seen for the partition (from the view or an accepted message). */
  noteEpoch(epoch: number): void {
    if (epoch > this.known) this.known = epoch;
  }

  /** The epoch of the log entry at `index` (or of the applied index at the log's start), if held. */
  epochAt(index: number): number | undefined {
    if (index === 0) return 0;
    return this.history.epochAt(index, this.logEnd);
  }

  /** The last index of `epoch` in this log (EpochHistory.endOfEpoch). */
  endOfEpoch(epoch: number): number | undefined {
    return this.history.endOfEpoch(epoch, this.logEnd);
  }

  /** This log's epoch history (read-only use: the leader's truncation advice). */
  get epochHistory(): EpochHistory {
    return this.history;
  }

  /** The first index still in the log. */
  get firstLogIndex(): number {
    return this.store.firstLogIndex();
  }

  /**
   * Reads durable log entries fromIndex..toIndex (at most bytesMax of keys and values, and at
   * least one entry), for sending to a follower.
   */
  entriesForSend(fromIndex: number, toIndex: number, bytesMax: number): ReplicatedEntry[] {
    assert(fromIndex >= 1 && toIndex <= this.durable, `Entries ${fromIndex}..${toIndex} are not durable (durable ${this.durable})`);
    if (fromIndex > this.pending.appliedIndex && toIndex <= this.pending.lastIndex) {
      // Not applied yet (the common case: followers keep up): straight from the pending view.
      const out: ReplicatedEntry[] = [];
      let bytes = 0;
      this.pending.forEachInRange(fromIndex, toIndex, (index, kind, key, value) => {
        if (out.length > 0 && bytes + key.length + value.length > bytesMax) return false;
        bytes += key.length + value.length;
        out.push({ index, epoch: this.history.epochAt(index, this.logEnd) ?? this.logEndEpoch, kind, key, value });
        return true;
      });
      return out;
    }
    return this.store.logEntries(fromIndex, toIndex, bytesMax).map(({ index, entry: raw }) => {
      const entry = decodeLogEntry(raw);
      return { index, epoch: entry.epoch, kind: entry.kind === LogEntryKind.Put ? 'put' : 'delete', key: entry.key, value: entry.value };
    });
  }

  /**
   * Keeps the log from `index` on, whatever the retention: the leader sets it to the first
   * entry a follower still lacks, so an in-sync follower never needs a snapshot.
   */
  setLogKeepFloor(index: number): void {
    this.keepFloor = index;
  }

  /**
   * Moves the acknowledged index (a replicated partition): the leader's progress says the ack
   * policy is met up to `index`, or a follower's leader said so for entries this follower holds
   * durably. Never backwards, never beyond the durable log.
   */
  acknowledge(index: number): void {
    assert(this.settings.replicated, `Partition ${this.keyspace}/${this.partitionId} has one replica: it acknowledges its own durable log`);
    assert(index <= this.durable, `Acknowledged index ${index} is beyond the durable log end ${this.durable}`);
    if (index > this.acknowledged) this.acknowledged = index;
  }

  /**
   * Appends entries a leader sent (a follower, inside the current storage write transaction),
   * after first dropping the log suffix above `truncateAfterIndex` when it is defined. The
   * entries continue the (truncated) log; they are pending until acknowledged and applied.
   */
  appendReplicated(entries: readonly ReplicatedEntry[], truncateAfterIndex: number | undefined): void {
    if (truncateAfterIndex !== undefined) this.truncateLogAfter(truncateAfterIndex);
    for (const entry of entries) {
      assert(entry.index === this.logEnd + 1, `Replicated entry ${entry.index} does not follow the log end ${this.logEnd}`);
      assert(entry.epoch >= this.logEndEpoch, `Replicated entry ${entry.index} of epoch ${entry.epoch} after epoch ${this.logEndEpoch}`);
      this.store.appendLog(entry.index, encodeLogEntry(entry.kind === 'put' ? LogEntryKind.Put : LogEntryKind.Delete, entry.epoch, entry.key, entry.value));
      this.pending.restore(entry.index, entry.key, entry.kind, entry.kind === 'put' ? entry.value : Buffer.alloc(0));
      if (this.history.append(entry.epoch, entry.index)) this.historyDirty = true;
      this.logEnd = entry.index;
      this.logEndEpoch = entry.epoch;
      this.noteEpoch(entry.epoch);
      this.dirty = true;
    }
  }

  /**
   * Drops the log entries above `index` (inside the current storage write transaction): a
   * suffix the leader does not have. Never an applied or acknowledged entry (RFC invariant 6).
   */
  truncateLogAfter(index: number): void {
    assert(index >= this.applying && index >= this.acknowledged, `Truncating after ${index} would drop applied (${this.applying}) or acknowledged (${this.acknowledged}) entries`);
    if (index >= this.logEnd) return;
    this.store.truncateLogAfter(index);
    this.pending.truncateAfter(index);
    this.history.truncateAfter(index);
    this.historyDirty = true;
    this.logEnd = index;
    this.logEndEpoch = index === this.applied ? this.appliedEpoch : (this.history.epochAt(index, index) ?? this.appliedEpoch);
    if (this.durable > index) this.durable = index;
    this.dirty = true;
  }

  /** Whether acknowledged entries wait to be applied. */
  get needsApply(): boolean {
    return this.acknowledged > this.applying;
  }

  /** Reads one key as of the acknowledged index: data, overlaid with acknowledged but unapplied writes. */
  read(key: Buffer): StoredEntry | undefined {
    return this.pending.acknowledgedValueOf(key, this.acknowledged, this.store.get(key));
  }

  /**
   * Reads a chunk of keys in order as of the acknowledged index: the data chunk, with the
   * acknowledged but unapplied writes in the range it covers merged in (puts replace or insert,
   * deletes remove), cut back to the query's limit. `next` is where the following chunk starts,
   * undefined when the range is exhausted — a chunk shortened by deletes is not the end.
   */
  range(query: RangeQuery): { entries: StoredEntry[]; next: Buffer | undefined } {
    const chunk = this.store.range(query);
    // The chunk covers [start, end) unless it stopped early; then up to and including its last key.
    const last = chunk.at(-1);
    const stoppedEarly = last !== undefined && (chunk.length >= query.limit || chunkBytes(chunk) >= query.bytesMax);
    const coveredEnd = stoppedEarly ? successor(last.key) : query.end;
    const overlay = this.acknowledged > this.applied ? this.pending.acknowledgedInRange(query.start, coveredEnd, this.acknowledged) : [];
    if (overlay.length === 0) return { entries: chunk, next: stoppedEarly ? coveredEnd : undefined };
    const merged: StoredEntry[] = [];
    let i = 0;
    for (const { key, entry } of overlay) {
      while (i < chunk.length && Buffer.compare((chunk[i] as StoredEntry).key, key) < 0) merged.push(chunk[i++] as StoredEntry);
      if (i < chunk.length && (chunk[i] as StoredEntry).key.equals(key)) i++;
      if (entry !== undefined) merged.push(query.keysOnly ? { ...entry, value: Buffer.alloc(0) } : entry);
    }
    while (i < chunk.length) merged.push(chunk[i++] as StoredEntry);
    if (merged.length > query.limit) {
      const entries = merged.slice(0, query.limit);
      return { entries, next: successor((entries.at(-1) as StoredEntry).key) };
    }
    return { entries: merged, next: stoppedEarly ? coveredEnd : undefined };
  }

  /**
   * Appends one write inside the current storage write transaction, or refuses it: a failed
   * condition, a full pending view. A delete of an absent key takes no index.
   */
  appendWrite(request: WriteRequest, epoch: number): AppendOutcome {
    if ((this.leading !== undefined && epoch !== this.leading) || epoch < this.logEndEpoch) {
      // Leadership moved between the request's admission and its transaction: it did not happen.
      const error = new NotLeaderError(`Partition ${this.keyspace}/${this.partitionId} is no longer led here at epoch ${epoch} (known epoch ${this.known})`, {
        partitionId: this.partitionId,
        epoch: this.known,
      });
      return { result: { ok: false, error }, answerAfterIndex: 0 };
    }
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
    this.durable = this.logEnd;
    if (!this.settings.replicated) this.acknowledged = this.logEnd;
  }

  /**
   * Applies acknowledged entries to data, at most applyEntriesMax of them, inside the current
   * storage write transaction. Returns how many it applied. They stay in the pending view —
   * readers keep seeing them there — until appliedDurable() says the transaction committed:
   * data readers do not see an uncommitted transaction.
   */
  applyAcknowledged(): number {
    const target = Math.min(this.acknowledged, this.applying + this.settings.applyEntriesMax);
    const count = target - this.applying;
    if (count <= 0) return 0;
    // The entries are in the pending view: apply them from memory, not by reading the log back.
    this.pending.forEachInRange(this.applying + 1, target, (index, kind, key, value) => {
      if (kind === 'put') {
        this.store.putValue(key, index, value);
      } else {
        this.store.deleteValue(key);
      }
    });
    this.appliedEpoch = this.history.epochAt(target, this.logEnd) ?? this.appliedEpoch;
    this.applying = target;
    this.dirty = true;
    return count;
  }

  /** The transaction that applied entries is durable and visible: they leave the pending view. */
  appliedDurable(): void {
    if (this.applying === this.applied) return;
    this.pending.applyUpTo(this.applying);
    this.applied = this.applying;
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
    this.store.setApplied({ appliedIndex: this.applying, epoch: this.appliedEpoch });
    const keepFrom = Math.min(this.logEnd - this.settings.logRetainEntriesMax + 1, this.applying + 1, this.keepFloor);
    if (keepFrom > this.store.firstLogIndex()) {
      this.store.truncateLogBefore(keepFrom, this.settings.logTruncateBatchMax);
    }
  }
}
