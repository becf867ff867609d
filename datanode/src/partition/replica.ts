/**
 * PartitionReplica: one partition's state machine on this node (RFC 0001, "Write path on the
 * leader"). A write is first *appended*: its compare-and-set condition is checked against the
 * pending view (data overlaid with appended-but-unapplied entries), it gets the next log index
 * and its log entry is written. Once the entry is *acknowledged* (with one replica: as soon as
 * the append is durable; with followers: when the ack policy is met) it is *applied*: its
 * value is written to data and the applied index moves. Data therefore holds acknowledged
 * writes only; reads see data overlaid with the acknowledged but not yet applied writes, so a
 * write is readable exactly from the moment it is acknowledged — and no read returns a value a
 * failover could take back. It does no I/O of its own and has no timers; the group committer
 * calls it inside storage write transactions.
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
 *  - A snapshot install (beginSnapshotInstall, loadSnapshotChunk, finishSnapshotInstall, each in
 *    a storage transaction) replaces data, log, epoch history and dedup table wholesale. While it
 *    runs, nothing may append, apply or truncate (callers check installingSnapshot): the data is
 *    partial. It ends with logEnd = durable = acknowledged = applied = the snapshot's index and
 *    an empty log above it. It is the only way the applied index goes down (RFC invariant 6: a
 *    replica is re-seeded, never truncated below its applied index in place).
 *  - A write with a request id in the dedup table is never appended again: it is answered with
 *    the recorded entry's result once that entry is acknowledged (RFC invariant 8). Every entry
 *    appended with an id — by appendWrite or appendReplicated — is recorded, and records of
 *    truncated entries are dropped, so a record always names this log's entry at its index.
 *    Writes that take no index (a failed condition, a delete of an absent key) are not
 *    recorded: they had no effect, so re-evaluating a retry of one is the same as evaluating
 *    it the first time; the router never resends a definite refusal it received, only writes
 *    whose answer it did not get.
 *  - Whether the acknowledged index comes from replication follows the partition's replica set
 *    (setReplicated): going replicated keeps it where it is, for the leader's progress to move;
 *    going unreplicated (a sole replica) acknowledges the durable log at once and the rest as it
 *    becomes durable, so no write waits for a follower that is no longer there.
 *  - A retired replica (its storage deleted in the current transaction, RFC 0003) touches its
 *    store no more: appends are refused, applies and transaction ends do nothing, reads are an
 *    assertion failure.
 *  - Splits (RFC 0003 "Splits"): a RANGE partition's replica refuses writes to keys outside its
 *    key range (setKeyRange, narrowed at once by appendSplit), so no write to the keys a split
 *    gives away is appended after the split marker. A split marker is applied alone, in a
 *    transaction of its own after every entry before it is applied and durable: the keys from
 *    the split key on move to the child replica (seeded with them as a snapshot at the marker's
 *    index, when the child is held here and still empty) and leave this replica's data, in that
 *    one transaction.
 */
import { ConditionFailedError, NotLeaderError, WrongPartitionError, assert, keyInRange, type Clock, type QuireError } from '@quire/common';
import { DedupTable, type DedupLimits } from '../replication/dedup-table.js';
import type { LogEnd } from '../replication/divergence.js';
import { EpochHistory } from '../replication/epoch-history.js';
import { LeaderContact, type LeaderContactState } from '../replication/leader-contact.js';
import { PendingView, type PendingViewLimits } from '../replication/pending-view.js';
import { LogEntryKind, decodeLogEntry, decodeSplitMarker, encodeLogEntry, encodeSplitMarker, isControlKey, logEntryRequestId, type SplitMarker } from '../storage/codec.js';
import type { PartitionStore, RangeQuery, StoredEntry } from '../storage/engine.js';

/** A validated write, addressed to this partition. */
export interface WriteRequest {
  readonly kind: 'put' | 'delete';
  readonly key: Buffer;
  /** The new value (empty for deletes). */
  readonly value: Buffer;
  /** When defined, the write applies only if the key's version equals it (0 = absent). */
  readonly expectedVersion: number | undefined;
  /** The write's request id (at most 64 bytes); absent or empty: none, never deduplicated. */
  readonly requestId?: Buffer;
}

/** The outcome of a write. */
export type WriteResult =
  | {
      readonly ok: true;
      /** The write's log index, or 0 for a delete that found nothing. */
      readonly version: number;
      /**
       * Whether the key existed before (meaningful for deletes; true for any write answered
       * from the dedup table, where only deletes that found their key are recorded).
       */
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
   * Whether the partition has followers (more than one replica) when the replica opens. Then the
   * acknowledged index comes from outside — the leader's replication progress, or a follower's
   * leader — and a replica opened with unapplied entries does not know they were acknowledged:
   * it starts with acknowledged = applied. With one replica a durable entry is acknowledged.
   * setReplicated changes it as the replica set changes.
   */
  readonly replicated: boolean;
  /** Bounds of the request id table (RFC 0001 "Request ids and router buffering"). */
  readonly dedup: DedupLimits;
}

