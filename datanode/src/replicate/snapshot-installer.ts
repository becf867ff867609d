/**
 * SnapshotInstaller: the follower side of snapshots (RFC 0001 "Catch-up, snapshots and log
 * truncation"; replication.proto InstallSnapshot, Snapshot, SnapshotInstalled). When a leader's
 * InstallSnapshot is accepted (FollowerHandler), this node pulls the partition's data from that
 * leader with Replication.Snapshot and loads it into the partition store, then answers
 * SnapshotInstalled{(applied epoch, applied index)}; the leader then catches it up from its log.
 *
 * How one pull goes:
 *  1. SnapshotHeader: a storage transaction begins the install (the store drops data, log and
 *     epoch history and marks the install pending, crash-safe; PartitionReplica forgets its log).
 *  2. Each SnapshotChunk is checked (SnapshotTally: key order, versions) and loaded in its own
 *     storage task; up to chunksInFlightMax of them wait for the committer at once (they run in
 *     order), and the next chunk is read only while fewer do, so this node's storage paces the
 *     leader through gRPC flow control, and memory holds at most that many chunks. A chunk needs
 *     no durability of its own: the install stays pending until step 3.
 *  3. SnapshotEnd: its totals must equal what was loaded (else CORRUPT_REPLICA in the log, and
 *     the pull starts over); a transaction finishes the install — applied = the header's index,
 *     an empty log after it, an epoch history starting there — and resets the replica's memory.
 * Every storage step goes through the group committer as a replica task, so it is serialised
 * with every other write of the node (and of this replica): the install's transactions never
 * interleave with a follower append or an apply of the same replica inside one body.
 *
 * Rules: one pull per partition, at most installsInFlightMax at once (SnapshotPulls); a failed
 * pull starts over from scratch after a backoff, for as long as the metadata view names the
 * same leader at the same epoch; once it does not, the pull is given up and a partial install is
 * discarded (the replica becomes an empty one at index 0, which any leader brings up to date).
 * A repeat of the request shares the pull and its answer; a newer epoch's request retargets it.
 *
 * Critical invariants: the answer is sent only once the install is durable; nothing from the
 * wire reaches a storage assertion unchecked; the replica takes no append, truncation or apply
 * while the install is pending (PartitionReplica.installingSnapshot; FollowerHandler refuses
 * messages as not ready meanwhile); a cancelled pull (its replica is being deleted, RFC 0003)
 * submits no further storage task for that replica.
 */
import { Metadata } from '@grpc/grpc-js';
import { ReplicationClient, type SnapshotRequest, type SnapshotResponse } from '@quire/proto';
import {
  CorruptReplicaError,
  ShuttingDownError,
  UnavailableError,
  clientCredentials,
  fromGrpcError,
  grpcClientOptions,
  isQuireError,
  type Clock,
  type Logger,
  type MetadataView,
} from '@quire/common';
import type { GroupCommitter } from '../partition/group-commit.js';
import type { PartitionReplica } from '../partition/replica.js';
import type { LogEnd } from '../replication/divergence.js';
import { SnapshotTally } from '../replication/snapshot-chunks.js';
import { SnapshotPulls, type PullTarget } from '../replication/snapshot-pulls.js';
import type { StoredEntry } from '../storage/engine.js';

/** Limits and pacing of snapshot installs. */
export interface SnapshotInstallerSettings {
  /** Most partitions pulling a snapshot at once on this node. */
  readonly installsInFlightMax: number;
  /** Deadline of one Replication.Snapshot call (the leader holds a read transaction that long at most). */
  readonly pullDeadlineMs: number;
  /** First wait before a failed pull starts over; doubled per failure up to retryMsMax. */
  readonly retryMsMin: number;
  readonly retryMsMax: number;
  /** A progress line is logged every this many bytes loaded. */
  readonly progressLogBytes: number;
  /** Most chunks of one pull submitted to the committer and not finished yet. */
  readonly chunksInFlightMax: number;
}

