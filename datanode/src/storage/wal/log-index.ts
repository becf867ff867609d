/**
 * WalLogIndex: where each partition replica's log entries are in the write-ahead log, and which
 * segments the node still needs (RFC 0002 "Log index, reads and retention"; wal-engine.ts is
 * built on it). Pure: it is fed the batches replay finds and every batch once it is durable,
 * and answers from memory.
 *
 * Critical invariants:
 *  - Per partition the indexed entries are one gap-free run [first, last]: an append must extend
 *    it by exactly one. Only the first append the log shows for a partition starts the run where
 *    it is (older segments may have been deleted); after a reset the run restarts right after
 *    the reset's index. Anything else in the log is corruption (CorruptReplicaError), never
 *    silently skipped. A truncate-after keeps the entries up to its index and never reaches
 *    below the run's start; a reset empties the run at its index.
 *  - Floors given before replay (startFloor: the durable LMDB floor of RFC 0002 W3) are where
 *    the partition's needed entries begin. Until the run starts, replay skips appends below
 *    the floor; a truncate-after that reaches below the run's start (or finds no run) empties
 *    the run instead of being corruption when a floor is set: the entries it cut were in
 *    segments deleted because nothing needed them, or are below the floor. Whether the run
 *    that replay leaves fits the partition's applied state is the engine's check.
 *  - A relocate record empties the run; the appends after it in its batch (the partition's
 *    entries copied forward out of old segments) start it again as a first append would, so
 *    entries below the floor are skipped.
 *  - forget() drops a partition whose replica was deleted: nothing of it holds a segment any
 *    more. (Replay never sees the deleted replica's records: the engine skips them by the drop
 *    mark it keeps in LMDB, wal-engine.ts.)
 *  - W3 (RFC 0002): segmentsNeededFrom() names the lowest segment holding an entry at or above
 *    a partition's floor, or a partition's newest epoch-history or leader-tenure record that the
 *    caller has not yet reported checkpointed. Segments below it hold nothing any partition
 *    needs; the caller deletes them only after the floors it set are durable in LMDB.
 */
import { assert, CorruptReplicaError } from '@quire/common';
import type { WalPartition, WalRecord } from './records.js';
import type { WalLocation } from './wal.js';

/** Where one entry is: the batch that holds it. */
export interface EntryPlace {
  readonly batch: WalLocation;
}

interface PartitionLog {
  readonly partition: WalPartition;
  /**
   * Index of places[0]; with no places, the index the next append must have. Undefined until
   * the log shows where the run starts (an append or a reset; a partition named first by an
   * epoch-history or leader-tenure record has no run yet).
   */
  first: number | undefined;
  places: EntryPlace[];
  /** Entries below this are not needed (applied durably, kept for no follower). */
  floor: number;
  /** The batch with the newest epoch-history or leader-tenure record not yet checkpointed. */
  metaPin: WalLocation | undefined;
}

const keyOf = (p: WalPartition): string => `${p.keyspace}/${p.partitionId}`;

/** The in-memory index over the log. */
export class WalLogIndex {
  private readonly logs = new Map<string, PartitionLog>();

  /**
   * Takes the records of one batch, in order. Throws CorruptReplicaError when an append leaves
   * a gap or overlaps, or a truncation reaches below what the log holds.
   */
  apply(location: WalLocation, records: readonly WalRecord[]): void {
    // Only the place is kept: a replayed batch also carries its records, which must not stay in memory.
    const batch: WalLocation = { segment: location.segment, offset: location.offset, bytes: location.bytes, sequence: location.sequence };
    for (const record of records) {
      const name = keyOf(record.partition);
      let log = this.logs.get(name);
      switch (record.type) {
        case 'append': {
          if (log === undefined) {
            log = this.create(record.partition);
          }
          // Below the floor, before the run starts: not needed any more (possibly of a run that a
          // reset or truncation ended). Once the run has started, a gap is corruption as before.
          if (log.first === undefined && record.index < log.floor) break;
          // The first append seen starts the run (older segments may be gone); later ones extend it.
          log.first ??= record.index;
          const next = log.first + log.places.length;
          if (record.index !== next) {
            throw new CorruptReplicaError(`WAL batch ${batch.sequence}: append of ${name} at index ${record.index}, but its log continues at ${next}`);
          }
          log.places.push({ batch });
          break;
        }
        case 'truncate-after': {
          if (log !== undefined && log.floor > 0 && (log.first === undefined || record.index < log.first - 1)) {
            // What it cut began below the floor or in a deleted segment: the run ends here.
            log.first = undefined;
            log.places = [];
            break;
          }
          if (log?.first === undefined) throw new CorruptReplicaError(`WAL batch ${batch.sequence}: truncation of ${name}, which has no log`);
          if (record.index < log.first - 1) {
            throw new CorruptReplicaError(`WAL batch ${batch.sequence}: truncation of ${name} after ${record.index}, below its log start ${log.first}`);
          }
          log.places.length = Math.min(log.places.length, record.index - log.first + 1);
          break;
        }
        case 'reset': {
          // A finished snapshot install: the log restarts after the snapshot's index.
          this.logs.set(name, { partition: record.partition, first: record.index + 1, places: [], floor: record.index + 1, metaPin: log?.metaPin });
          break;
        }
        case 'relocate': {
          // The partition's entries from record.index on follow in this batch, copied out of
          // older segments: the run restarts with the first of them that is not below the floor.
          if (log === undefined) {
            log = this.create(record.partition);
          }
          log.first = undefined;
          log.places = [];
          break;
        }
        case 'epoch-history':
        case 'leader-tenure': {
          if (log === undefined) {
            log = this.create(record.partition);
          }
          log.metaPin = batch;
          break;
        }
      }
    }
  }

