/**
 * LeaderReplicator: the leader side of replication on one data node (RFC 0001 "Write path on
 * the leader", steps 4–6). For every partition this node leads with followers it keeps a
 * LeaderProgress (pure core: what to send each follower, the acknowledged index under the
 * keyspace's ack policy), and for every follower node one PeerLink (one stream per node pair,
 * all partitions multiplexed). It ships entries once they are durable on this node, pipelined
 * within each follower's send-ahead window, moves the replica's acknowledged index when
 * followers answer (which answers the waiting writers through the group committer), and
 * answers a mismatch with KIP-279 truncation advice. A follower that needs entries this log no
 * longer holds is sent InstallSnapshot (RFC 0001 "Catch-up, snapshots and log truncation"): it
 * pulls a snapshot with Replication.Snapshot (snapshot-source.ts serves it) and answers
 * SnapshotInstalled, after which it is probed from the snapshot's index and caught up from the
 * log.
 *
 * Critical invariants:
 *  - Entries are sent as soon as they are in this node's log, before its own fsync completes
 *    (Raft's parallel append; logAppended), but only once the tenure is recorded durably
 *    (PartitionReplica.recordLeaderTenure); until then only durable entries are sent. A node that
 *    finds on start-up that the view names it leader of an epoch it had recorded before — it
 *    restarted while leading, and followers may hold entries of that epoch it lost — does not
 *    lead that epoch: it admits no write, serves no read, and asks the coordinator to renew the
 *    tenure at epoch + 1 (Coordination.TransferLeader to itself) until the view moves on. The new
 *    epoch's truncation advice then removes the lost entries from the followers; they were
 *    never acknowledged (acknowledgement counts the leader's own durable index).
 *  - The replica's acknowledged index is the progress's, which under `sync` is the minimum
 *    durable index over the effective ack set (RFC invariant 4).
 *  - Truncation advice is sent only for a refusal the progress acted on, never for a stale one.
 *  - A LeaderProgress lives for one epoch: a new epoch, or losing the leadership, drops it;
 *    answers to another epoch are ignored.
 *  - While a partition is being handed over (beginHandOver until endHandOver, or the end of the
 *    tenure), admit() and handOverRefusal() refuse with NOT_LEADER naming the target, so no write
 *    is admitted and no read served after the leader decided to hand over (RFC 0001
 *    "Leadership transfer": the old leader stops before it asks).
 *  - Followers without a registration in etcd are reported to the progress as departed, so
 *    they leave the ISR without waiting for the lag time.
 *  - No Append is built from entries below the log start: a follower that needs them is put in
 *    snapshot mode instead, and is sent InstallSnapshot when it enters it and again on every
 *    new stream (or after a refusal) while it stays in it.
 *  - While a snapshot is served to a follower, and after it installed one until it joins the
 *    ISR (or departs, or the tenure ends), the log is kept from the snapshot's index + 1 (or the
 *    follower's durable index + 1, if higher), so it can catch up from the log
 *    (keepLogForSnapshot; replication.proto SnapshotHeader promises it).
 *  - An epoch bump that keeps this node the leader (a replica-set change, RFC 0003) starts a new
 *    progress over the same replica: the writes waiting for acknowledgement stay queued in the
 *    group committer (the leadership did not move, so nothing is abandoned) and the new tenure
 *    acknowledges them once its ISR holds them, like any entry of its log.
 *  - A new tenure serves no read until it has acknowledged the whole log it took over
 *    (readRefusal): the previous leader may have acknowledged entries this node knows only as
 *    appended, and a read must see every acknowledged write (Raft's rule that a new leader commits
 *    an entry of its own before it serves reads). After a transfer or a failover this takes one round
 *    trip to the followers. After an epoch bump that kept this process the leader (the epoch
 *    right after one it led here) only the log the previous tenure took over counts: what it
 *    appended since was acknowledged by nobody else, so reads go on if that tenure served them.
 */
import {
  AckPolicy as WireAckPolicy,
  LogEntryKind,
  type AlterIsrRequest,
  type AlterIsrResponse,
  type CoordinationTransferLeaderRequest,
  type CoordinationTransferLeaderResponse,
  type FollowerMessage,
  type LeaderMessage,
  type LedPartitionProgress,
} from '@quire/proto';
import {
  InvalidArgumentError,
  NotLeaderError,
  PartitionUnavailableError,
  type Clock,
  type Logger,
  type MetadataView,
  type PartitionEntry,
  type QuireError,
} from '@quire/common';
import { adviseTruncation } from '../replication/divergence.js';
import { LeaderProgress, type Admission, type AckPolicy, type AppendRange, type IsrProposal } from '../replication/leader-progress.js';
import type { GroupCommitter } from '../partition/group-commit.js';
import type { PartitionReplica } from '../partition/replica.js';
import { PeerLink } from './peer-link.js';
import type { SnapshotServeProgress } from './snapshot-source.js';

/** The snapshot of a partition being served to a follower now (SnapshotSource.progressOf), or undefined. */
export type SnapshotProgressOf = (keyspace: string, partitionId: number, follower: string) => SnapshotServeProgress | undefined;

/** Settings of the leader side. */
export interface LeaderReplicatorSettings {
  /** Most entries per Append. */
  readonly appendEntriesMax: number;
  /** Most entries sent to one follower beyond its durable index. */
  readonly sendAheadEntriesMax: number;
  /** Most key and value bytes per stream message. */
  readonly streamBatchBytesMax: number;
  /** A follower lacking an entry durable on the leader for longer than this lags. */
  readonly isrLagTimeMs: number;
  /** A follower that answers nothing for this long leaves the ISR (when the ISR can spare it). */
  readonly followerSilenceMs: number;
  /**
   * A follower whose log is empty (a new replica) is sent a snapshot instead of the log once the
   * leader has applied at least this many entries (0: only when the log no longer reaches back).
   * The log holds every write ever made, the data only the latest of each key, and a snapshot is
   * one sequential read on this node and one load on the follower, paced by
   * --snapshot-bytes-per-second; the log would be re-read entry by entry and written twice there.
   */
  readonly newReplicaSnapshotEntries: number;
  /** How often idle partitions are looked at (retries after NotReady, acknowledged-index heartbeats). */
  readonly tickMs: number;
  /**
   * A follower sent nothing for this long gets an empty Append carrying the acknowledged index,
   * so an idle partition's followers keep hearing from their leader (the staleness that STALE
   * reads report stays near this interval instead of growing while there are no writes).
   */
  readonly heartbeatMs: number;
}

