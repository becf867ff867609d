/**
 * PendingView: the leader's overlay of log entries appended but not yet applied to data (RFC
 * 0001 "Write path on the leader", step 2). Compare-and-set conditions and new versions are
 * evaluated against data overlaid with these entries, newest first, so two conditional writes
 * to one key in one pipeline cannot both pass. Reads see only its *acknowledged* entries
 * (acknowledgedValueOf, acknowledgedInRange): a write is readable from the moment it is
 * acknowledged, and never before, while data itself holds applied entries only.
 *
 * Critical invariants:
 *  - Entries are added at consecutive indexes from appliedIndex + 1 (a failed condition or a
 *    delete of an absent key takes no index, so it is never added); every index in
 *    (appliedIndex, lastIndex] is held, and nothing else.
 *  - For each key the entries are kept in index order; the newest decides the key's pending
 *    version and value.
 *  - Bounded: at most pendingEntriesMax entries and pendingBytesMax key + value bytes. A full
 *    view refuses the write with OVERLOADED before it gets an index; an entry larger than
 *    pendingBytesMax on its own is accepted only into an empty view, so no write starves.
 *    restore() (entries already in the log, reloaded on open) is the one path that may exceed
 *    the limits: they refuse new writes, never ones already logged.
 *  - applyUpTo only moves forward and never past the last added index.
 *
 * Keys are looked up by their latin1 string form (one character per byte, exact for any byte
 * string, and no hashing needed for 4096-byte keys). The view keeps references to the key and
 * value buffers it is given: callers must not modify them afterwards.
 */
import { assert, OverloadedError } from '@quire/common';
import type { StoredEntry } from '../storage/engine.js';

/** Limits of the view. */
export interface PendingViewLimits {
  /** Most entries appended but not yet applied. */
  readonly pendingEntriesMax: number;
  /** Most key + value bytes of those entries. */
  readonly pendingBytesMax: number;
  /** Suggested client back-off in the OVERLOADED answer. */
  readonly retryAfterMs: number;
}

/** One pending write. */
interface PendingEntry {
  readonly index: number;
  readonly kind: 'put' | 'delete';
  readonly key: Buffer;
  readonly value: Buffer;
  /** The write's request id (empty: none), kept so the entry can be sent to followers from memory. */
  readonly requestId: Buffer;
}

/** A FIFO with amortised O(1) removal from the front. */
interface Fifo<T> {
  items: T[];
  head: number;
}

/** The request id of an entry without one. */
const noRequestId = Buffer.alloc(0);

/** The leader's appended-but-not-applied entries of one partition. */
export class PendingView {
  private readonly byKey = new Map<string, Fifo<PendingEntry>>();
  private readonly order: Fifo<PendingEntry> = { items: [], head: 0 };
  private applied: number;
  private last: number;
  private bytes = 0;

  constructor(
    private readonly limits: PendingViewLimits,
    appliedIndex: number,
  ) {
    assert(Number.isSafeInteger(limits.pendingEntriesMax) && limits.pendingEntriesMax >= 1, `pendingEntriesMax ${limits.pendingEntriesMax} is not a positive integer`);
    assert(Number.isSafeInteger(limits.pendingBytesMax) && limits.pendingBytesMax >= 1, `pendingBytesMax ${limits.pendingBytesMax} is not a positive integer`);
    assert(Number.isSafeInteger(appliedIndex) && appliedIndex >= 0, `Applied index ${appliedIndex} is not a non-negative integer`);
    this.applied = appliedIndex;
    this.last = appliedIndex;
  }

  /** Entries held. */
  get size(): number {
    return this.order.items.length - this.order.head;
  }

  /** Key + value bytes held. */
  get sizeBytes(): number {
    return this.bytes;
  }

  /** The index of the newest entry added (appliedIndex when empty). */
  get lastIndex(): number {
    return this.last;
  }

  /** Entries up to this index have been applied and left the view. */
  get appliedIndex(): number {
    return this.applied;
  }

