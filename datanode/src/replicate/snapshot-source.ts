/**
 * SnapshotSource: the leader side of Replication.Snapshot (RFC 0001 "Catch-up, snapshots and
 * log truncation"; replication.proto Snapshot). A follower that was sent InstallSnapshot pulls
 * one partition's data: this node checks that it leads the partition at the request's epoch
 * and that the requester is a follower of it, opens one LMDB read transaction (a consistent
 * view at its applied index A), and streams SnapshotHeader{A, epoch at A}, the data in key
 * order in chunks bounded by bytes (snapshot-chunks.ts), and SnapshotEnd with the totals.
 *
 * Critical invariants:
 *  - Everything sent is one read view: the header's applied index describes exactly the data
 *    the chunks carry, and every pair in it is acknowledged (applied ≤ acknowledged, RFC
 *    invariant 3).
 *  - The log holds every entry above A while the follower needs it: the keep floor is set at
 *    the replica's applied index + 1 (≤ A + 1) before the read starts, so no transaction from
 *    then on drops an entry above A; a transaction already in flight that did is caught by the
 *    log-start check after the read opened (the pull is refused with OVERLOADED and retried).
 *  - Bounded: at most snapshotsInFlightMax calls hold a read transaction at once (the engine
 *    allows a few more readers than that), one chunk is written only when the previous one
 *    drained (the follower's loading speed paces this node), and the follower's deadline, capped
 *    at serveMsMax, bounds how long the read transaction stays open.
 *  - A chunk is sent only while this node still leads the partition at the request's epoch.
 *  - release() ends every serve of a partition whose replica here is being deleted (RFC 0003) and
 *    resolves only once their read transactions are closed: a drop never meets an open reader.
 *  - progressOf() reports a serve only while it runs (from the read's opening to its close), and
 *    never more bytes sent than its estimate: the estimate (the partition's data on disk when the
 *    read opened: page bytes, which overstate the key and value bytes) is raised to the bytes
 *    sent when they pass it. A newer serve to the same follower replaces an older one's entry.
 */
import type { SnapshotRequest, SnapshotResponse } from '@quire/proto';
import {
  DeadlineExceededError,
  InvalidArgumentError,
  OverloadedError,
  PartitionUnavailableError,
  WrongPartitionError,
  assert,
  type Clock,
  type Logger,
  type MetadataView,
} from '@quire/common';
import { checkOwnership } from '../partition/ownership.js';
import type { PartitionReplica } from '../partition/replica.js';
import { SnapshotTally, cutChunks, type SnapshotTotals } from '../replication/snapshot-chunks.js';
import { ByteRate } from '../replication/byte-rate.js';
import type { SnapshotReader } from '../storage/engine.js';

/** Limits of snapshot serving. */
export interface SnapshotSourceSettings {
  /** Most snapshots served at once; beyond it a pull is refused with OVERLOADED. */
  readonly snapshotsInFlightMax: number;
  /** Key and value bytes per chunk (one pair above it travels alone). */
  readonly chunkBytesMax: number;
  /** Longest a read transaction stays open, whatever the follower's deadline. */
  readonly serveMsMax: number;
  /** Key and value bytes per second over every snapshot this node serves (--snapshot-bytes-per-second); 0: no limit. */
  readonly bytesPerSecond?: number;
}

/** Snapshot serving defaults: 2 at once, 1 MiB chunks, 10 minutes per call. */
export const snapshotSourceDefaults: SnapshotSourceSettings = { snapshotsInFlightMax: 2, chunkBytesMax: 1024 * 1024, serveMsMax: 10 * 60_000 };