/** What the replicator needs from the data node. */
export interface LeaderReplicatorDeps {
  readonly nodeId: string;
  readonly view: MetadataView;
  readonly clock: Clock;
  readonly log: Logger;
  readonly committer: GroupCommitter;
  /** Opens (or returns) this node's replica of a partition; undefined while its deletion is under way (RFC 0003). */
  openReplica(keyspace: string, partitionId: number): PartitionReplica | undefined;
  /** Sends an AlterIsr to the coordinator leader at `address` (absent: ISR changes are only logged). */
  alterIsr?(address: string, request: AlterIsrRequest): Promise<AlterIsrResponse>;
  /** Sends a Coordination.TransferLeader to the coordinator leader at `address` (tenure renewals; absent: they are only logged). */
  transferLeader?(address: string, request: CoordinationTransferLeaderRequest): Promise<CoordinationTransferLeaderResponse>;
  /** Creates the link to a follower node (a PeerLink in production). */
  createLink?(targetNodeId: string, events: ConstructorParameters<typeof PeerLink>[2]): PeerLink;
}

/** One led partition with followers, for one epoch. */
interface Led {
  readonly id: string;
  readonly keyspace: string;
  readonly partitionId: number;
  readonly epoch: number;
  readonly replica: PartitionReplica;
  readonly progress: LeaderProgress;
  readonly followers: readonly string[];
  /** Per follower, the acknowledged index it was last sent. */
  readonly ackSent: Map<string, number>;
  /** Per follower, the monotonic time the last Append left for it. */
  readonly lastSentMs: Map<string, number>;
  /** Followers that refused as not ready or stale: retried at the next tick. */
  readonly held: Set<string>;
  /** Followers in snapshot mode to send an InstallSnapshot at the next pump. */
  readonly installDue: Set<string>;
  /**
   * Per follower being seeded from a snapshot: the log is kept from this index on (with its
   * durable index + 1 if higher) until it is in the confirmed ISR or departs.
   */
  readonly snapshotFloors: Map<string, number>;
  /** The log end this tenure took over: reads are served once it is acknowledged in this tenure. */
  readonly readsFromIndex: number;
  /**
   * Trace contexts of traced writes by log index, while tracing is on: each Append lists those
   * of its entries so the follower's span links to them. Dropped once acknowledged, and beyond
   * tracedEntriesMax (oldest first).
   */
  readonly traced: Map<number, string>;
}

/** Most traced entries remembered per led partition. */
const tracedEntriesMax = 4_096;

/** A partition this node must not lead at `epoch` (it led it before a restart): its tenure is being renewed. */
interface Renewal {
  readonly keyspace: string;
  readonly partitionId: number;
  readonly epoch: number;
  /** The partition record's mod revision, from the view. */
  recordRevision: number;
  inFlight: boolean;
  /** Monotonic time of the next request. */
  nextAttemptMs: number;
}

/** Where a hand-over of one partition stands (LeaderReplicator.handOverReadiness). */
export interface HandOverReadiness {
  /** The leader's log end index (appended entries, durable or not). */
  readonly logEndIndex: number;
  readonly durableIndex: number;
  readonly acknowledgedIndex: number;
  /** The target's durable index as it last acknowledged. */
  readonly targetDurableIndex: number;
  /** Writes admitted before the hand-over began and not answered yet. */
  readonly writesUnanswered: number;
  /** The newest partition record revision this leader knows (view or AlterIsr answer). */
  readonly recordRevision: number;
  /** Whether the target is in the ISR confirmed by etcd. */
  readonly targetInIsr: boolean;
  /** Every admitted write is appended, acknowledged and answered, and the target holds the whole log. */
  readonly ready: boolean;
}

/** A partition led here with followers, for choosing hand-over targets. */
export interface LedPartition {
  readonly keyspace: string;
  readonly partitionId: number;
  readonly epoch: number;
  /** The ISR confirmed by etcd, leader included, in placement order. */
  readonly isr: readonly string[];
  /** Each follower's durable index as it last acknowledged. */
  readonly followerDurableIndexes: ReadonlyMap<string, number>;
}

/** The trace contexts of the traced entries among `entries`. */
function tracedOf(traced: ReadonlyMap<number, string>, entries: readonly { readonly index: number }[]): string[] {
  const out: string[] = [];
  for (const e of entries) {
    const traceparent = traced.get(e.index);
    if (traceparent !== undefined) out.push(traceparent);
  }
  return out;
}

function ackPolicyOf(policy: WireAckPolicy): AckPolicy {
  switch (policy) {
    case WireAckPolicy.ACK_POLICY_SEMI_SYNC:
      return 'semi-sync';
    case WireAckPolicy.ACK_POLICY_ASYNC:
      return 'async';
    default:
      return 'sync';
  }
}

/** The leader side of replication for every partition this node leads with followers. */
export class LeaderReplicator {
  private readonly led = new Map<string, Led>();
  /** Partitions whose tenure is being renewed (see the header), by id. */
  private readonly renewals = new Map<string, Renewal>();
  /** The epoch each partition's tenure started at in this process, by id: restarting a tenure of this process is safe. */
  private readonly startedHere = new Map<string, number>();
  private readonly links = new Map<string, PeerLink>();
  /** Led partitions per follower node. */
  private readonly byFollower = new Map<string, Set<Led>>();
  private readonly pumpDue = new Set<string>();
  private pumpScheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Partitions being handed over, by id: the tenure (epoch) and the target. */
  private readonly handOvers = new Map<string, { readonly epoch: number; readonly target: string }>();

  constructor(
    private readonly settings: LeaderReplicatorSettings,
    private readonly deps: LeaderReplicatorDeps,
  ) {
    this.timer = setInterval(() => this.tick(), settings.tickMs);
    this.timer.unref();
  }