  /**
   * Returns an OVERLOADED error if a write of `key` and `value` would not fit now. Check before
   * giving the write an index; add() refuses the same way.
   */
  checkCapacity(key: Buffer, value: Buffer): OverloadedError | undefined {
    const entryBytes = key.length + value.length;
    const entriesFull = this.size >= this.limits.pendingEntriesMax;
    const bytesFull = this.size > 0 && this.bytes + entryBytes > this.limits.pendingBytesMax;
    if (!entriesFull && !bytesFull) return undefined;
    return new OverloadedError(
      entriesFull
        ? `${this.size} writes are waiting to be acknowledged, the most allowed (pendingEntriesMax)`
        : `${this.bytes} bytes of writes are waiting to be acknowledged; ${entryBytes} more would exceed pendingBytesMax ${this.limits.pendingBytesMax}`,
      entriesFull
        ? { limit: this.limits.pendingEntriesMax, actual: this.size, retryAfterMs: this.limits.retryAfterMs }
        : { limit: this.limits.pendingBytesMax, actual: this.bytes + entryBytes, retryAfterMs: this.limits.retryAfterMs },
    );
  }

  /**
   * Adds the entry appended at `index` (lastIndex + 1). Returns an OVERLOADED error, and adds
   * nothing, when the view is full.
   */
  add(index: number, key: Buffer, kind: 'put' | 'delete', value: Buffer, requestId: Buffer = noRequestId): OverloadedError | undefined {
    assert(index === this.last + 1, `Pending entry at ${index} does not follow ${this.last}`);
    const full = this.checkCapacity(key, value);
    if (full !== undefined) return full;
    this.restore(index, key, kind, value, requestId);
    return undefined;
  }

  /**
   * Adds an entry that is already in the log, whatever the limits: on open, the entries appended
   * before a restart but not applied must all be pending again (limits only refuse new writes),
   * or a node restarted with smaller limits could not open its partitions.
   */
  restore(index: number, key: Buffer, kind: 'put' | 'delete', value: Buffer, requestId: Buffer = noRequestId): void {
    assert(index === this.last + 1, `Pending entry at ${index} does not follow ${this.last}`);
    assert(kind === 'put' || value.length === 0, 'A delete carries no value');
    const entry: PendingEntry = { index, kind, key, value, requestId };
    const name = key.toString('latin1');
    let queue = this.byKey.get(name);
    if (queue === undefined) {
      queue = { items: [], head: 0 };
      this.byKey.set(name, queue);
    }
    queue.items.push(entry);
    this.order.items.push(entry);
    this.bytes += key.length + value.length;
    this.last = index;
  }

  /** Returns the key's version in the pending view: its newest pending write's index, 0 if that deleted it, else `committedVersion`. */
  versionOf(key: Buffer, committedVersion: number): number {
    const newest = this.newest(key);
    if (newest === undefined) return committedVersion;
    return newest.kind === 'put' ? newest.index : 0;
  }

  /** Returns the key's entry in the pending view: its newest pending write, else `committed` (the data's). */
  valueOf(key: Buffer, committed: StoredEntry | undefined): StoredEntry | undefined {
    const newest = this.newest(key);
    if (newest === undefined) return committed;
    return newest.kind === 'put' ? { key: newest.key, value: newest.value, version: newest.index } : undefined;
  }

  /** Forgets the entries up to `index`, now applied to data. */
  applyUpTo(index: number): void {
    assert(Number.isSafeInteger(index) && index >= this.applied && index <= this.last, `Cannot apply up to ${index}: applied ${this.applied}, last ${this.last}`);
    while (this.size > 0) {
      const entry = this.order.items[this.order.head] as PendingEntry;
      if (entry.index > index) break;
      shift(this.order);
      const name = entry.key.toString('latin1');
      const queue = this.byKey.get(name);
      assert(queue !== undefined && queue.items[queue.head] === entry, `Pending entry ${entry.index} is not the oldest of its key`);
      shift(queue);
      if (queue.head === queue.items.length) this.byKey.delete(name);
      this.bytes -= entry.key.length + entry.value.length;
    }
    this.applied = index;
    assert(this.size === this.last - this.applied, `Pending view holds ${this.size} entries for (${this.applied}, ${this.last}]`);
  }

  /**
   * Forgets the entries above `index` (a follower truncating a suffix its leader does not have;
   * RFC 0001 "Follower path"). Never below the applied index: applied entries are in data.
   */
  truncateAfter(index: number): void {
    assert(Number.isSafeInteger(index) && index >= this.applied, `Cannot truncate the pending view after ${index}: applied ${this.applied}`);
    while (this.last > index) {
      const entry = this.order.items.pop() as PendingEntry;
      assert(entry.index === this.last, `Pending entry ${entry.index} is not the newest ${this.last}`);
      const name = entry.key.toString('latin1');
      const queue = this.byKey.get(name);
      assert(queue !== undefined && queue.items.at(-1) === entry, `Pending entry ${entry.index} is not the newest of its key`);
      queue.items.pop();
      if (queue.head === queue.items.length) this.byKey.delete(name);
      this.bytes -= entry.key.length + entry.value.length;
      this.last--;
    }
    if (this.order.head === this.order.items.length) {
      this.order.items = [];
      this.order.head = 0;
    }
    assert(this.size === this.last - this.applied, `Pending view holds ${this.size} entries for (${this.applied}, ${this.last}]`);
  }