/** Snapshot install defaults. */
export const snapshotInstallerDefaults: SnapshotInstallerSettings = {
  installsInFlightMax: 2,
  pullDeadlineMs: 10 * 60_000,
  retryMsMin: 100,
  retryMsMax: 5_000,
  progressLogBytes: 64 * 1024 * 1024,
  chunksInFlightMax: 4,
};

/** One Replication.Snapshot call as the installer reads it. */
export interface SnapshotStream extends AsyncIterable<SnapshotResponse> {
  /** Ends the call (the leader closes its read). */
  cancel(): void;
}

/** What the installer needs from the data node. */
export interface SnapshotInstallerDeps {
  readonly nodeId: string;
  readonly view: MetadataView;
  readonly clock: Clock;
  readonly log: Logger;
  readonly committer: Pick<GroupCommitter, 'submitTask'>;
  /** Opens Replication.Snapshot on the node at `address` (SnapshotClients in production). */
  openStream(address: string, request: SnapshotRequest, deadlineMs: number): SnapshotStream;
}

/** A leader's InstallSnapshot, accepted. */
export interface SnapshotInstallRequest {
  readonly keyspace: string;
  readonly partitionId: number;
  readonly replica: PartitionReplica;
  readonly leader: string;
  readonly epoch: number;
  /** Sends SnapshotInstalled on the stream the request came on (the latest request's wins). */
  answer(logEnd: LogEnd): void;
}

/** A pull's adapter state (SnapshotPulls holds its target and whether it runs). */
interface ActivePull {
  readonly keyspace: string;
  readonly partitionId: number;
  readonly replica: PartitionReplica;
  answer: (logEnd: LogEnd) => void;
  stream: SnapshotStream | undefined;
  /** Set by cancel(): the replica is being deleted; the pull stops without touching it again. */
  cancelled: boolean;
  /** Ends the pull's back-off wait early. */
  wake: (() => void) | undefined;
  /** Resolves once the pull's run has ended (at once for a pull that never ran). */
  readonly finished: Promise<void>;
  readonly finish: () => void;
}

/** Pulls and installs snapshots for the partitions this node follows. */
export class SnapshotInstaller {
  private readonly pulls: SnapshotPulls;
  private readonly active = new Map<string, ActivePull>();
  private readonly sleeps = new Set<() => void>();
  private closed = false;

  constructor(
    private readonly settings: SnapshotInstallerSettings,
    private readonly deps: SnapshotInstallerDeps,
  ) {
    this.pulls = new SnapshotPulls(settings.installsInFlightMax);
  }

  /** Partitions pulling now, and waiting for a slot. */
  get pullCounts(): { readonly running: number; readonly waiting: number } {
    return { running: this.pulls.runningCount, waiting: this.pulls.waitingCount };
  }

  /** Starts (or joins, or retargets) the pull a leader's InstallSnapshot asks for. */
  request(req: SnapshotInstallRequest): void {
    if (this.closed) return;
    const id = idOf(req.keyspace, req.partitionId);
    const outcome = this.pulls.request(id, { leader: req.leader, epoch: req.epoch });
    const where = { keyspace: req.keyspace, partitionId: req.partitionId, leader: req.leader, epoch: req.epoch };
    switch (outcome) {
      case 'stale':
        this.deps.log.debug('Ignoring an InstallSnapshot of an older epoch than the pull under way', where);
        return;
      case 'joined':
      case 'retargeted': {
        const pull = this.active.get(id);
        if (pull !== undefined) {
          pull.answer = req.answer;
          // The attempt under way sees the new target at its next part; do not wait for it.
          if (outcome === 'retargeted') pull.stream?.cancel();
        }
        if (outcome === 'retargeted') this.deps.log.info('A newer leader asked for the snapshot being pulled; starting over from it', where);
        return;
      }
      case 'started':
      case 'queued': {
        let finish = (): void => undefined;
        const finished = new Promise<void>((resolve) => (finish = resolve));
        this.active.set(id, { keyspace: req.keyspace, partitionId: req.partitionId, replica: req.replica, answer: req.answer, stream: undefined, cancelled: false, wake: undefined, finished, finish });
        if (outcome === 'started') void this.run(id);
        else this.deps.log.info('A snapshot pull waits for a free slot', { ...where, running: this.pulls.runningCount });
        return;
      }
    }
  }