  /** Whether `replica`'s partition is led here with followers (its acknowledgements come from them). */
  leads(replica: PartitionReplica): boolean {
    return this.led.has(idOf(replica.keyspace, replica.partitionId));
  }

  /** Whether a new write may be appended to the partition now (not being handed over; min ISR under sync). */
  admit(keyspace: string, partitionId: number): Admission {
    const renewing = this.renewalRefusal(keyspace, partitionId);
    if (renewing !== undefined) return { ok: false, error: renewing };
    const led = this.led.get(idOf(keyspace, partitionId));
    if (led === undefined) return { ok: true };
    const refusal = this.handOverRefusal(keyspace, partitionId);
    return refusal === undefined ? led.progress.canAcceptWrites() : { ok: false, error: refusal };
  }

  /**
   * The NOT_LEADER refusal of writes and reads of a partition being handed over, or undefined.
   * Routers retry it once their map names the new leader.
   */
  handOverRefusal(keyspace: string, partitionId: number): QuireError | undefined {
    const id = idOf(keyspace, partitionId);
    const handOver = this.handOvers.get(id);
    const led = this.led.get(id);
    if (handOver === undefined || led === undefined || led.epoch !== handOver.epoch) return undefined;
    return new NotLeaderError(`Partition ${id} is handing its leadership over from ${this.deps.nodeId} to ${handOver.target}`, {
      mapRevision: this.deps.view.revision,
      partitionId,
      epoch: led.epoch,
      leaderHint: handOver.target,
    });
  }

  /**
   * Why reads of a partition led here cannot be served now, or undefined: it is being handed
   * over (NOT_LEADER naming the target), or this tenure has not yet acknowledged the log it took
   * over (PARTITION_UNAVAILABLE; routers send reads again).
   */
  readRefusal(keyspace: string, partitionId: number): QuireError | undefined {
    const handingOver = this.handOverRefusal(keyspace, partitionId) ?? this.renewalRefusal(keyspace, partitionId);
    if (handingOver !== undefined) return handingOver;
    const led = this.led.get(idOf(keyspace, partitionId));
    if (led === undefined || led.replica.acknowledgedIndex >= led.readsFromIndex) return undefined;
    return new PartitionUnavailableError(
      `Partition ${led.id} is led by ${this.deps.nodeId} at epoch ${led.epoch}, which has not yet acknowledged the log it took over ` +
        `(acknowledged ${led.replica.acknowledgedIndex} of ${led.readsFromIndex}); it serves reads once it has`,
      { partitionId, epoch: led.epoch, retryAfterMs: 20 },
    );
  }

  /** The refusal of writes and reads of a partition whose tenure is being renewed, or undefined. */
  private renewalRefusal(keyspace: string, partitionId: number): QuireError | undefined {
    const renewal = this.renewals.get(idOf(keyspace, partitionId));
    if (renewal === undefined) return undefined;
    return new PartitionUnavailableError(
      `Partition ${keyspace}/${partitionId}: ${this.deps.nodeId} restarted while leading epoch ${renewal.epoch} and is asking the coordinator for epoch ${renewal.epoch + 1}; ` +
        'it serves the partition once it has it',
      { partitionId, epoch: renewal.epoch, retryAfterMs: 50 },
    );
  }

  /**
   * Starts handing a partition over to `target` (RFC 0001 "Leadership transfer"): from now on
   * until endHandOver, or until this tenure ends, writes are not admitted and handOverRefusal()
   * refuses reads. Throws the typed refusal when the partition is not led here with followers
   * at `epoch`, `target` is not a follower in the confirmed ISR, or a hand-over of it is under way.
   */
  beginHandOver(keyspace: string, partitionId: number, epoch: number, target: string): void {
    const id = idOf(keyspace, partitionId);
    const led = this.led.get(id);
    if (led === undefined || led.epoch !== epoch) {
      throw new PartitionUnavailableError(`Node ${this.deps.nodeId} does not lead partition ${id} with followers at epoch ${epoch}`, { partitionId, epoch });
    }
    if (!led.followers.includes(target) || !led.progress.confirmedIsr.includes(target)) {
      throw new InvalidArgumentError(`Partition ${id} cannot be handed over to ${target}: it is not a follower in the ISR [${led.progress.confirmedIsr.join(', ')}]`, {
        field: 'target_node_id',
        partitionId,
      });
    }
    const current = this.handOvers.get(id);
    if (current !== undefined && current.epoch === epoch) {
      throw new PartitionUnavailableError(`Partition ${id} is already being handed over to ${current.target}`, { partitionId, epoch, retryAfterMs: 1_000 });
    }
    this.handOvers.set(id, { epoch, target });
    // Ship what is not on the target yet right away.
    this.pumpLater(target);
  }

  /** Where the hand-over of a partition stands; undefined once the partition is no longer led here at `epoch`. */
  handOverReadiness(keyspace: string, partitionId: number, epoch: number): HandOverReadiness | undefined {
    const id = idOf(keyspace, partitionId);
    const led = this.led.get(id);
    const handOver = this.handOvers.get(id);
    if (led === undefined || led.epoch !== epoch || handOver === undefined || handOver.epoch !== epoch) return undefined;
    const { replica, progress } = led;
    const logEndIndex = replica.logEndIndex;
    const targetDurableIndex = progress.followerStatus(handOver.target, this.nowMs()).durableIndex;
    const writesUnanswered = this.deps.committer.unansweredWrites(replica);
    return {
      logEndIndex,
      durableIndex: replica.durableIndex,
      acknowledgedIndex: progress.acknowledgedIndex,
      targetDurableIndex,
      writesUnanswered,
      recordRevision: progress.isrRevision,
      targetInIsr: progress.confirmedIsr.includes(handOver.target),
      ready:
        writesUnanswered === 0 &&
        replica.durableIndex === logEndIndex &&
        progress.acknowledgedIndex === logEndIndex &&
        targetDurableIndex === logEndIndex,
    };
  }

  /** Ends the hand-over of a partition at `epoch` (it failed): writes are admitted and reads served again. */
  endHandOver(keyspace: string, partitionId: number, epoch: number): void {
    const id = idOf(keyspace, partitionId);
    if (this.handOvers.get(id)?.epoch === epoch) this.handOvers.delete(id);
  }