/** What the source needs from the data node. */
export interface SnapshotSourceDeps {
  readonly nodeId: string;
  readonly view: MetadataView;
  readonly clock: Clock;
  readonly log: Logger;
  /** The leader side of replication: keeps the log for the follower (LeaderReplicator.keepLogForSnapshot). */
  keepLogForSnapshot(keyspace: string, partitionId: number, epoch: number, follower: string, fromIndex: number): PartitionReplica | undefined;
  /** Opens (or returns) this node's replica of a partition. */
  openReplica(keyspace: string, partitionId: number): PartitionReplica;
  /** Opens a consistent read of a partition's data (PartitionStore.snapshotReader). */
  openReader(keyspace: string, partitionId: number): SnapshotReader;
  /** Called with the key and value bytes of each chunk the follower took (quire_datanode_snapshot_bytes_sent). */
  readonly onChunkSent?: (bytes: number) => void;
}

/** One snapshot being served to a follower, as Replication.GetFollowerProgress reports it. */
export interface SnapshotServeProgress {
  /** Key and value bytes of the chunks the follower took so far. */
  readonly bytesSent: number;
  /** The partition's data on disk when the read opened, raised to bytesSent when it passes it. */
  readonly bytesEstimate: number;
  /** Keys of the chunks the follower took so far. */
  readonly keysSent: number;
  /** How long since the read opened, in ms (monotonic). */
  readonly elapsedMs: number;
}

/** Where the parts go; resolves when the follower can take more (flow control) or the call ended. */
export type SnapshotSink = (part: SnapshotResponse) => Promise<void>;

/** OVERLOADED back-off when every snapshot slot is taken. */
const busyRetryAfterMs = 1_000;
/** OVERLOADED back-off when a transaction in flight truncated the log past the read. */
const raceRetryAfterMs = 50;

/** One serve's counts, updated as its chunks drain. */
interface ServeCounts {
  bytesSent: number;
  bytesEstimate: number;
  keysSent: number;
  readonly startedMs: number;
}

/** One serve in progress, as release() sees it. */
interface Serve {
  /** Ends the serve at its next step (and a wait for the follower at once). */
  readonly abort: () => void;
  /** Resolves once the serve ended and its reader is closed. */
  readonly ended: Promise<void>;
}

/** Serves Replication.Snapshot. */
export class SnapshotSource {
  private serving = 0;
  /** The serves in progress, by partition (keyspace/id). */
  private readonly serves = new Map<string, Set<Serve>>();
  /** The counts of the serves in progress, by partition and follower (keyspace/id/follower): the latest serve to each. */
  private readonly progress = new Map<string, ServeCounts>();
  /** The node-wide byte rate of snapshot chunks (undefined: no limit). */
  private readonly rate: ByteRate | undefined;

  constructor(
    private readonly settings: SnapshotSourceSettings,
    private readonly deps: SnapshotSourceDeps,
  ) {
    assert(settings.snapshotsInFlightMax >= 1 && settings.chunkBytesMax >= 1 && settings.serveMsMax >= 1, 'Invalid snapshot source settings');
    this.rate = settings.bytesPerSecond === undefined || settings.bytesPerSecond === 0 ? undefined : new ByteRate(settings.bytesPerSecond);
  }

  /** Snapshots being served now. */
  get inFlight(): number {
    return this.serving;
  }

  /** The snapshot of a partition being served to `follower` now, or undefined when none is. */
  progressOf(keyspace: string, partitionId: number, follower: string): SnapshotServeProgress | undefined {
    const counts = this.progress.get(progressKey(keyspace, partitionId, follower));
    if (counts === undefined) return undefined;
    return {
      bytesSent: counts.bytesSent,
      bytesEstimate: counts.bytesEstimate,
      keysSent: counts.keysSent,
      elapsedMs: Math.max(0, Math.round(this.deps.clock.monotonicMs() - counts.startedMs)),
    };
  }

  /**
   * Ends every serve of a partition whose replica here is being deleted (RFC 0003; a removed node
   * no longer leads it, so its serves stop at their next ownership check anyway, but one may be
   * waiting for a slow follower); resolves once their readers are closed.
   */
  release(keyspace: string, partitionId: number): Promise<void> {
    const serves = [...(this.serves.get(`${keyspace}/${partitionId}`) ?? [])];
    for (const serve of serves) serve.abort();
    return Promise.all(serves.map((serve) => serve.ended)).then(() => undefined);
  }