  /**
   * Stops the pull of a partition whose replica here is being deleted (RFC 0003): a waiting pull
   * is removed, a running one ends at its next step without touching the replica again (the
   * storage task it may be waiting for was submitted before the deletion, so it runs first).
   * Resolves once no pull of the partition runs.
   */
  cancel(keyspace: string, partitionId: number): Promise<void> {
    const id = idOf(keyspace, partitionId);
    const pull = this.active.get(id);
    if (pull === undefined) return Promise.resolve();
    pull.cancelled = true;
    this.active.delete(id);
    if (this.pulls.cancelWaiting(id)) {
      pull.finish();
      return Promise.resolve();
    }
    this.deps.log.info('Cancelling a snapshot pull: the replica is being deleted', { keyspace, partitionId });
    pull.stream?.cancel();
    pull.wake?.();
    return pull.finished;
  }

  /** Stops every pull (their partial installs stay marked pending and are discarded at the next open). */
  close(): void {
    this.closed = true;
    for (const pull of this.active.values()) pull.stream?.cancel();
    for (const wake of [...this.sleeps]) wake();
  }

  private async run(id: string): Promise<void> {
    const pull = this.active.get(id) as ActivePull;
    let retryMs = this.settings.retryMsMin;
    try {
      for (;;) {
        if (this.closed || pull.cancelled) return;
        const target = this.pulls.target(id) as PullTarget;
        if (!this.viewNames(pull, target)) {
          // The leader that asked no longer leads at that epoch: its answer would be ignored, and
          // half a store is no replica. Discard it, so the replica is an empty but consistent one.
          if (pull.replica.installingSnapshot) await this.task(pull.replica, () => pull.replica.discardSnapshotInstall());
          if (pull.cancelled) return;
          if (this.pulls.target(id) !== target) continue;
          this.deps.log.info('Gave up a snapshot pull: its leader no longer leads the partition at that epoch', { keyspace: pull.keyspace, partitionId: pull.partitionId, ...target });
          return;
        }
        try {
          const installed = await this.attempt(id, pull, target);
          if (pull.cancelled) return;
          if (installed === undefined) continue;
          pull.answer(installed);
          return;
        } catch (err) {
          if (this.closed || pull.cancelled) return;
          // Cancelled for a newer target: start over from it at once.
          if (this.pulls.target(id) !== target) continue;
          const retryAfterMs = isQuireError(err) ? (err.details.retryAfterMs ?? 0) : 0;
          const waitMs = Math.max(retryMs, retryAfterMs);
          const level = isQuireError(err, 'CORRUPT_REPLICA') ? 'error' : 'warn';
          this.deps.log[level]('A snapshot pull failed; starting it over', {
            keyspace: pull.keyspace,
            partitionId: pull.partitionId,
            ...target,
            code: isQuireError(err) ? err.code : undefined,
            err: String(err),
            retryMs: waitMs,
          });
          await this.sleep(waitMs, pull);
          retryMs = Math.min(this.settings.retryMsMax, retryMs * 2);
        }
      }
    } catch (err) {
      // Only a stopping committer gets here (ShuttingDownError from task()).
      this.deps.log.info('Snapshot pull stopped', { keyspace: pull.keyspace, partitionId: pull.partitionId, err: String(err) });
    } finally {
      if (this.active.get(id) === pull) this.active.delete(id);
      pull.finish();
      for (const next of this.pulls.finish(id)) void this.run(next);
    }
  }