  /** The partitions led here with followers. */
  ledPartitions(): LedPartition[] {
    const now = this.nowMs();
    return [...this.led.values()].map((led) => ({
      keyspace: led.keyspace,
      partitionId: led.partitionId,
      epoch: led.epoch,
      isr: led.progress.confirmedIsr,
      followerDurableIndexes: new Map(led.followers.map((f) => [f, led.progress.followerStatus(f, now).durableIndex])),
    }));
  }

  /**
   * Every partition led here with followers and each follower's progress (Replication.GetFollowerProgress), in one synchronous
   * step. `snapshotOf` gives the snapshot being served to a follower (SnapshotSource.progressOf); without one, or when none is
   * served, its snapshot fields are 0.
   */
  followerProgress(snapshotOf: SnapshotProgressOf = () => undefined): LedPartitionProgress[] {
    const now = this.nowMs();
    return [...this.led.values()].map((led) => ({
      keyspace: led.keyspace,
      partitionId: led.partitionId,
      epoch: led.epoch,
      logEnd: led.replica.logEndIndex,
      durableIndex: led.replica.durableIndex,
      acknowledgedIndex: led.progress.acknowledgedIndex,
      followers: led.followers.map((f) => {
        const status = led.progress.followerStatus(f, now);
        const snapshot = snapshotOf(led.keyspace, led.partitionId, f);
        return {
          nodeId: f,
          durableIndex: status.durableIndex,
          lagMs: Math.max(0, Math.round(status.lagMs)),
          mode: status.mode,
          inIsr: status.inConfirmedIsr,
          snapshotBytesSent: snapshot?.bytesSent ?? 0,
          snapshotBytesEstimate: snapshot?.bytesEstimate ?? 0,
          snapshotKeysSent: snapshot?.keysSent ?? 0,
          snapshotElapsedMs: snapshot?.elapsedMs ?? 0,
        };
      }),
    }));
  }

  /**
   * Keeps the log of a partition led here at `epoch` from `fromIndex` on for `follower`, which is
   * pulling a snapshot (Replication.Snapshot) and will catch up from the log after it; replaces
   * the follower's previous floor. Returns the replica, or undefined when the partition is not
   * led here with that follower at that epoch.
   */
  keepLogForSnapshot(keyspace: string, partitionId: number, epoch: number, follower: string, fromIndex: number): PartitionReplica | undefined {
    const led = this.led.get(idOf(keyspace, partitionId));
    if (led === undefined || led.epoch !== epoch || !led.followers.includes(follower)) return undefined;
    led.snapshotFloors.set(follower, fromIndex);
    this.updateKeepFloor(led);
    return led.replica;
  }

  /**
   * Brings the led partitions and links in line with the metadata view: starts a progress for
   * each partition this node leads with followers (at its epoch), drops the others, confirms
   * ISR changes, and points each link at its follower's registered address.
   */
  sync(): void {
    if (this.stopped || !this.deps.view.loaded) return;
    const seen = new Set<string>();
    for (const name of this.deps.view.keyspaceNames()) {
      const ks = this.deps.view.keyspace(name);
      if (ks === undefined) continue;
      for (const entry of ks.partitions) {
        if (entry === undefined || entry.record.leader !== this.deps.nodeId || entry.record.replicas.length < 2) continue;
        const id = idOf(name, entry.record.partitionId);
        seen.add(id);
        const current = this.led.get(id);
        if (current !== undefined && current.epoch === entry.record.epoch) {
          if (entry.record.isr.includes(this.deps.nodeId)) current.progress.confirmIsr(entry.record.isr, entry.modRevision);
          continue;
        }
        if (current !== undefined) this.drop(current);
        const replica = this.deps.openReplica(name, entry.record.partitionId);
        if (replica === undefined || (entry.record.splitFrom !== undefined && replica.unseeded)) {
          // Its old replica here is being deleted, or it is a split's new partition not carved here
          // yet: the sync after the deletion, or after the carve, starts it.
          seen.delete(id);
          continue;
        }
        if (replica.leaderTenureEpoch >= entry.record.epoch && this.startedHere.get(id) !== entry.record.epoch) {
          this.renew(name, entry);
          continue;
        }
        this.renewals.delete(id);
        // This process led the epoch just before (a replica-set change kept it leader): what it
        // appended since that tenure began was acknowledged by nobody else, so reads wait only for
        // the log that tenure took over, as they did. Otherwise for the whole log held now.
        const continued = current !== undefined && current.epoch + 1 === entry.record.epoch;
        const readsFromIndex = continued ? current.readsFromIndex : replica.logEndIndex;
        this.start(name, entry, replica, ackPolicyOf(ks.record.ackPolicy), ks.record.minIsr, Math.max(1, ks.record.replicationFactor), readsFromIndex);
      }
    }
    for (const led of [...this.led.values()]) if (!seen.has(led.id)) this.drop(led);
    for (const [id, renewal] of this.renewals) {
      if (seen.has(id)) continue;
      this.renewals.delete(id);
      this.deps.log.info('Tenure renewal ended: the view moved on', { keyspace: renewal.keyspace, partitionId: renewal.partitionId, epoch: renewal.epoch });
    }
    this.noteDepartures();
    for (const [nodeId, link] of this.links) {
      if ((this.byFollower.get(nodeId)?.size ?? 0) === 0) {
        link.close();
        this.links.delete(nodeId);
        this.byFollower.delete(nodeId);
      } else {
        link.setAddress(this.deps.view.nodes.get(nodeId)?.address);
      }
    }
  }

  /**
   * The leader's log of `replica` was extended by a transaction that is not durable yet: ship
   * the new entries now if this tenure sends ahead of durability, so followers fsync in parallel.
   */
  logAppended(replica: PartitionReplica): void {
    const led = this.led.get(idOf(replica.keyspace, replica.partitionId));
    if (led === undefined || led.replica !== replica) return;
    led.progress.leaderLogExtended(replica.logEndIndex);
    if (!led.progress.sendsAhead) return;
    for (const f of led.followers) this.pumpLater(f);
  }

