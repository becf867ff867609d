/**
 * DedupTable: one partition replica's recent write request ids and what became of them (RFC
 * 0001 "Request ids and router buffering", invariant 8: a write with a request id is applied at
 * most once per partition). Every write that gets a log entry and carries an id is recorded
 * with the entry's index — the version the write gave its key — and its kind (a recorded
 * delete found its key: a delete of an absent key takes no index). The leader looks an id up
 * before appending; a hit is answered with the recorded result instead of a new entry.
 *
 * Followers record the ids of the entries they append, and every replica rebuilds the table
 * from the log it still holds when it opens, so whichever replica leads next recognises a
 * retry of a write its predecessor appended.
 *
 * Critical invariants:
 *  - A record names an entry that is in this replica's log, or was (applied, or dropped by
 *    retention): truncating a log suffix drops the records of the truncated entries, so an id
 *    never points at an index now holding another write.
 *  - Records are kept in index order; they leave from the oldest end only (FIFO), when there
 *    are more than dedupEntriesMax or the oldest was recorded more than dedupWindowMs ago.
 *    Forgetting an id is safe for the log (its entry stays) and only weakens deduplication:
 *    a retry of a forgotten id is applied again — hence clients retry only within the window.
 *  - Bounded: at most dedupEntriesMax records whatever the clock does.
 *
 * Pure: no I/O and no clock of its own; the caller passes monotonic milliseconds. Ids are
 * looked up by their latin1 string form (one character per byte, exact for any byte string).
 */
import { assert } from '@quire/common';

/** Bounds of the table. */
export interface DedupLimits {
  /** Most request ids remembered per partition replica. */
  readonly dedupEntriesMax: number;
  /** How long a request id is remembered after its entry was appended (or the log reloaded), in ms. */
  readonly dedupWindowMs: number;
}

/** What a recorded write became. */
export interface DedupRecord {
  /** The log index of the write's entry: the version it gave its key. */
  readonly index: number;
  readonly kind: 'put' | 'delete';
}

interface Recorded extends DedupRecord {
  readonly id: string;
  readonly recordedMs: number;
}

/** Recent request ids of one partition replica. */
export class DedupTable {
  private readonly byId = new Map<string, Recorded>();
  /** Records in index order, oldest at `head`. */
  private items: Recorded[] = [];
  private head = 0;

  constructor(private readonly limits: DedupLimits) {
    assert(Number.isSafeInteger(limits.dedupEntriesMax) && limits.dedupEntriesMax >= 1, `dedupEntriesMax ${limits.dedupEntriesMax} is not a positive integer`);
    assert(Number.isSafeInteger(limits.dedupWindowMs) && limits.dedupWindowMs >= 1, `dedupWindowMs ${limits.dedupWindowMs} is not a positive integer`);
  }

  /** Records held. */
  get size(): number {
    return this.items.length - this.head;
  }

  /** The index of the newest record; 0 when empty. */
  get lastIndex(): number {
    return this.items.at(-1)?.index ?? 0;
  }

  /**
   * Records that the entry at `index` carries `requestId` (ignored when empty). Indexes are
   * recorded in increasing order. A newer entry with an id already held replaces the old record
   * (the old one was forgotten by the leader that appended the new one).
   */
  record(requestId: Buffer, index: number, kind: 'put' | 'delete', nowMs: number): void {
    if (requestId.length === 0) return;
    assert(Number.isSafeInteger(index) && index > this.lastIndex, `Request id recorded at ${index} after ${this.lastIndex}`);
    const entry: Recorded = { id: requestId.toString('latin1'), index, kind, recordedMs: nowMs };
    this.byId.set(entry.id, entry);
    this.items.push(entry);
    this.expire(nowMs);
  }

  /** Returns what the write with `requestId` became, if it is remembered (never for an empty id). */
  lookup(requestId: Buffer, nowMs: number): DedupRecord | undefined {
    if (requestId.length === 0) return undefined;
    this.expire(nowMs);
    const entry = this.byId.get(requestId.toString('latin1'));
    return entry === undefined ? undefined : { index: entry.index, kind: entry.kind };
  }

  /** Forgets the records of entries above `index` (a follower truncating a divergent log suffix). */
  truncateAfter(index: number): void {
    while (this.size > 0) {
      const newest = this.items.at(-1) as Recorded;
      if (newest.index <= index) break;
      this.items.pop();
      if (this.byId.get(newest.id) === newest) this.byId.delete(newest.id);
    }
    if (this.size === 0) this.clear();
  }

  /** Forgets every record (the log was replaced wholesale, as by a snapshot install). */
  clear(): void {
    this.byId.clear();
    this.items = [];
    this.head = 0;
  }

  /** Drops the oldest records beyond the count, then those recorded more than the window ago. */
  private expire(nowMs: number): void {
    const oldestKeptMs = nowMs - this.limits.dedupWindowMs;
    while (this.size > 0) {
      const oldest = this.items[this.head] as Recorded;
      if (this.size <= this.limits.dedupEntriesMax && oldest.recordedMs >= oldestKeptMs) break;
      this.head++;
      if (this.byId.get(oldest.id) === oldest) this.byId.delete(oldest.id);
    }
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= compactItemsMin && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

/** The record array is compacted once at least this many records at its front are gone (and at least half). */
const compactItemsMin = 1024;