  /**
   * One attempt: pulls and installs the whole snapshot. Returns the installed log end, or
   * undefined when the pull was retargeted meanwhile; throws on any failure (the caller
   * starts over).
   */
  private async attempt(id: string, pull: ActivePull, target: PullTarget): Promise<LogEnd | undefined> {
    const address = this.deps.view.nodes.get(target.leader)?.address;
    if (address === undefined) throw new UnavailableError(`Leader ${target.leader} of ${id} has no registered address`);
    const { keyspace, partitionId, replica } = pull;
    const startedMs = this.deps.clock.monotonicMs();
    const stream = this.deps.openStream(address, { keyspace, partitionId, epoch: target.epoch, requesterNodeId: this.deps.nodeId }, this.settings.pullDeadlineMs);
    pull.stream = stream;
    const corrupt = (why: string): CorruptReplicaError => new CorruptReplicaError(`Snapshot of ${id} from ${target.leader}: ${why}`, { partitionId });
    let header: { appliedIndex: number; epoch: number } | undefined;
    let tally: SnapshotTally | undefined;
    let end: { keyCount: number; payloadBytes: number } | undefined;
    let nextProgressBytes = this.settings.progressLogBytes;
    /** Chunk tasks submitted and not finished, oldest first. */
    const loading: Promise<void>[] = [];
    // A failure of a later one is seen when it is awaited; none is left unhandled meanwhile.
    const settleAll = async (): Promise<void> => void (await Promise.allSettled(loading.splice(0)));
    try {
      for await (const { part } of stream) {
        if (this.closed) throw new ShuttingDownError(`Data node ${this.deps.nodeId} is shutting down`);
        if (this.pulls.target(id) !== target || pull.cancelled) return undefined;
        switch (part?.$case) {
          case 'header': {
            if (header !== undefined) throw corrupt('a second header');
            const { appliedIndex, appliedEpoch } = part.value;
            if (!Number.isSafeInteger(appliedIndex) || appliedIndex < 0 || !Number.isSafeInteger(appliedEpoch) || (appliedIndex === 0) !== (appliedEpoch === 0) || appliedEpoch > target.epoch) {
              throw corrupt(`header (${appliedEpoch}, ${appliedIndex}) is not a log end of epoch ${target.epoch} or before`);
            }
            header = { appliedIndex, epoch: appliedEpoch };
            tally = new SnapshotTally(appliedIndex);
            await this.task(replica, () => replica.beginSnapshotInstall());
            this.deps.log.info('Loading a snapshot', { keyspace, partitionId, leader: target.leader, epoch: target.epoch, appliedIndex, appliedEpoch });
            break;
          }
          case 'chunk': {
            if (header === undefined || tally === undefined || end !== undefined) throw corrupt('a chunk outside header..end');
            // Views of the received message, not copies: the store copies what it keeps.
            const entries: StoredEntry[] = part.value.items.map((kv) => ({ key: viewOf(kv.key), value: viewOf(kv.value), version: kv.version }));
            const why = tally.add(entries);
            if (why !== undefined) throw corrupt(why);
            const { appliedIndex, epoch } = header;
            const loaded = this.task(replica, () => replica.loadSnapshotChunk(appliedIndex, epoch, entries));
            loaded.catch(() => undefined);
            loading.push(loaded);
            // The oldest must finish before more are read (a failure ends the attempt here).
            while (loading.length >= this.settings.chunksInFlightMax) await loading.shift();
            if (tally.payloadBytes >= nextProgressBytes) {
              nextProgressBytes += this.settings.progressLogBytes;
              this.deps.log.info('Loading a snapshot: progress', { keyspace, partitionId, keyCount: tally.keyCount, payloadBytes: tally.payloadBytes, elapsedMs: Math.round(this.deps.clock.monotonicMs() - startedMs) });
            }
            break;
          }
          case 'end':
            if (header === undefined || end !== undefined) throw corrupt('an end without a header, or a second one');
            end = part.value;
            break;
          case undefined:
            throw corrupt('an empty part');
        }
      }
      // Every chunk loaded before the end is checked and the install finished.
      while (loading.length > 0) await loading.shift();
    } finally {
      pull.stream = undefined;
      stream.cancel();
      // An attempt that ends early leaves no task of it running behind the next step.
      await settleAll();
    }
    if (this.closed) throw new ShuttingDownError(`Data node ${this.deps.nodeId} is shutting down`);
    if (this.pulls.target(id) !== target || pull.cancelled) return undefined;
    if (header === undefined || tally === undefined || end === undefined) throw new UnavailableError(`The snapshot of ${id} from ${target.leader} ended without its SnapshotEnd`);
    if (!tally.matches(end)) {
      throw corrupt(`SnapshotEnd says ${end.keyCount} keys and ${end.payloadBytes} bytes, ${tally.keyCount} keys and ${tally.payloadBytes} bytes were loaded`);
    }
    const { appliedIndex, epoch } = header;
    await this.task(replica, () => replica.finishSnapshotInstall(appliedIndex, epoch));
    this.deps.log.info('Installed a snapshot', {
      keyspace,
      partitionId,
      leader: target.leader,
      epoch: target.epoch,
      appliedIndex,
      appliedEpoch: epoch,
      keyCount: tally.keyCount,
      payloadBytes: tally.payloadBytes,
      durationMs: Math.round(this.deps.clock.monotonicMs() - startedMs),
    });
    return { epoch, index: appliedIndex };
  }