  /** The leader's log of `replica` became durable further: ship the new entries. */
  logDurable(replica: PartitionReplica): void {
    const led = this.led.get(idOf(replica.keyspace, replica.partitionId));
    if (led === undefined || led.replica !== replica) return;
    led.progress.leaderAppended(replica.durableIndex, this.nowMs());
    this.acknowledge(led);
    for (const f of led.followers) this.pumpLater(f);
  }

  /**
   * Forgets a partition whose replica on this node is being deleted (RFC 0003: the view no longer
   * lists this node among its replicas): stops leading it if it still did (a removed node never
   * leads; defensive), and drops its renewal, hand-over and tenure bookkeeping, so a replica
   * opened here later starts from nothing.
   */
  release(keyspace: string, partitionId: number): void {
    const id = idOf(keyspace, partitionId);
    const led = this.led.get(id);
    if (led !== undefined) this.drop(led);
    this.renewals.delete(id);
    this.startedHere.delete(id);
    this.handOvers.delete(id);
  }

  /** Stops sending and closes every link. */
  close(): void {
    this.stopped = true;
    clearInterval(this.timer);
    for (const link of this.links.values()) link.close();
    this.links.clear();
    this.led.clear();
    this.byFollower.clear();
  }

  private start(keyspace: string, entry: PartitionEntry, replica: PartitionReplica, ackPolicy: AckPolicy, minIsrRecorded: number, replicationFactor: number, readsFromIndex: number): void {
    const { record } = entry;
    const isr = record.isr.includes(this.deps.nodeId) ? record.isr : [...record.isr, this.deps.nodeId];
    const minIsr = Math.min(Math.max(1, minIsrRecorded), record.replicas.length);
    const progress = new LeaderProgress(
      {
        partitionId: record.partitionId,
        epoch: record.epoch,
        leaderNodeId: this.deps.nodeId,
        replicas: record.replicas,
        ackPolicy,
        minIsr,
        replicationFactor,
        isrLagTimeMs: this.settings.isrLagTimeMs,
        sendAheadEntriesMax: this.settings.sendAheadEntriesMax,
        appendEntriesMax: this.settings.appendEntriesMax,
        isrProposalRetryMs: isrProposalRetryMs,
        followerSilenceMs: this.settings.followerSilenceMs,
      },
      { isr, isrRevision: entry.modRevision, durableIndex: replica.durableIndex, acknowledgedIndex: replica.acknowledgedIndex, nowMs: this.nowMs() },
    );
    const followers = record.replicas.filter((n) => n !== this.deps.nodeId);
    const led: Led = {
      id: idOf(keyspace, record.partitionId),
      keyspace,
      partitionId: record.partitionId,
      epoch: record.epoch,
      replica,
      progress,
      followers,
      ackSent: new Map(),
      lastSentMs: new Map(),
      held: new Set(),
      installDue: new Set(),
      snapshotFloors: new Map(),
      readsFromIndex,
      traced: new Map(),
    };
    this.led.set(led.id, led);
    this.startedHere.set(led.id, record.epoch);
    replica.noteEpoch(record.epoch);
    // Entries go out before they are durable here only once the tenure is recorded durably: a
    // restart then knows it led this epoch and asks for a new one instead (renew).
    const recorded = this.deps.committer.submitTask({
      replica,
      // A tenure restarted within this process was recorded by its first start.
      run: () => {
        if (replica.leaderTenureEpoch < record.epoch) replica.recordLeaderTenure(record.epoch);
      },
      done: () => {
        if (this.led.get(led.id) !== led) return;
        progress.sendAheadOfDurable();
        for (const f of followers) this.pumpLater(f);
      },
    });
    if (!recorded) this.deps.log.info('Not recording the leader tenure (stopping): sending durable entries only', { keyspace, partitionId: record.partitionId, epoch: record.epoch });
    for (const f of followers) {
      let set = this.byFollower.get(f);
      if (set === undefined) {
        set = new Set();
        this.byFollower.set(f, set);
      }
      set.add(led);
      let link = this.links.get(f);
      if (link === undefined) {
        const events = {
          connected: () => this.connected(f),
          disconnected: () => this.disconnected(f),
          messages: (messages: readonly FollowerMessage[]) => this.answers(f, messages),
          writable: () => this.pumpLater(f),
        };
        link = this.deps.createLink?.(f, events) ?? new PeerLink(this.deps.nodeId, f, events, this.deps.log);
        this.links.set(f, link);
        link.setAddress(this.deps.view.nodes.get(f)?.address);
      } else {
        this.pumpLater(f);
      }
    }
    this.updateKeepFloor(led);
    this.deps.log.info('Leading partition with followers', { keyspace, partitionId: record.partitionId, epoch: record.epoch, followers, ackPolicy, minIsr, isr: record.isr });
  }

  /**
   * Tells each progress which of its followers have no registration now; a change is proposed
   * at once (a node stopping leaves the ISRs without waiting for the lag time or the tick).
   */
  private noteDepartures(): void {
    const now = this.nowMs();
    for (const led of this.led.values()) {
      const departed = led.followers.filter((f) => !this.deps.view.nodes.has(f));
      if (!led.progress.setDeparted(departed)) continue;
      if (departed.length > 0) this.deps.log.info('Followers have no registration; leaving them out of the ISR', { keyspace: led.keyspace, partitionId: led.partitionId, departed });
      const proposal = led.progress.proposals(now);
      if (proposal !== undefined) this.proposeIsr(led, proposal);
    }
  }

  private drop(led: Led): void {
    if (this.handOvers.get(led.id)?.epoch === led.epoch) this.handOvers.delete(led.id);
    this.led.delete(led.id);
    for (const f of led.followers) this.byFollower.get(f)?.delete(led);
    led.replica.setLogKeepFloor(Number.POSITIVE_INFINITY);
    this.deps.log.info('No longer leading partition at this epoch', { keyspace: led.keyspace, partitionId: led.partitionId, epoch: led.epoch });
  }