  /**
   * Streams one snapshot into `sink`. Throws the typed refusal (STALE_EPOCH, NOT_LEADER,
   * WRONG_PARTITION, INVALID_ARGUMENT, OVERLOADED, PARTITION_UNAVAILABLE, DEADLINE_EXCEEDED)
   * before or instead of finishing; returns quietly when `cancelled()` says the call is gone.
   * `deadlineMs` is how long the caller waits (Infinity for no deadline).
   */
  async serve(request: SnapshotRequest, sink: SnapshotSink, cancelled: () => boolean, deadlineMs: number): Promise<SnapshotTotals | undefined> {
    const { keyspace, partitionId, epoch, requesterNodeId } = request;
    const id = `${keyspace}/${partitionId}`;
    if (keyspace === '') throw new InvalidArgumentError('keyspace is empty (internal requests name it)', { field: 'keyspace' });
    if (!Number.isSafeInteger(epoch) || epoch < 1) throw new InvalidArgumentError(`Snapshot epoch ${epoch} is not a positive integer`, { field: 'epoch' });
    const owner = checkOwnership(this.deps.view, this.deps.nodeId, keyspace, partitionId, epoch);
    if (!owner.ok) throw owner.error;
    if (requesterNodeId === this.deps.nodeId || !owner.entry.record.replicas.includes(requesterNodeId)) {
      throw new InvalidArgumentError(`Node "${requesterNodeId}" is not a follower of partition ${id} at epoch ${epoch}`, { field: 'requester_node_id', partitionId });
    }
    if (this.serving >= this.settings.snapshotsInFlightMax) {
      throw new OverloadedError(`Node ${this.deps.nodeId} already serves ${this.serving} snapshots`, { retryAfterMs: busyRetryAfterMs, limit: this.settings.snapshotsInFlightMax, partitionId });
    }
    const startedMs = this.deps.clock.monotonicMs();
    const deadlineAtMs = startedMs + Math.min(deadlineMs, this.settings.serveMsMax);
    this.serving++;
    let reader: SnapshotReader | undefined;
    const released = (): WrongPartitionError => new WrongPartitionError(`Partition ${id} no longer has a replica on node ${this.deps.nodeId}; its snapshot is not served`, { partitionId, mapRevision: this.deps.view.revision });
    let aborted = false;
    let abortWait: ((err: Error) => void) | undefined;
    let ended = (): void => undefined;
    const serve: Serve = {
      abort: () => {
        aborted = true;
        abortWait?.(released());
      },
      ended: new Promise<void>((resolve) => (ended = resolve)),
    };
    const serves = this.serves.get(id) ?? new Set<Serve>();
    serves.add(serve);
    this.serves.set(id, serves);
    const countsKey = progressKey(keyspace, partitionId, requesterNodeId);
    let counts: ServeCounts | undefined;
    try {
      // Before the read: whatever A it sees is at least the applied index now, so from here on
      // no transaction drops an entry above A.
      const current = this.deps.openReplica(keyspace, partitionId);
      const replica = this.deps.keepLogForSnapshot(keyspace, partitionId, epoch, requesterNodeId, current.appliedIndex + 1);
      if (replica === undefined || replica.installingSnapshot) {
        throw new PartitionUnavailableError(`Node ${this.deps.nodeId} is not replicating partition ${id} at epoch ${epoch} yet`, { partitionId, epoch, retryAfterMs: 200 });
      }
      reader = this.deps.openReader(keyspace, partitionId);
      const appliedIndex = reader.appliedIndex;
      if (replica.firstLogIndex > appliedIndex + 1) {
        throw new OverloadedError(`Partition ${id}: a transaction in flight dropped log entries above the snapshot's index ${appliedIndex}; pull again`, { retryAfterMs: raceRetryAfterMs, partitionId });
      }
      this.deps.keepLogForSnapshot(keyspace, partitionId, epoch, requesterNodeId, appliedIndex + 1);
      // The estimate, once: what the partition takes on disk now (page bytes; more than the payload).
      counts = { bytesSent: 0, bytesEstimate: Math.max(0, replica.approximateDataBytes()), keysSent: 0, startedMs };
      this.progress.set(countsKey, counts);
      const progress = counts;
      this.deps.log.info('Serving a snapshot', { keyspace, partitionId, epoch, follower: requesterNodeId, appliedIndex, appliedEpoch: reader.epoch, logStart: replica.firstLogIndex });
      const send = async (part: SnapshotResponse): Promise<boolean> => {
        if (aborted) throw released();
        if (cancelled()) return false;
        const aborting = new Promise<never>((_, reject) => (abortWait = reject));
        aborting.catch(() => undefined);
        try {
          await Promise.race([this.withDeadline(sink(part), deadlineAtMs, id), aborting]);
        } finally {
          abortWait = undefined;
        }
        return !cancelled();
      };
      if (!(await send({ part: { $case: 'header', value: { appliedIndex, appliedEpoch: reader.epoch } } }))) return undefined;
      const tally = new SnapshotTally(appliedIndex);
      for (const chunk of cutChunks(reader.chunks(this.settings.chunkBytesMax), this.settings.chunkBytesMax)) {
        // Only while this node still leads at that epoch (the follower would not be answered).
        const still = checkOwnership(this.deps.view, this.deps.nodeId, keyspace, partitionId, epoch);
        if (!still.ok) throw still.error;
        const why = tally.add(chunk);
        assert(why === undefined, `Snapshot read of ${id}: ${why}`);
        const items = chunk.map((e) => ({ key: e.key, value: e.value, version: e.version }));
        const bytes = chunk.reduce((n, e) => n + e.key.length + e.value.length, 0);
        if (this.rate !== undefined) {
          // Paced with every other snapshot this node serves (--snapshot-bytes-per-second).
          const waitMs = this.rate.reserve(bytes, this.deps.clock.monotonicMs());
          if (waitMs > 0) await new Promise<void>((resolve) => this.deps.clock.after(waitMs, resolve));
          if (cancelled()) return undefined;
        }
        if (!(await send({ part: { $case: 'chunk', value: { items } } }))) return undefined;
        progress.bytesSent += bytes;
        progress.keysSent += chunk.length;
        progress.bytesEstimate = Math.max(progress.bytesEstimate, progress.bytesSent);
        this.deps.onChunkSent?.(bytes);
        // Let appends and answers run between chunks even when the follower keeps up.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      if (!(await send({ part: { $case: 'end', value: tally.totals } }))) return undefined;
      this.deps.log.info('Served a snapshot', {
        keyspace,
        partitionId,
        epoch,
        follower: requesterNodeId,
        appliedIndex,
        keyCount: tally.keyCount,
        payloadBytes: tally.payloadBytes,
        durationMs: Math.round(this.deps.clock.monotonicMs() - startedMs),
      });
      return tally.totals;
    } finally {
      reader?.close();
      if (counts !== undefined && this.progress.get(countsKey) === counts) this.progress.delete(countsKey);
      this.serving--;
      serves.delete(serve);
      if (serves.size === 0) this.serves.delete(id);
      ended();
    }
  }

  /** Waits for `write`, failing with DEADLINE_EXCEEDED once `deadlineAtMs` (monotonic) passes. */
  private async withDeadline(write: Promise<void>, deadlineAtMs: number, id: string): Promise<void> {
    const leftMs = deadlineAtMs - this.deps.clock.monotonicMs();
    const expired = (): DeadlineExceededError => new DeadlineExceededError(`Snapshot of ${id} ran past its deadline; the read is closed`);
    if (leftMs <= 0) throw expired();
    if (!Number.isFinite(leftMs)) return write;
    let timer: { cancel(): void } | undefined;
    try {
      await Promise.race([write, new Promise<never>((_, reject) => (timer = this.deps.clock.after(leftMs, () => reject(expired()))))]);
    } finally {
      timer?.cancel();
    }
  }
}

/** The key of one serve's counts: keyspace/id/follower. */
function progressKey(keyspace: string, partitionId: number, follower: string): string {
  return `${keyspace}/${partitionId}/${follower}`;
}