  /** Whether the view still names the pull's target as the partition's leader at its epoch, with this node a replica. */
  private viewNames(pull: ActivePull, target: PullTarget): boolean {
    const record = this.deps.view.keyspace(pull.keyspace)?.partitions[pull.partitionId]?.record;
    return record !== undefined && record.epoch === target.epoch && record.leader === target.leader && record.replicas.includes(this.deps.nodeId);
  }

  /** Runs `run` in a storage transaction of the group committer; resolves once it is durable. */
  private task<T>(replica: PartitionReplica, run: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (!this.deps.committer.submitTask({ replica, run, done: resolve })) reject(new ShuttingDownError(`Data node ${this.deps.nodeId} is shutting down`));
    });
  }

  /** Waits `ms`, or less if the installer closes or the pull is cancelled. */
  private sleep(ms: number, pull: ActivePull): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        timer.cancel();
        this.sleeps.delete(wake);
        pull.wake = undefined;
        resolve();
      };
      const timer = this.deps.clock.after(ms, wake);
      this.sleeps.add(wake);
      pull.wake = wake;
    });
  }
}

/** Replication.Snapshot clients, one channel per leader address. */
export class SnapshotClients {
  private readonly clients = new Map<string, ReplicationClient>();

  /** Opens a Snapshot call to the node at `address`; its errors come out typed (fromGrpcError). */
  open(address: string, request: SnapshotRequest, deadlineMs: number): SnapshotStream {
    let client = this.clients.get(address);
    if (client === undefined) {
      client = new ReplicationClient(address, clientCredentials(), grpcClientOptions);
      this.clients.set(address, client);
    }
    const call = client.snapshot(request, new Metadata(), { deadline: Date.now() + deadlineMs });
    return {
      cancel: () => call.cancel(),
      async *[Symbol.asyncIterator](): AsyncGenerator<SnapshotResponse> {
        try {
          for await (const part of call) yield part as SnapshotResponse;
        } catch (err) {
          throw fromGrpcError(err, `the leader at ${address}`);
        }
      },
    };
  }

  /** Closes every channel. */
  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }
}

/** A Buffer over the same bytes (a decoded bytes field is a view of the received message). */
function viewOf(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function idOf(keyspace: string, partitionId: number): string {
  return `${keyspace}/${partitionId}`;
}