  private connected(follower: string): void {
    for (const led of this.byFollower.get(follower) ?? []) {
      led.progress.reconnected(follower);
      led.ackSent.delete(follower);
      led.held.delete(follower);
      // The follower may have restarted and lost the request: ask again (a repeat joins its pull).
      if (led.progress.sendMode(follower) === 'snapshot') led.installDue.add(follower);
    }
    this.pumpLater(follower);
  }

  /**
   * The stream to a follower broke (its process died, or the connection was reset): every
   * sync partition led here proposes its removal from the ISR now, instead of after the lag
   * time or the node's lease (RFC 0001 "Fast ISR shrink"); it rejoins once it has caught up
   * again. (LeaderProgress decides; other policies keep it until the lag or departure rules.)
   */
  private disconnected(follower: string): void {
    const now = this.nowMs();
    const partitions: number[] = [];
    for (const led of this.byFollower.get(follower) ?? []) {
      if (!led.progress.followerDisconnected(follower)) continue;
      partitions.push(led.partitionId);
      const proposal = led.progress.proposals(now);
      if (proposal !== undefined) this.proposeIsr(led, proposal);
    }
    if (partitions.length > 0) this.deps.log.info('Replication stream to a follower broke; leaving it out of the ISR until it catches up', { follower, partitions });
  }

  private answers(follower: string, messages: readonly FollowerMessage[]): void {
    const touched = new Set<Led>();
    for (const m of messages) {
      const led = this.led.get(idOf(m.keyspace, m.partitionId));
      if (led === undefined || m.epoch !== led.epoch || !led.followers.includes(follower)) continue;
      touched.add(led);
      const body = m.body;
      switch (body?.$case) {
        case 'appended':
          led.progress.followerAcked(follower, Math.min(body.value.durableIndex, led.progress.leaderLogEnd), this.nowMs());
          break;
        case 'refused': {
          const reason = body.value.reason;
          if (reason?.$case === 'mismatch') {
            this.mismatch(led, follower, reason.value.prevIndex, reason.value.logEnd ?? { epoch: 0, index: 0 });
          } else if (reason?.$case === 'needsSnapshot') {
            // Its log cannot follow ours without truncating applied entries (RFC invariant 6): re-seed it.
            if (led.progress.needsSnapshot(follower)) this.snapshotNeeded(led, follower, (reason.value.logEnd?.index ?? 0) + 1);
          } else {
            // Stale epoch (this node was deposed; the view will say so) or not ready (the
            // follower's view is behind): hold the follower until the next tick, then probe.
            led.held.add(follower);
            this.deps.log.debug('Follower refused an append', { keyspace: led.keyspace, partitionId: led.partitionId, follower, reason: reason?.$case, knownEpoch: reason?.value.knownEpoch });
          }
          break;
        }
        case 'truncated':
          // The probe that follows the advice was sent with it; the answer to that probe counts.
          break;
        case 'snapshotInstalled':
          this.snapshotInstalled(led, follower, body.value.logEnd ?? { epoch: 0, index: 0 });
          break;
        case undefined:
          break;
      }
    }
    for (const led of touched) {
      this.acknowledge(led);
      this.updateKeepFloor(led);
      for (const f of led.followers) this.pumpLater(f);
    }
  }

  private mismatch(led: Led, follower: string, prevIndex: number, logEnd: { epoch: number; index: number }): void {
    const replica = led.replica;
    // The history still describes entries retention dropped: advice below the log start is a snapshot.
    let advice = adviseTruncation(logEnd, replica.epochHistory, replica.logEndIndex, replica.firstLogIndex);
    // Advise keeping no more than what may have been sent from here (durable, or appended when
    // this tenure sends ahead): entries above are still being written.
    const sendLimit = led.progress.sendLimit;
    if (advice.kind === 'truncate' && advice.index > sendLimit) advice = { ...advice, index: sendLimit };
    const threshold = this.settings.newReplicaSnapshotEntries;
    const newReplica = advice.kind === 'truncate' && logEnd.index === 0 && threshold > 0 && replica.appliedIndex >= threshold;
    if (newReplica) advice = { kind: 'snapshot' };
    if (!led.progress.appendRefused(follower, prevIndex, advice)) return;
    if (advice.kind === 'snapshot') {
      this.snapshotNeeded(led, follower, logEnd.index + 1, newReplica ? 'new-replica' : 'log-truncated');
      return;
    }
    this.deps.log.info('Follower log diverges; advising truncation', { keyspace: led.keyspace, partitionId: led.partitionId, follower, followerLogEnd: logEnd, advice });
    const link = this.links.get(follower);
    // If the stream is gone the advice is lost with it; the reconnect probes again.
    link?.send([{ keyspace: led.keyspace, partitionId: led.partitionId, epoch: led.epoch, body: { $case: 'truncate', value: { epochMax: advice.epoch, indexMax: advice.index } } }]);
  }

  /**
   * A follower entered snapshot mode (it needs entries from `needsIndex` on, below this log's
   * start, or it is a new replica with an empty log, see newReplicaSnapshotEntries): an
   * InstallSnapshot goes out at the next pump.
   */
  private snapshotNeeded(led: Led, follower: string, needsIndex: number, why: 'log-truncated' | 'new-replica' = 'log-truncated'): void {
    led.installDue.add(follower);
    const message =
      why === 'new-replica'
        ? 'A follower with an empty log joins a partition with data; asking it to install a snapshot rather than replay the log'
        : 'A follower needs entries this leader no longer holds; asking it to install a snapshot';
    this.deps.log.info(message, {
      keyspace: led.keyspace,
      partitionId: led.partitionId,
      epoch: led.epoch,
      follower,
      needsIndex,
      firstLogIndex: led.replica.firstLogIndex,
      appliedIndex: led.replica.appliedIndex,
    });
    this.pumpLater(follower);
  }