/** A log entry as replication carries it: index and epoch with the write. */
export interface ReplicatedEntry {
  readonly index: number;
  readonly epoch: number;
  readonly kind: 'put' | 'delete';
  readonly key: Buffer;
  readonly value: Buffer;
  /** The write's request id; absent or empty: none. */
  readonly requestId?: Buffer;
}

/**
 * Where a split marker's keys go (the node's adapter): the child partition's replica on this
 * node when the node holds it (open); 'not-held' when the node is not among the child's
 * replicas (the keys are only dropped); 'unknown' while the node's view does not show the child
 * yet — the marker then waits (retrySplit once the view moved), so a replica of the child is
 * never skipped for want of a view.
 */
export interface SplitHost {
  childFor(parent: PartitionReplica, childPartitionId: number): PartitionReplica | 'not-held' | 'unknown';
  /** A child was seeded from this replica's data, and that transaction is durable. */
  childSeeded(parent: PartitionReplica, child: PartitionReplica): void;
}

/** Log entries read per chunk when the dedup table is rebuilt on open, by bytes. */
const dedupRebuildChunkBytesMax = 4 * 1024 * 1024;

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
  /** An epoch whose leader's log holds this log up to max(applied, acknowledged) (follower-append.ts FollowerState.floorEpoch). */
  private floorVouched = 0;
  /** The epoch this node leads the partition at by its view; 0 when it does not lead; undefined when not tracked (tests). */
  private leading: number | undefined;
  /** The newest epoch recorded as led here (store.leaderTenure), as of the last recordLeaderTenure or the open. */
  private leaderTenureRecorded: number;
  /** The log is kept from here on at least (entries followers still need); Infinity for no floor. */
  private keepFloor = Number.POSITIVE_INFINITY;
  private pending: PendingView;
  private history: EpochHistory;
  /** Request ids of recent entries of this log, for deduplicating retried writes. */
  private readonly dedup: DedupTable;
  private dirty = false;
  private historyDirty = false;
  /** A snapshot install has begun and not finished (also when found so on open). */
  private installing: boolean;
  /** Snapshot installs begun since open, so an answer decided before one can tell it came after. */
  private installsBegun = 0;
  /** A follower's contacts with its leader, for the staleness of follower reads (RFC 0001 "Follower reads"). */
  private readonly contact = new LeaderContact();
  /** Whether the acknowledged index comes from replication (ReplicaSettings.replicated, then setReplicated). */
  private replicatedNow: boolean;
  /** Set once the replica's storage was deleted (retire). */
  private retiredNow = false;
  /** The keys this replica takes writes for: [keyStart, keyEnd), empty end unbounded (RANGE keyspaces; all keys for HASH). */
  private keyStart: Buffer = Buffer.alloc(0);
  private keyEnd: Buffer = Buffer.alloc(0);
  private splitHost: SplitHost | undefined;
  /** Children seeded by the split applied in the transaction in progress, told to the host once it is durable. */
  private seededChildren: PartitionReplica[] = [];
  /** Children of split markers in this log since open (appended, replicated, applied, or found in the retained log). */
  private readonly splitsSeen = new Set<number>();
  /** A split marker is next to apply but the host does not know its child yet: no apply until retrySplit. */
  private splitWaiting = false;

  constructor(
    private readonly store: PartitionStore,
    private readonly settings: ReplicaSettings,
    private readonly clock: Pick<Clock, 'monotonicMs'>,
  ) {
    const state = store.applied();
    this.installing = store.snapshotInstallPending();
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
      this.pending.restore(index, entry.key, entry.kind === LogEntryKind.Put ? 'put' : 'delete', entry.value, entry.requestId);
      if (entry.kind === LogEntryKind.Put && isControlKey(entry.key)) this.splitsSeen.add(decodeSplitMarker(entry.value).childPartitionId);
    }
    this.dedup = new DedupTable(settings.dedup);
    this.rebuildDedup();
    this.durable = this.logEnd;
    this.replicatedNow = settings.replicated;
    this.acknowledged = settings.replicated ? this.applied : this.logEnd;
    this.known = this.logEndEpoch;
    this.leaderTenureRecorded = store.leaderTenure();
    // Log Matching: the leader of the last entry's epoch held this whole log.
    this.floorVouched = this.logEndEpoch;
  }

  /**
   * Records the request ids of the newest retained log entries (at most dedupEntriesMax of
   * them), as if appended now: their append times are not stored, so each is remembered for a
   * whole window from the open. Entries already dropped by retention are not recovered.
   */
  private rebuildDedup(): void {
    const nowMs = this.clock.monotonicMs();
    let index = Math.max(this.store.firstLogIndex(), this.logEnd - this.settings.dedup.dedupEntriesMax + 1);
    while (index <= this.logEnd) {
      const chunk = this.store.logEntries(index, this.logEnd, dedupRebuildChunkBytesMax);
      assert(chunk.length > 0, `Log of ${this.keyspace}/${this.partitionId} ends at ${index - 1}, not ${this.logEnd}`);
      for (const { index: at, entry } of chunk) {
        const { kind, requestId } = logEntryRequestId(entry);
        if (kind === LogEntryKind.Put && entry.length > 11 && entry.readUInt16BE(9) === 0) this.splitsSeen.add(decodeSplitMarker(decodeLogEntry(entry).value).childPartitionId);
        this.dedup.record(requestId, at, kind === LogEntryKind.Put ? 'put' : 'delete', nowMs);
      }
      index += chunk.length;
    }
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

  private assertNotRetired(method: string): void {
    assert(!this.retiredNow, `PartitionReplica.${method} on ${this.keyspace}/${this.partitionId}, which was retired (its storage is deleted)`);
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
    return this.replicatedNow;
  }

  /**
   * Follows a change of the partition's replica set (RFC 0003 moves): `true` once it has more
   * than one replica, `false` once this is the only one. Going replicated, the acknowledged
   * index stays where it is and moves from then on by acknowledge() (the leader's progress,
   * which counts the leader's own durable index, or the follower's leader). Going unreplicated,
   * every durable entry is acknowledged at once and later ones as they become durable
   * (logDurable), exactly as with one replica from the start: writes that waited for followers
   * are answered once durable here. Returns whether the acknowledged index moved (the caller
   * then answers the writes waiting for it).
   */
  setReplicated(replicated: boolean): boolean {
    if (replicated === this.replicatedNow) return false;
    this.replicatedNow = replicated;
    if (replicated || this.retiredNow || this.installing || this.durable <= this.acknowledged) return false;
    this.acknowledged = this.durable;
    return true;
  }

  /**
   * Marks the replica retired (inside the storage transaction that deletes its storage,
   * StorageEngine.dropPartition): from now on it refuses appends, applies nothing and never
   * touches its store again. The caller drops every reference to it.
   */
  retire(): void {
    this.retiredNow = true;
    this.dirty = false;
    this.historyDirty = false;
  }

  /** Whether the replica's storage was deleted (retire). */
  get retired(): boolean {
    return this.retiredNow;
  }

  /**
   * Sets the keys the replica takes writes for, from its partition record: [start, end) for a
   * RANGE keyspace (empty end: unbounded), empty and empty (every key) for a HASH one. A range
   * is only ever narrowed from above by a split, which appendSplit already applied here.
   */
  setKeyRange(start: Uint8Array, end: Uint8Array): void {
    this.keyStart = Buffer.from(start);
    this.keyEnd = Buffer.from(end);
  }

  /** Whether the replica takes writes for `key` (its key range holds it). */
  ownsKey(key: Uint8Array): boolean {
    return keyInRange(key, this.keyStart, this.keyEnd);
  }

  /** The bytes the replica's data takes on disk (PartitionStore.approximateDataBytes). */
  approximateDataBytes(): number {
    this.assertNotRetired('approximateDataBytes');
    return this.store.approximateDataBytes();
  }

  /**
   * The replica's applied data in key order, each key with the bytes of its entry (key and
   * value), read in chunks of about `bytesPerChunk`: what choosing a split key needs. Consume it
   * synchronously (it reads committed data as it goes).
   */
  *sizedKeys(bytesPerChunk: number): Generator<{ key: Buffer; bytes: number }> {
    this.assertNotRetired('sizedKeys');
    let start: Buffer = Buffer.from(this.keyStart);
    for (;;) {
      const chunk = this.store.range({ start, end: this.keyEnd, limit: Number.MAX_SAFE_INTEGER, bytesMax: bytesPerChunk, keysOnly: false });
      for (const e of chunk) yield { key: e.key, bytes: e.key.length + e.value.length };
      const last = chunk.at(-1);
      if (last === undefined || chunkBytes(chunk) < bytesPerChunk) return;
      start = successor(last.key);
    }
  }

  /** Sets where split markers put the keys they carve out (the node's adapter). */
  setSplitHost(host: SplitHost): void {
    this.splitHost = host;
  }

  /**
   * Whether the replica holds nothing and was never seeded: no applied entry, no log, no install
   * under way. A partition made by a split is such until the split marker is applied here (or
   * its leader sends a snapshot); it is neither led nor served until then.
   */
  get unseeded(): boolean {
    return this.applied === 0 && this.logEnd === 0 && !this.installing && !this.retiredNow;
  }

  /**
   * Whether this log has held a split marker for `childPartitionId` since the replica was
   * opened (appended here, received, applied, or among the retained entries read at open): then
   * the split's cut is in the log, and no second marker may be appended — a second one would
   * seed an empty child from a parent already carved.
   */
  hasSeenSplit(childPartitionId: number): boolean {
    return this.splitsSeen.has(childPartitionId);
  }

  /** The view now shows what a waiting split marker needs: apply it at the next transaction. */
  retrySplit(): void {
    this.splitWaiting = false;
  }

  /**
   * Appends a split marker (the leader, inside a storage write transaction): from the next
   * index on, keys from `splitKey` belong to partition `childPartitionId`. The key range is
   * narrowed here at once, so no write to those keys is appended after the marker. Returns the
   * marker's index, or the refusal when this replica does not lead at `epoch`.
   */
  appendSplit(marker: SplitMarker, epoch: number): { ok: true; index: number } | { ok: false; error: QuireError } {
    if (this.retiredNow || (this.leading !== undefined && epoch !== this.leading) || epoch < this.logEndEpoch) {
      return { ok: false, error: new NotLeaderError(`Partition ${this.keyspace}/${this.partitionId} is no longer led here at epoch ${epoch}`, { partitionId: this.partitionId, epoch: this.known }) };
    }
    const value = encodeSplitMarker(marker);
    const key = Buffer.alloc(0);
    const index = this.logEnd + 1;
    const full = this.pending.add(index, key, 'put', value, Buffer.alloc(0));
    if (full !== undefined) return { ok: false, error: full };
    this.store.appendLog(index, encodeLogEntry(LogEntryKind.Put, epoch, key, value));
    if (this.history.append(epoch, index)) this.historyDirty = true;
    this.logEnd = index;
    this.logEndEpoch = epoch;
    this.dirty = true;
    if (this.keyEnd.length === 0 || Buffer.compare(marker.splitKey, this.keyEnd) < 0) this.keyEnd = Buffer.from(marker.splitKey);
    this.splitsSeen.add(marker.childPartitionId);
    return { ok: true, index };
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
    // Leading, its own log is the reference: whatever it acknowledges is in its leader's log.
    if (epoch > this.floorVouched) this.floorVouched = epoch;
  }

  /**
   * An epoch whose leader's log is known to hold this replica's log up to max(applied,
   * acknowledged): the last epoch it accepted an Append from or led, or on open and after a
   * snapshot the epoch of its last entry (FollowerState.floorEpoch).
   */
  get floorEpoch(): number {
    return this.floorVouched;
  }

  /** Records that the leader of `epoch` matched this log up to its floor (an accepted Append of that epoch). */
  noteFloorEpoch(epoch: number): void {
    if (epoch > this.floorVouched) this.floorVouched = epoch;
  }

  /** The epoch this node leads the partition at (0: not leading; undefined: not tracked). */
  get leadingEpoch(): number | undefined {
    return this.leading;
  }

  /**
   * The leader tenure: the newest epoch this node recorded as leading the partition at,
   * possibly in an earlier run of the process (0: never). A leader whose view names it for an
   * epoch at or below this on start-up led that epoch before a restart, and may have sent
   * entries of it that it lost: it must not lead that epoch again (RFC 0001 "Sending ahead of
   * the leader's fsync").
   */
  get leaderTenureEpoch(): number {
    return this.leaderTenureRecorded;
  }

  /**
   * Records durably (inside a storage write transaction) that this node leads the partition at
   * `epoch`; entries of that epoch may be sent before they are durable here once the
   * transaction is.
   */
  recordLeaderTenure(epoch: number): void {
    this.assertNotRetired('recordLeaderTenure');
    assert(epoch > this.leaderTenureRecorded, `Leader tenure ${epoch} of ${this.keyspace}/${this.partitionId} is not newer than the recorded ${this.leaderTenureRecorded}`);
    this.store.setLeaderTenure(epoch);
    this.leaderTenureRecorded = epoch;
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
   * Reads log entries fromIndex..toIndex (at most bytesMax of keys and values, and at least one
   * entry), for sending to a follower. Entries not yet durable are in the pending view (an entry
   * is applied only after it is durable), so they may be read as soon as they are appended.
   */
  entriesForSend(fromIndex: number, toIndex: number, bytesMax: number): ReplicatedEntry[] {
    assert(fromIndex >= 1 && toIndex <= this.logEnd, `Entries ${fromIndex}..${toIndex} are not in the log (log end ${this.logEnd})`);
    if (fromIndex > this.pending.appliedIndex && toIndex <= this.pending.lastIndex) {
      // Not applied yet (the common case: followers keep up): straight from the pending view.
      const out: ReplicatedEntry[] = [];
      let bytes = 0;
      this.pending.forEachInRange(fromIndex, toIndex, (index, kind, key, value, requestId) => {
        if (out.length > 0 && bytes + key.length + value.length > bytesMax) return false;
        bytes += key.length + value.length;
        out.push({ index, epoch: this.history.epochAt(index, this.logEnd) ?? this.logEndEpoch, kind, key, value, requestId });
        return true;
      });
      return out;
    }
    return this.store.logEntries(fromIndex, toIndex, bytesMax).map(({ index, entry: raw }) => {
      const entry = decodeLogEntry(raw);
      return { index, epoch: entry.epoch, kind: entry.kind === LogEntryKind.Put ? 'put' : 'delete', key: entry.key, value: entry.value, requestId: entry.requestId };
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
    if (this.retiredNow) return;
    assert(this.replicatedNow, `Partition ${this.keyspace}/${this.partitionId} has one replica: it acknowledges its own durable log`);
    assert(index <= this.durable, `Acknowledged index ${index} is beyond the durable log end ${this.durable}`);
    if (index > this.acknowledged) this.acknowledged = index;
  }

  /**
   * Appends entries a leader sent (a follower, inside the current storage write transaction),
   * after first dropping the log suffix above `truncateAfterIndex` when it is defined. The
   * entries continue the (truncated) log; they are pending until acknowledged and applied.
   */
  appendReplicated(entries: readonly ReplicatedEntry[], truncateAfterIndex: number | undefined): void {
    this.assertNotRetired('appendReplicated');
    if (truncateAfterIndex !== undefined) this.truncateLogAfter(truncateAfterIndex);
    const nowMs = entries.length > 0 ? this.clock.monotonicMs() : 0;
    for (const entry of entries) {
      assert(entry.index === this.logEnd + 1, `Replicated entry ${entry.index} does not follow the log end ${this.logEnd}`);
      assert(entry.epoch >= this.logEndEpoch, `Replicated entry ${entry.index} of epoch ${entry.epoch} after epoch ${this.logEndEpoch}`);
      const requestId = entry.requestId ?? Buffer.alloc(0);
      this.store.appendLog(entry.index, encodeLogEntry(entry.kind === 'put' ? LogEntryKind.Put : LogEntryKind.Delete, entry.epoch, entry.key, entry.value, requestId));
      if (entry.kind === 'put' && isControlKey(entry.key)) this.splitsSeen.add(decodeSplitMarker(entry.value).childPartitionId);
      this.pending.restore(entry.index, entry.key, entry.kind, entry.kind === 'put' ? entry.value : Buffer.alloc(0), requestId);
      // Recorded as the leader did, so this replica recognises a retry if it leads next.
      this.dedup.record(requestId, entry.index, entry.kind, nowMs);
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
    this.assertNotRetired('truncateLogAfter');
    assert(index >= this.applying && index >= this.acknowledged, `Truncating after ${index} would drop applied (${this.applying}) or acknowledged (${this.acknowledged}) entries`);
    if (index >= this.logEnd) return;
    this.store.truncateLogAfter(index);
    this.pending.truncateAfter(index);
    this.dedup.truncateAfter(index);
    this.history.truncateAfter(index);
    this.historyDirty = true;
    this.logEnd = index;
    this.logEndEpoch = index === this.applied ? this.appliedEpoch : (this.history.epochAt(index, index) ?? this.appliedEpoch);
    if (this.durable > index) this.durable = index;
    this.dirty = true;
  }

  /** The replica's monotonic clock, in ms (when a leader message was received, for LeaderContact). */
  monotonicMs(): number {
    return this.clock.monotonicMs();
  }

  /**
   * Records an accepted Append of `epoch` received at `receivedMs` that stated the leader's
   * acknowledged index; `logEndBefore` is the log end before the message's entries (call after
   * acknowledge(), with the acknowledged index the message led to).
   */
  noteLeaderAppend(epoch: number, leaderAcknowledgedIndex: number, logEndBefore: number, receivedMs: number): void {
    this.contact.appendAccepted(epoch, leaderAcknowledgedIndex, logEndBefore, this.acknowledged, receivedMs);
  }

  /** What this replica knows of its leader's acknowledged index (follower reads). */
  get leaderContact(): LeaderContactState {
    return this.contact.state;
  }

  /** Whether acknowledged entries wait to be applied. */
  get needsApply(): boolean {
    return !this.retiredNow && !this.splitWaiting && this.acknowledged > this.applying;
  }

  /** Reads one key as of the acknowledged index: data, overlaid with acknowledged but unapplied writes. */
  read(key: Buffer): StoredEntry | undefined {
    this.assertNotRetired('read');
    return this.pending.acknowledgedValueOf(key, this.acknowledged, this.store.get(key));
  }

  /**
   * Reads a chunk of keys in order as of the acknowledged index: the data chunk, with the
   * acknowledged but unapplied writes in the range it covers merged in (puts replace or insert,
   * deletes remove), cut back to the query's limit. `next` is where the following chunk starts,
   * undefined when the range is exhausted — a chunk shortened by deletes is not the end.
   */
  range(query: RangeQuery): { entries: StoredEntry[]; next: Buffer | undefined } {
    this.assertNotRetired('range');
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
      if (isControlKey(key)) continue;
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
   * condition, a full pending view. A delete of an absent key takes no index. A write whose
   * request id is in the dedup table is not appended: it gets the recorded entry's result, to
   * be answered once that entry is acknowledged.
   */
  appendWrite(request: WriteRequest, epoch: number): AppendOutcome {
    if (this.retiredNow) {
      // Its storage is gone: this node no longer holds the partition, and the write did not happen.
      const error = new WrongPartitionError(`Partition ${this.keyspace}/${this.partitionId} no longer has a replica here`, { partitionId: this.partitionId, epoch: this.known });
      return { result: { ok: false, error }, answerAfterIndex: 0 };
    }
    if ((this.leading !== undefined && epoch !== this.leading) || epoch < this.logEndEpoch) {
      // Leadership moved between the request's admission and its transaction: it did not happen.
      const error = new NotLeaderError(`Partition ${this.keyspace}/${this.partitionId} is no longer led here at epoch ${epoch} (known epoch ${this.known})`, {
        partitionId: this.partitionId,
        epoch: this.known,
      });
      return { result: { ok: false, error }, answerAfterIndex: 0 };
    }
    if (!this.ownsKey(request.key)) {
      // A split gave the key to another partition after the request was admitted: it did not happen.
      const error = new WrongPartitionError(`Key is outside partition ${this.keyspace}/${this.partitionId}'s range (it was split); the router retries with the new map`, {
        partitionId: this.partitionId,
        epoch: this.known,
      });
      return { result: { ok: false, error }, answerAfterIndex: 0 };
    }
    const requestId = request.requestId ?? Buffer.alloc(0);
    const nowMs = requestId.length > 0 ? this.clock.monotonicMs() : 0;
    // Checked before the condition: a retry of a conditional write that was applied must get
    // its result, not a refusal against the version that write itself produced.
    const seen = this.dedup.lookup(requestId, nowMs);
    if (seen !== undefined) return { result: { ok: true, version: seen.index, found: true }, answerAfterIndex: seen.index };
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
    const full = this.pending.add(index, request.key, request.kind, request.kind === 'put' ? request.value : Buffer.alloc(0), requestId);
    if (full !== undefined) return { result: { ok: false, error: full }, answerAfterIndex: 0 };
    this.store.appendLog(index, encodeLogEntry(request.kind === 'put' ? LogEntryKind.Put : LogEntryKind.Delete, epoch, request.key, request.value, requestId));
    this.dedup.record(requestId, index, request.kind, nowMs);
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
    if (this.retiredNow) return;
    this.durable = this.logEnd;
    if (!this.replicatedNow) this.acknowledged = this.logEnd;
  }

  /**
   * Applies acknowledged entries to data, at most applyEntriesMax of them, inside the current
   * storage write transaction. Returns how many it applied. They stay in the pending view —
   * readers keep seeing them there — until appliedDurable() says the transaction committed:
   * data readers do not see an uncommitted transaction.
   */
  applyAcknowledged(): number {
    if (this.retiredNow) return 0;
    let target = Math.min(this.acknowledged, this.applying + this.settings.applyEntriesMax);
    if (target <= this.applying) return 0;
    // A split marker is applied alone, once everything before it is applied and durable: its
    // carve reads the committed data. Entries before it are applied first, in this transaction.
    let marker: { index: number; value: Buffer } | undefined;
    this.pending.forEachInRange(this.applying + 1, target, (index, kind, key, value) => {
      if (kind !== 'put' || !isControlKey(key)) return true;
      marker = { index, value };
      return false;
    });
    if (marker !== undefined) {
      if (marker.index === this.applying + 1) {
        if (this.applying !== this.applied) return 0;
        const split = decodeSplitMarker(marker.value);
        const child = this.splitHost?.childFor(this, split.childPartitionId) ?? 'not-held';
        if (child === 'unknown') {
          this.splitWaiting = true;
          return 0;
        }
        this.applySplit(marker.index, split, child === 'not-held' ? undefined : child);
        return 1;
      }
      target = marker.index - 1;
    }
    const count = target - this.applying;
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

  /**
   * Applies the split marker at `index` (inside a storage write transaction, everything before it
   * applied and durable): the keys from the split key on are read from data, loaded into the
   * child as a snapshot at (index, the marker's child epoch) when the host gives an unseeded
   * child, and deleted from this replica's data.
   */
  private applySplit(index: number, marker: SplitMarker, child: PartitionReplica | undefined): void {
    const epoch = this.history.epochAt(index, this.logEnd) ?? this.appliedEpoch;
    const moved = this.store.range({ start: marker.splitKey, end: Buffer.alloc(0), limit: Number.MAX_SAFE_INTEGER, bytesMax: Number.POSITIVE_INFINITY, keysOnly: false });
    this.splitsSeen.add(marker.childPartitionId);
    if (child !== undefined && child.unseeded) {
      // At the split's epoch, not the marker's: the child's log must not claim an epoch above its own.
      child.beginSnapshotInstall();
      child.loadSnapshotChunk(index, marker.childEpoch, moved);
      child.finishSnapshotInstall(index, marker.childEpoch);
      // A retry of a write this log took for a key the child now holds is answered by the child
      // with that write's result, not applied a second time (RFC 0001 invariant 8 across a split).
      child.adoptRequestIds(this.requestIdsFrom(marker.splitKey, index));
      this.seededChildren.push(child);
    }
    for (const entry of moved) this.store.deleteValue(entry.key);
    this.appliedEpoch = epoch;
    this.applying = index;
    this.dirty = true;
  }

  /**
   * The request ids of this log's retained entries below `beforeIndex` (the newest
   * dedupEntriesMax of them) that wrote keys from `fromKey` on, in index order.
   */
  private requestIdsFrom(fromKey: Buffer, beforeIndex: number): { requestId: Buffer; index: number; kind: 'put' | 'delete' }[] {
    const out: { requestId: Buffer; index: number; kind: 'put' | 'delete' }[] = [];
    const last = Math.min(beforeIndex - 1, this.logEnd);
    let index = Math.max(this.store.firstLogIndex(), last - this.settings.dedup.dedupEntriesMax + 1);
    while (index <= last) {
      const chunk = this.store.logEntries(index, last, dedupRebuildChunkBytesMax);
      if (chunk.length === 0) break;
      for (const { index: at, entry: raw } of chunk) {
        const entry = decodeLogEntry(raw);
        if (entry.requestId.length === 0 || isControlKey(entry.key) || Buffer.compare(entry.key, fromKey) < 0) continue;
        out.push({ requestId: entry.requestId, index: at, kind: entry.kind === LogEntryKind.Put ? 'put' : 'delete' });
      }
      index += chunk.length;
    }
    return out;
  }

  /**
   * Records request ids of writes its parent's log took for keys this replica now holds (a split
   * carved it; they are below its first index), so a retry of one is answered, not applied again.
   */
  adoptRequestIds(records: readonly { requestId: Buffer; index: number; kind: 'put' | 'delete' }[]): void {
    const nowMs = this.clock.monotonicMs();
    for (const r of records) this.dedup.record(r.requestId, r.index, r.kind, nowMs);
  }

  /** The transaction that applied entries is durable and visible: they leave the pending view. */
  appliedDurable(): void {
    if (this.retiredNow || this.applying === this.applied) return;
    this.pending.applyUpTo(this.applying);
    this.applied = this.applying;
    const seeded = this.seededChildren;
    this.seededChildren = [];
    for (const child of seeded) this.splitHost?.childSeeded(this, child);
  }

  /**
   * Ends this transaction's work on the partition: records the applied index and epoch
   * history, and trims the log to its retention (never above the applied index). Call once per
   * transaction for every replica touched.
   */
  finishWrites(): void {
    if (this.retiredNow) return;
    if (this.historyDirty) {
      this.store.setEpochHistory(this.history.encode());
      this.historyDirty = false;
    }
    if (!this.dirty) return;
    this.dirty = false;
    this.store.setApplied({ appliedIndex: this.applying, epoch: this.appliedEpoch });
    this.truncateLogBefore(Math.min(this.logEnd - this.settings.logRetainEntriesMax + 1, this.applying + 1, this.keepFloor));
  }

  /** Drops log entries below `keepFrom`, at most logTruncateBatchMax per transaction; returns how many. */
  private truncateLogBefore(keepFrom: number): number {
    return keepFrom > this.store.firstLogIndex() ? this.store.truncateLogBefore(keepFrom, this.settings.logTruncateBatchMax) : 0;
  }

  /**
   * Trims the log to what it must keep whatever the retention: from the applied index + 1, or
   * from the keep floor (the first entry an in-sync follower lacks) when that is lower. For a
   * storage engine that wants the space back (the WAL engine, once a partition that stopped
   * writing pins old segments: WalEngineOptions.onLogTrimWanted); a lagging follower then gets
   * a snapshot. Inside a transaction; returns the entries dropped (at most logTruncateBatchMax).
   */
  trimLog(): number {
    if (this.installing || this.retiredNow) return 0;
    return this.truncateLogBefore(Math.min(this.store.applied().appliedIndex + 1, this.keepFloor));
  }

  /**
   * Whether a snapshot install has begun and not finished: the data is partial, and the replica
   * takes no append, truncation or apply until finishSnapshotInstall or discardSnapshotInstall.
   */
  get installingSnapshot(): boolean {
    return this.installing;
  }

  /** How many snapshot installs began since the replica was opened (a work item's answer decided before one is void). */
  get snapshotInstallsBegun(): number {
    return this.installsBegun;
  }

  /**
   * Starts (or restarts) loading a snapshot (inside a storage write transaction): the store
   * drops data, log and epoch history and marks the install pending, and this replica forgets
   * its log (pending view, dedup table). Until the install finishes it reports an empty log
   * after its old applied index, and takes no append, apply or truncation.
   */
  beginSnapshotInstall(): void {
    this.assertNotRetired('beginSnapshotInstall');
    this.store.beginSnapshotInstall();
    const state = this.store.applied();
    this.installing = true;
    this.installsBegun++;
    // The indexes go back to the snapshot's: no follower read counts on earlier contacts.
    this.contact.reset();
    this.resetToSnapshot(state.appliedIndex, state.epoch);
  }

  /**
   * Loads one chunk of a snapshot taken at (appliedIndex, epoch) (inside a storage write
   * transaction), in key order after the previous chunk. The chunk must have passed
   * SnapshotTally's checks: the store asserts them.
   */
  loadSnapshotChunk(appliedIndex: number, epoch: number, entries: readonly StoredEntry[]): void {
    assert(this.installing, `Snapshot chunk for ${this.keyspace}/${this.partitionId} without beginSnapshotInstall`);
    this.store.installSnapshot({ appliedIndex, epoch }, entries);
  }

  /**
   * Completes a snapshot install at (appliedIndex, epoch) (inside a storage write
   * transaction): the store records the applied state with an empty log from appliedIndex + 1
   * and an epoch history starting after it; in memory logEnd = durable = acknowledged = applied
   * = appliedIndex, and the pending view and dedup table are empty (resetToSnapshot).
   */
  finishSnapshotInstall(appliedIndex: number, epoch: number): void {
    assert(this.installing, `Snapshot install of ${this.keyspace}/${this.partitionId} finished without beginSnapshotInstall`);
    assert((appliedIndex === 0) === (epoch === 0), `Snapshot at index ${appliedIndex} of epoch ${epoch}: only index 0 has epoch 0`);
    this.store.finishSnapshotInstall({ appliedIndex, epoch });
    const history = appliedIndex === 0 ? EpochHistory.empty() : EpochHistory.startingAfter(appliedIndex, epoch);
    this.store.setEpochHistory(history.encode());
    this.installing = false;
    this.resetToSnapshot(appliedIndex, epoch);
    this.noteEpoch(epoch);
  }

  /**
   * Gives up a partial install (inside a storage write transaction): the replica becomes an
   * empty one, applied index 0 and an empty log from 1 — a re-seed with nothing, which any
   * leader then brings up to date from its log or with a snapshot of its own. Used when the
   * leader that asked for the snapshot no longer leads, and for an install found pending on open
   * (what was loaded before the restart is not known).
   */
  discardSnapshotInstall(): void {
    this.beginSnapshotInstall();
    this.finishSnapshotInstall(0, 0);
  }

  /**
   * Resets the in-memory state to a log that is empty after `index` (of `epoch`): logEnd =
   * durable = acknowledged = applied = index, empty pending view and dedup table, an epoch
   * history starting after `index`, nothing left to write in this transaction.
   */
  private resetToSnapshot(index: number, epoch: number): void {
    this.applied = index;
    this.applying = index;
    this.appliedEpoch = epoch;
    this.acknowledged = index;
    this.durable = index;
    this.logEnd = index;
    this.logEndEpoch = epoch;
    this.pending = new PendingView(this.settings.pending, index);
    // Epoch 0 with a positive index is an applied state written before epochs were recorded; the
    // replica is inert until the install finishes, so an empty history does for it.
    this.history = epoch === 0 ? EpochHistory.empty() : EpochHistory.startingAfter(index, epoch);
    this.dedup.clear();
    this.floorVouched = epoch;
    this.dirty = false;
    this.historyDirty = false;
  }
}