  private create(partition: WalPartition): PartitionLog {
    const log: PartitionLog = { partition: { keyspace: partition.keyspace, partitionId: partition.partitionId }, first: undefined, places: [], floor: 0, metaPin: undefined };
    this.logs.set(keyOf(partition), log);
    return log;
  }

  /**
   * Before replay: the partition needs no entry below `floor` (its durable LMDB floor). Appends
   * below it are skipped, and truncations that reach below the run end it (see the invariants).
   */
  startFloor(p: WalPartition, floor: number): void {
    assert(Number.isSafeInteger(floor) && floor >= 0, `WAL floor ${floor} of ${keyOf(p)}`);
    assert(!this.logs.has(keyOf(p)), `WAL floor of ${keyOf(p)} given after its records`);
    this.create(p).floor = floor;
  }

  /**
   * Forgets the partition entirely (its replica was deleted and the deletion is durable in LMDB):
   * its entries, floor and pins no longer hold any segment. Records of it that come later start
   * it afresh, as records of a partition never seen do.
   */
  forget(p: WalPartition): void {
    this.logs.delete(keyOf(p));
  }

  /** Every partition the log or a floor named. */
  partitions(): WalPartition[] {
    return [...this.logs.values()].map((log) => log.partition);
  }

  /** The partition's floor (0 when none was set). */
  floor(p: WalPartition): number {
    return this.logs.get(keyOf(p))?.floor ?? 0;
  }

  /** The partition's first indexed entry (the next append's index when it has none); undefined if the log never named it. */
  firstIndex(p: WalPartition): number | undefined {
    return this.logs.get(keyOf(p))?.first;
  }

  /** The partition's last indexed entry (first − 1 when it has none). */
  lastIndex(p: WalPartition): number | undefined {
    const log = this.logs.get(keyOf(p));
    return log?.first === undefined ? undefined : log.first + log.places.length - 1;
  }

  /** Where entry `index` of the partition is, if indexed. */
  place(p: WalPartition, index: number): EntryPlace | undefined {
    const log = this.logs.get(keyOf(p));
    if (log?.first === undefined || index < log.first) return undefined;
    return log.places[index - log.first];
  }

  /**
   * Entries of the partition below `floor` are no longer needed: they are forgotten here, and
   * their segments may go once every partition agrees. Floors only rise.
   */
  setFloor(p: WalPartition, floor: number): void {
    const log = this.logs.get(keyOf(p)) ?? this.create(p);
    assert(Number.isSafeInteger(floor) && floor >= log.floor, `WAL floor of ${keyOf(p)} would go from ${log.floor} to ${floor}`);
    log.floor = floor;
    if (log.first === undefined) return;
    assert(floor <= log.first + log.places.length, `WAL floor ${floor} of ${keyOf(p)} is beyond its log end ${log.first + log.places.length - 1} + 1`);
    const drop = Math.max(0, floor - log.first);
    if (drop > 0) {
      log.places = log.places.slice(drop);
      log.first += drop;
    }
  }

  /** The partition's newest epoch-history and leader-tenure records up to batch `sequence` are durable in LMDB. */
  checkpointed(p: WalPartition, sequence: number): void {
    const log = this.logs.get(keyOf(p));
    if (log?.metaPin !== undefined && log.metaPin.sequence <= sequence) log.metaPin = undefined;
  }

  /**
   * The partitions whose oldest needed entry is in segment `segment` or an older one (what a
   * relocation can move; an epoch-history or leader-tenure pin goes at the next checkpoint).
   */
  pinning(segment: number): WalPartition[] {
    const out: WalPartition[] = [];
    for (const log of this.logs.values()) {
      const oldest = log.places[0]?.batch.segment;
      if (oldest !== undefined && oldest <= segment) out.push(log.partition);
    }
    return out;
  }

  /** The lowest segment any partition still needs; `current` when none needs an older one. */
  segmentsNeededFrom(current: number): number {
    let lowest = current;
    for (const log of this.logs.values()) {
      const oldest = log.places[0];
      if (oldest !== undefined) lowest = Math.min(lowest, oldest.batch.segment);
      if (log.metaPin !== undefined) lowest = Math.min(lowest, log.metaPin.segment);
    }
    return lowest;
  }
}