  /** A follower answered SnapshotInstalled: probe it from the snapshot's index, and keep the log for it from there. */
  private snapshotInstalled(led: Led, follower: string, logEnd: { epoch: number; index: number }): void {
    const { progress, replica } = led;
    const where = { keyspace: led.keyspace, partitionId: led.partitionId, epoch: led.epoch, follower, logEnd };
    // A late answer (the follower left snapshot mode another way) or a malformed one changes nothing.
    if (progress.sendMode(follower) !== 'snapshot') {
      this.deps.log.debug('Ignoring a SnapshotInstalled of a follower not waiting for one', where);
      return;
    }
    if (!Number.isSafeInteger(logEnd.index) || logEnd.index < 0 || logEnd.index > progress.leaderDurableIndex || replica.epochAt(logEnd.index) !== logEnd.epoch) {
      this.deps.log.warn('Ignoring a SnapshotInstalled that does not match this log; asking again', { ...where, leaderEpochThere: replica.epochAt(logEnd.index) });
      led.installDue.add(follower);
      return;
    }
    progress.snapshotSent(follower, logEnd.index);
    led.installDue.delete(follower);
    led.snapshotFloors.set(follower, logEnd.index + 1);
    this.deps.log.info('A follower installed a snapshot; catching it up from the log', { ...where, firstLogIndex: replica.firstLogIndex, logEndIndex: replica.logEndIndex });
  }

  /** Moves the replica's acknowledged index to the progress's and answers the writers. */
  private acknowledge(led: Led): void {
    const ack = led.progress.acknowledgedIndex;
    if (ack > led.replica.acknowledgedIndex) {
      led.replica.acknowledge(ack);
      this.deps.committer.acknowledged(led.replica);
    }
    for (const index of led.traced.keys()) {
      if (index > ack) break;
      led.traced.delete(index);
    }
  }

  /**
   * Remembers the trace context of a traced write appended at `index` of a partition led here
   * (tracing on only), so the Appends carrying it name it to the followers.
   */
  noteTraced(keyspace: string, partitionId: number, index: number, traceparent: string): void {
    const led = this.led.get(idOf(keyspace, partitionId));
    if (led === undefined || traceparent === '') return;
    led.traced.set(index, traceparent);
    if (led.traced.size > tracedEntriesMax) led.traced.delete(led.traced.keys().next().value as number);
  }

  /** Keeps the leader's log from the first entry some follower still lacks. */
  private updateKeepFloor(led: Led): void {
    const now = this.nowMs();
    let floor = Number.POSITIVE_INFINITY;
    // Only ISR members (and members being added) hold the log back: a follower that fell out
    // of the ISR catches up from the log while it still has its entries, and from a snapshot
    // once it does not, but does not make the log grow without bound.
    const members = new Set(led.progress.effectiveAckSet);
    for (const f of led.followers) if (members.has(f)) floor = Math.min(floor, led.progress.followerStatus(f, now).durableIndex + 1);
    // Followers being seeded from a snapshot hold it back from the snapshot on, until they are
    // in the ISR (then the line above covers them) or gone (no registration: they may never come
    // back, and a returning one gets a new snapshot).
    const confirmed = new Set(led.progress.confirmedIsr);
    for (const [f, from] of led.snapshotFloors) {
      if (confirmed.has(f) || !this.deps.view.nodes.has(f)) {
        led.snapshotFloors.delete(f);
        continue;
      }
      floor = Math.min(floor, Math.max(from, led.progress.followerStatus(f, now).durableIndex + 1));
    }
    led.replica.setLogKeepFloor(floor);
  }