  /**
   * Calls `visit` for every entry with index in [fromIndex, toIndex], in index order — the
   * entries to apply, straight from memory instead of the log.
   */
  forEachInRange(fromIndex: number, toIndex: number, visit: (index: number, kind: 'put' | 'delete', key: Buffer, value: Buffer, requestId: Buffer) => boolean | void): void {
    assert(fromIndex > this.applied && toIndex <= this.last, `Entries [${fromIndex}, ${toIndex}] are not all in the view (${this.applied}, ${this.last}]`);
    // Indexes are consecutive from applied + 1, so an entry's position follows from its index.
    for (let index = fromIndex; index <= toIndex; index++) {
      const entry = this.order.items[this.order.head + (index - this.applied - 1)] as PendingEntry;
      assert(entry.index === index, `Pending entry at position of ${index} has index ${entry.index}`);
      // A visitor returning false stops the walk.
      if (visit(entry.index, entry.kind, entry.key, entry.value, entry.requestId) === false) return;
    }
  }

  /**
   * Returns the key's value as of `acknowledgedIndex`: its newest pending write at or below that
   * index (undefined if that write deleted it), else `committed`. Reads use this, so a write is
   * visible from the moment it is acknowledged, before it is applied to data.
   */
  acknowledgedValueOf(key: Buffer, acknowledgedIndex: number, committed: StoredEntry | undefined): StoredEntry | undefined {
    const entry = this.newestAtOrBelow(this.byKey.get(key.toString('latin1')), acknowledgedIndex);
    if (entry === undefined) return committed;
    return entry.kind === 'put' ? { key: entry.key, value: entry.value, version: entry.index } : undefined;
  }

  /**
   * The keys in [start, end) (empty end = unbounded) with a pending write at or below
   * `acknowledgedIndex`, each with its newest such write (value undefined for a delete), in key
   * byte order — what a scan overlays on data.
   */
  acknowledgedInRange(start: Buffer, end: Buffer, acknowledgedIndex: number): { key: Buffer; entry: StoredEntry | undefined }[] {
    const out: { key: Buffer; entry: StoredEntry | undefined }[] = [];
    if (this.size === 0 || acknowledgedIndex <= this.applied) return out;
    for (const queue of this.byKey.values()) {
      const entry = this.newestAtOrBelow(queue, acknowledgedIndex);
      if (entry === undefined) continue;
      if (Buffer.compare(entry.key, start) < 0 || (end.length > 0 && Buffer.compare(entry.key, end) >= 0)) continue;
      out.push({ key: entry.key, entry: entry.kind === 'put' ? { key: entry.key, value: entry.value, version: entry.index } : undefined });
    }
    return out.sort((a, b) => Buffer.compare(a.key, b.key));
  }

  private newestAtOrBelow(queue: Fifo<PendingEntry> | undefined, index: number): PendingEntry | undefined {
    if (queue === undefined) return undefined;
    for (let i = queue.items.length - 1; i >= queue.head; i--) {
      const entry = queue.items[i] as PendingEntry;
      if (entry.index <= index) return entry;
    }
    return undefined;
  }

  private newest(key: Buffer): PendingEntry | undefined {
    const queue = this.byKey.get(key.toString('latin1'));
    return queue?.items.at(-1);
  }
}

/** A FIFO's array is compacted once at least this many items at its front are consumed (and at least half). */
const fifoCompactItemsMin = 1024;

/** Removes the front item, compacting the array once most of it is consumed. */
function shift<T>(fifo: Fifo<T>): void {
  fifo.head++;
  if (fifo.head === fifo.items.length) {
    fifo.items = [];
    fifo.head = 0;
  } else if (fifo.head >= fifoCompactItemsMin && fifo.head * 2 >= fifo.items.length) {
    fifo.items = fifo.items.slice(fifo.head);
    fifo.head = 0;
  }
}