  private pumpLater(follower: string): void {
    this.pumpDue.add(follower);
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      const due = [...this.pumpDue];
      this.pumpDue.clear();
      for (const f of due) this.pump(f);
    });
  }

  /** Sends each partition's next batches (and moved acknowledged indexes) to one follower. */
  private pump(follower: string): void {
    if (this.stopped) return;
    const link = this.links.get(follower);
    if (link === undefined || !link.ready) return;
    const now = this.nowMs();
    let batch: LeaderMessage[] = [];
    let bytes = 0;
    const flush = (): boolean => {
      if (batch.length > 0 && !link.send(batch)) return false;
      batch = [];
      bytes = 0;
      return link.ready;
    };
    for (const led of this.byFollower.get(follower) ?? []) {
      if (led.held.has(follower)) continue;
      const { progress } = led;
      if (progress.sendMode(follower) === 'snapshot') {
        if (led.installDue.delete(follower)) batch.push(this.installSnapshot(led));
        continue;
      }
      for (;;) {
        const range = progress.nextBatch(follower);
        if (range === undefined) break;
        const message = this.append(led, follower, range, this.settings.streamBatchBytesMax - bytes, now);
        if (message === undefined) {
          // The range starts below the log: the follower is in snapshot mode now.
          if (led.installDue.delete(follower)) batch.push(this.installSnapshot(led));
          break;
        }
        batch.push(message.message);
        bytes += message.bytes;
        if (bytes >= this.settings.streamBatchBytesMax && !flush()) return;
        if (progress.sendMode(follower) === 'probe') break;
      }
      const idle = now - (led.lastSentMs.get(follower) ?? Number.NEGATIVE_INFINITY) >= this.settings.heartbeatMs;
      if ((led.ackSent.get(follower) ?? -1) < progress.acknowledgedIndex || idle) {
        const heartbeat = progress.heartbeat(follower);
        if (heartbeat !== undefined) {
          const message = this.append(led, follower, heartbeat, 0, now);
          if (message !== undefined) batch.push(message.message);
          else if (led.installDue.delete(follower)) batch.push(this.installSnapshot(led));
        }
      }
    }
    flush();
  }

  /** Builds the Append for `range` (cut to the bytes budget, at least one entry) and records it as sent. */
  private append(led: Led, follower: string, range: AppendRange, bytesBudget: number, nowMs: number): { message: LeaderMessage; bytes: number } | undefined {
    const { replica, progress } = led;
    const prevEpoch = replica.epochAt(range.prevIndex);
    // The follower needs entries from fromIndex on; below the log start they are gone (the epoch
    // history still knows their epochs, so prevEpoch alone does not tell).
    if (prevEpoch === undefined || range.fromIndex < replica.firstLogIndex) {
      if (progress.needsSnapshot(follower)) this.snapshotNeeded(led, follower, range.fromIndex);
      return undefined;
    }
    const entries = range.toIndex >= range.fromIndex ? replica.entriesForSend(range.fromIndex, range.toIndex, Math.max(1, bytesBudget)) : [];
    const sent: AppendRange = { ...range, toIndex: range.fromIndex + entries.length - 1 };
    progress.batchSent(follower, sent, nowMs);
    led.ackSent.set(follower, progress.acknowledgedIndex);
    led.lastSentMs.set(follower, nowMs);
    let bytes = 0;
    for (const e of entries) bytes += e.key.length + e.value.length + 32;
    return {
      message: {
        keyspace: led.keyspace,
        partitionId: led.partitionId,
        epoch: led.epoch,
        body: {
          $case: 'append',
          value: {
            prevIndex: range.prevIndex,
            prevEpoch,
            acknowledgedIndex: progress.acknowledgedIndex,
            traceparents: led.traced.size === 0 ? [] : tracedOf(led.traced, entries),
            entries: entries.map((e) => ({
              index: e.index,
              epoch: e.epoch,
              kind: e.kind === 'put' ? LogEntryKind.LOG_ENTRY_KIND_PUT : LogEntryKind.LOG_ENTRY_KIND_DELETE,
              key: e.key,
              value: e.value,
              requestId: e.requestId ?? Buffer.alloc(0),
            })),
          },
        },
      },
      bytes,
    };
  }

  /** The InstallSnapshot message of a led partition. */
  private installSnapshot(led: Led): LeaderMessage {
    return { keyspace: led.keyspace, partitionId: led.partitionId, epoch: led.epoch, body: { $case: 'installSnapshot', value: {} } };
  }

  /** Starts (or updates) the renewal of a tenure this node led before a restart (see the header). */
  private renew(keyspace: string, entry: PartitionEntry): void {
    const { partitionId, epoch } = entry.record;
    const id = idOf(keyspace, partitionId);
    const current = this.renewals.get(id);
    if (current !== undefined && current.epoch === epoch) {
      current.recordRevision = Math.max(current.recordRevision, entry.modRevision);
      return;
    }
    this.renewals.set(id, { keyspace, partitionId, epoch, recordRevision: entry.modRevision, inFlight: false, nextAttemptMs: 0 });
    this.deps.log.warn('Restarted while leading this partition: asking the coordinator for a new epoch before serving it', { keyspace, partitionId, epoch });
    this.askRenewals();
  }

  /** Sends the renewal requests that are due (one in flight per partition). */
  private askRenewals(): void {
    const address = this.deps.view.coordinatorLeader?.record.address;
    const transferLeader = this.deps.transferLeader;
    if (this.renewals.size === 0 || address === undefined || address === '' || transferLeader === undefined) return;
    const now = this.nowMs();
    for (const renewal of this.renewals.values()) {
      if (renewal.inFlight || now < renewal.nextAttemptMs) continue;
      renewal.inFlight = true;
      const { keyspace, partitionId, epoch } = renewal;
      transferLeader(address, { keyspace, partitionId, epoch, leaderNodeId: this.deps.nodeId, targetNodeId: this.deps.nodeId, recordRevision: renewal.recordRevision }).then(
        (res) => {
          renewal.inFlight = false;
          this.deps.log.info('Tenure renewed', { keyspace, partitionId, epoch: res.record?.epoch, recordRevision: res.recordRevision });
          // The view brings the new epoch; sync() then starts the tenure.
        },
        (err: unknown) => {
          // Refused (the record moved: the view tells what is next) or unknown: ask again
          // while the view still names this node at this epoch; the revision check makes a
          // second application impossible.
          renewal.inFlight = false;
          renewal.nextAttemptMs = this.nowMs() + renewalRetryMs;
          this.deps.log.info('Tenure renewal not applied yet', { keyspace, partitionId, epoch, err: String(err) });
        },
      );
    }
  }

  private tick(): void {
    this.askRenewals();
    const now = this.nowMs();
    for (const led of this.led.values()) {
      const proposal = led.progress.proposals(now);
      if (proposal !== undefined) this.proposeIsr(led, proposal);
      for (const f of led.followers) {
        if (led.held.delete(f)) {
          led.progress.reconnected(f);
          led.ackSent.delete(f);
          // A refused InstallSnapshot (the follower's view lagged) is sent again.
          if (led.progress.sendMode(f) === 'snapshot') led.installDue.add(f);
        }
        this.pumpLater(f);
      }
    }
  }

  /**
   * Asks the coordinator leader for an ISR change (Coordination.AlterIsr). The change counts as
   * pending from proposals() on; the answer (or the view, whichever comes first) confirms the
   * record revision that ends it.
   */
  private proposeIsr(led: Led, proposal: IsrProposal): void {
    const address = this.deps.view.coordinatorLeader?.record.address;
    this.deps.log.info('Asking the coordinator for an ISR change', {
      keyspace: led.keyspace,
      partitionId: led.partitionId,
      epoch: led.epoch,
      add: proposal.add,
      remove: proposal.remove,
      isr: proposal.isr,
      coordinator: address,
    });
    if (address === undefined || this.deps.alterIsr === undefined) return;
    this.deps
      .alterIsr(address, {
        keyspace: led.keyspace,
        partitionId: led.partitionId,
        epoch: led.epoch,
        leaderNodeId: this.deps.nodeId,
        isr: [...proposal.isr],
        recordRevision: proposal.recordRevision,
      })
      .then(
        (res) => {
          const record = res.record;
          if (record === undefined || this.led.get(led.id) !== led || record.epoch !== led.epoch) return;
          led.progress.confirmIsr(record.isr, res.recordRevision);
          this.acknowledge(led);
          this.updateKeepFloor(led);
          for (const f of led.followers) this.pumpLater(f);
        },
        (err: unknown) => {
          // The view brings the record either way; the proposal is resent while it is pending.
          this.deps.log.info('AlterIsr was not applied', { keyspace: led.keyspace, partitionId: led.partitionId, err: String(err) });
        },
      );
  }

  private nowMs(): number {
    return Math.floor(this.deps.clock.monotonicMs());
  }
}

/** A tenure renewal that failed is asked again after this long. */
const renewalRetryMs = 200;

/** An unanswered AlterIsr is sent again after this long. */
const isrProposalRetryMs = 500;

function idOf(keyspace: string, partitionId: number): string {
  return `${keyspace}/${partitionId}`;
}
