/**
 * HandOvers: a partition leader giving its leadership to an in-sync follower (RFC 0001
 * "Leadership transfer"), for Admin.TransferLeader (through Replication.HandOver) and for every
 * led partition when the node receives SIGTERM. Per partition:
 *  1. stop admitting writes and serving reads (LeaderReplicator.beginHandOver: both are refused
 *     with NOT_LEADER naming the target, which routers retry until their map moves);
 *  2. wait until every admitted write is appended, acknowledged and answered, and the target's
 *     durable index equals the log end — so the target holds every entry ever answered or
 *     pending — within the catch-up deadline;
 *  3. ask the coordinator leader to write {leader: target, epoch + 1} (Coordination.TransferLeader);
 *  4. on success, stay stopped: the view moves, the node becomes a follower and the fence goes
 *     with the tenure. On a refusal or a missed deadline, admit and serve again.
 *
 * Critical invariants:
 *  - The fence is up before the coordinator is asked, and it comes down only when the request
 *    provably did not apply: a definitive refusal of the coordinator leader naming this epoch,
 *    or a record revision newer than the one asked about while this node still leads the
 *    epoch. After an unknown outcome (deadline, lost connection, AMBIGUOUS_RESULT) the same
 *    request is resent until one of those, or a success, settles it; only if nothing settles it
 *    within unknownOutcomeWaitMs does the leader serve again (the coordinator does not write a
 *    request whose caller gave up, and an etcd transaction left pending that long is assumed
 *    never to apply — the one timing assumption here, logged when it is used).
 *  - A refusal naming a newer epoch means the leadership moved (possibly by this very request):
 *    the fence stays until the view ends the tenure.
 *  - At most one hand-over per partition at a time (beginHandOver refuses a second).
 */
import type { CoordinationTransferLeaderRequest, CoordinationTransferLeaderResponse, HandOverRequest, HandOverResponse } from '@quire/proto';
import {
  AmbiguousResultError,
  CoordinatorUnavailableError,
  PartitionUnavailableError,
  toQuireError,
  type Clock,
  type Logger,
  type MetadataView,
  type QuireError,
} from '@quire/common';
import { checkOwnership } from '../partition/ownership.js';
import type { LeaderReplicator } from './leader-replicator.js';

/** Settings of leadership hand-overs. */
export interface HandOverSettings {
  /** How long the leader waits for the target to hold its whole log before serving again. */
  readonly catchUpDeadlineMs: number;
  /** How long after the catch-up deadline the transfer call is retried while the coordinator is unreachable or changing. */
  readonly transferRetryWindowMs: number;
  /** How long an unknown transfer outcome keeps the partition fenced while resends and the view try to settle it. */
  readonly unknownOutcomeWaitMs: number;
  /** How often readiness is checked while waiting. */
  readonly pollIntervalMs: number;
  /** Pause between transfer calls. */
  readonly resendIntervalMs: number;
}

/** The defaults (the RFC's 5 s catch-up deadline). */
export const handOverDefaults: HandOverSettings = {
  catchUpDeadlineMs: 5_000,
  transferRetryWindowMs: 2_000,
  unknownOutcomeWaitMs: 10_000,
  pollIntervalMs: 5,
  resendIntervalMs: 200,
};

/** What hand-overs need. */
export interface HandOverDeps {
  readonly nodeId: string;
  readonly view: MetadataView;
  readonly clock: Clock;
  readonly log: Logger;
  readonly replicator: Pick<LeaderReplicator, 'beginHandOver' | 'handOverReadiness' | 'endHandOver' | 'ledPartitions'>;
  /** Sends Coordination.TransferLeader to the coordinator leader at `address` (absent: hand-overs are refused). */
  readonly transferLeader?: (address: string, request: CoordinationTransferLeaderRequest) => Promise<CoordinationTransferLeaderResponse>;
}

/** The outcome of handing over every led partition (SIGTERM). */
export interface HandOverAllResult {
  /** Partitions led with followers when it started. */
  readonly led: number;
  readonly handedOver: number;
  readonly failed: number;
  /** Led partitions with no live in-sync follower: left to failover. */
  readonly withoutLiveFollower: number;
}

/** How the transfer call ended. */
type TransferOutcome =
  | { readonly kind: 'transferred'; readonly response: HandOverResponse }
  /** Not applied: serve again. */
  | { readonly kind: 'refused'; readonly error: QuireError }
  /** The leadership moved (or may have): keep the fence until the view ends the tenure. */
  | { readonly kind: 'moved'; readonly error: QuireError };

/** Codes after which a TransferLeader may or may not have been written. */
const unknownOutcomeCodes: ReadonlySet<string> = new Set(['AMBIGUOUS_RESULT', 'DEADLINE_EXCEEDED', 'UNAVAILABLE', 'INTERNAL']);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs leadership hand-overs for the partitions this node leads. */
export class HandOvers {
  constructor(
    private readonly settings: HandOverSettings,
    private readonly deps: HandOverDeps,
  ) {}

  /**
   * Hands one partition over to `request.targetNodeId`; resolves with the record the
   * coordinator wrote, or rejects with the typed reason (the partition is served again unless
   * the leadership moved). `budgetMs` caps the whole wait (SIGTERM's grace).
   */
  async handOver(request: HandOverRequest, budgetMs = Number.POSITIVE_INFINITY): Promise<HandOverResponse> {
    const { keyspace, partitionId, epoch, targetNodeId: target } = request;
    const { replicator, clock, log } = this.deps;
    const owner = checkOwnership(this.deps.view, this.deps.nodeId, keyspace, partitionId, epoch);
    if (!owner.ok) throw owner.error;
    if (this.deps.transferLeader === undefined) {
      throw new PartitionUnavailableError(`Node ${this.deps.nodeId} has no coordinator client; it cannot hand partitions over`, { partitionId, epoch });
    }
    replicator.beginHandOver(keyspace, partitionId, epoch, target);
    const startedMs = clock.monotonicMs();
    const catchUpUntilMs = startedMs + Math.min(this.settings.catchUpDeadlineMs, budgetMs);
    const fields = { keyspace, partitionId, epoch, target };
    log.info('Handing partition leadership over: writes and reads refused until done', fields);
    let keepFence = false;
    try {
      const ready = await this.waitUntilReady(keyspace, partitionId, epoch, target, catchUpUntilMs);
      const caughtUpMs = Math.round(clock.monotonicMs() - startedMs);
      const transferUntilMs = Math.min(catchUpUntilMs + this.settings.transferRetryWindowMs, startedMs + budgetMs);
      const outcome = await this.transfer(request, transferUntilMs);
      if (outcome.kind === 'transferred') {
        keepFence = true;
        log.info('Partition leadership handed over', {
          ...fields,
          newEpoch: outcome.response.record?.epoch,
          logEndIndex: ready.logEndIndex,
          caughtUpMs,
          tookMs: Math.round(clock.monotonicMs() - startedMs),
        });
        return outcome.response;
      }
      keepFence = outcome.kind === 'moved';
      throw outcome.error;
    } catch (err) {
      const e = toQuireError(err);
      log.warn(keepFence ? 'Leadership hand-over ended with the leadership moved elsewhere' : 'Leadership hand-over failed; serving the partition again', {
        ...fields,
        code: e.code,
        err: e.message,
        tookMs: Math.round(clock.monotonicMs() - startedMs),
      });
      throw e;
    } finally {
      if (!keepFence) replicator.endHandOver(keyspace, partitionId, epoch);
    }
  }

  /**
   * Hands every partition led here with a live in-sync follower over, concurrently, within
   * `budgetMs` (SIGTERM). The target is the live ISR follower with the longest durable log,
   * ties to the one leading the fewest partitions (counting the targets already chosen), then
   * to placement order. Partitions without one are left to failover.
   */
  async handOverAll(budgetMs: number): Promise<HandOverAllResult> {
    const { log, view, clock } = this.deps;
    const led = this.deps.replicator.ledPartitions();
    const leaderships = new Map<string, number>();
    for (const name of view.keyspaceNames()) {
      for (const entry of view.keyspace(name)?.partitions ?? []) {
        const leader = entry?.record.leader;
        if (leader !== undefined && leader !== '') leaderships.set(leader, (leaderships.get(leader) ?? 0) + 1);
      }
    }
    const plans: { request: HandOverRequest }[] = [];
    let withoutLiveFollower = 0;
    for (const p of led) {
      let best: string | undefined;
      for (const node of p.isr) {
        if (node === this.deps.nodeId || !view.nodes.has(node)) continue;
        if (best === undefined) {
          best = node;
          continue;
        }
        const [d, bestD] = [p.followerDurableIndexes.get(node) ?? 0, p.followerDurableIndexes.get(best) ?? 0];
        if (d > bestD || (d === bestD && (leaderships.get(node) ?? 0) < (leaderships.get(best) ?? 0))) best = node;
      }
      if (best === undefined) {
        withoutLiveFollower++;
        log.info('No live in-sync follower to hand the partition to; it fails over once this node is gone', { keyspace: p.keyspace, partitionId: p.partitionId, epoch: p.epoch, isr: p.isr });
        continue;
      }
      leaderships.set(best, (leaderships.get(best) ?? 0) + 1);
      plans.push({ request: { keyspace: p.keyspace, partitionId: p.partitionId, epoch: p.epoch, targetNodeId: best } });
    }
    log.info('Handing leaderships over before stopping', { led: led.length, toHandOver: plans.length, withoutLiveFollower, budgetMs });
    const startedMs = clock.monotonicMs();
    let handedOver = 0;
    let failed = 0;
    await Promise.all(
      plans.map(async ({ request }) => {
        try {
          const response = await this.handOver(request, budgetMs - (clock.monotonicMs() - startedMs));
          handedOver++;
          log.info('Handed a partition over', {
            keyspace: request.keyspace,
            partitionId: request.partitionId,
            leader: response.record?.leader,
            epoch: response.record?.epoch,
            progress: `${handedOver} of ${plans.length}`,
          });
        } catch (err) {
          failed++;
          log.warn('Could not hand a partition over; it fails over once this node is gone', {
            keyspace: request.keyspace,
            partitionId: request.partitionId,
            target: request.targetNodeId,
            code: toQuireError(err).code,
            err: String(err),
          });
        }
      }),
    );
    log.info('Leadership hand-over before stopping finished', {
      handedOver,
      of: plans.length,
      failed,
      withoutLiveFollower,
      tookMs: Math.round(clock.monotonicMs() - startedMs),
    });
    return { led: led.length, handedOver, failed, withoutLiveFollower };
  }

  /** Waits until the partition is ready to hand over, or throws when the deadline passes or the tenure ends. */
  private async waitUntilReady(keyspace: string, partitionId: number, epoch: number, target: string, untilMs: number) {
    for (;;) {
      const r = this.deps.replicator.handOverReadiness(keyspace, partitionId, epoch);
      if (r === undefined) {
        throw new PartitionUnavailableError(`Partition ${keyspace}/${partitionId} stopped being led here at epoch ${epoch} during its hand-over`, { partitionId, epoch });
      }
      if (r.ready) return r;
      if (this.deps.clock.monotonicMs() >= untilMs) {
        throw new PartitionUnavailableError(
          `Partition ${keyspace}/${partitionId} was not handed over: ${target} did not catch up in time ` +
            `(its durable index ${r.targetDurableIndex}, the log end ${r.logEndIndex}, acknowledged ${r.acknowledgedIndex}, ${r.writesUnanswered} writes unanswered)`,
          { partitionId, epoch },
        );
      }
      await sleep(this.settings.pollIntervalMs);
    }
  }

  /** Asks the coordinator leader for the transfer until an answer settles whether it applied (see the header). */
  private async transfer(request: HandOverRequest, untilMs: number): Promise<TransferOutcome> {
    const { keyspace, partitionId, epoch, targetNodeId } = request;
    const { clock, log } = this.deps;
    const transferLeader = this.deps.transferLeader as NonNullable<HandOverDeps['transferLeader']>;
    let unknownSinceMs: number | undefined;
    let askedRevision = 0;
    let last: QuireError = new CoordinatorUnavailableError('No coordinator leader is elected');
    for (;;) {
      const r = this.deps.replicator.handOverReadiness(keyspace, partitionId, epoch);
      if (r === undefined) {
        // The tenure ended (the view moved): whatever happened, this node no longer leads.
        return { kind: 'moved', error: new PartitionUnavailableError(`Partition ${keyspace}/${partitionId} stopped being led here at epoch ${epoch}`, { partitionId, epoch }) };
      }
      if (unknownSinceMs !== undefined && r.recordRevision > askedRevision) {
        // Still leading this epoch at a newer record revision: the request compared an older one.
        log.info('A newer partition record settles an unknown transfer outcome: not applied', { keyspace, partitionId, epoch, askedRevision, recordRevision: r.recordRevision });
        return { kind: 'refused', error: last };
      }
      const address = this.deps.view.coordinatorLeader?.record.address;
      if (address !== undefined && address !== '' && r.targetInIsr) {
        askedRevision = r.recordRevision;
        try {
          const response = await transferLeader(address, {
            keyspace,
            partitionId,
            epoch,
            leaderNodeId: this.deps.nodeId,
            targetNodeId,
            recordRevision: askedRevision,
          });
          return { kind: 'transferred', response: { record: response.record, recordRevision: response.recordRevision } };
        } catch (err) {
          last = toQuireError(err);
        }
        const answeredEpoch = last.details.epoch ?? 0;
        if (answeredEpoch > epoch) return { kind: 'moved', error: last };
        if (unknownOutcomeCodes.has(last.code)) {
          unknownSinceMs ??= clock.monotonicMs();
        } else if (last.code === 'CONDITION_FAILED' && answeredEpoch === epoch) {
          // The record is still at this epoch, at another revision (an ISR change): nothing was
          // written; ask again once the progress knows the new revision.
          unknownSinceMs = undefined;
        } else if (!(last.code === 'COORDINATOR_UNAVAILABLE' || (last.code === 'NOT_LEADER' && answeredEpoch === 0)) && unknownSinceMs === undefined) {
          // A definitive refusal from the coordinator leader: nothing was written.
          return { kind: 'refused', error: last };
        }
      } else if (!r.targetInIsr && unknownSinceMs === undefined) {
        return {
          kind: 'refused',
          error: new PartitionUnavailableError(`Partition ${keyspace}/${partitionId}: ${targetNodeId} left the ISR during the hand-over`, { partitionId, epoch }),
        };
      }
      const nowMs = clock.monotonicMs();
      if (unknownSinceMs !== undefined) {
        if (nowMs - unknownSinceMs >= this.settings.unknownOutcomeWaitMs) {
          log.warn('The outcome of a leadership transfer stayed unknown; assuming it did not apply and serving again', {
            keyspace,
            partitionId,
            epoch,
            askedRevision,
            unknownOutcomeWaitMs: this.settings.unknownOutcomeWaitMs,
          });
          return { kind: 'refused', error: new AmbiguousResultError(`The transfer of partition ${keyspace}/${partitionId} to ${targetNodeId} has an unknown outcome: ${last.message}`, { partitionId, epoch }, { cause: last }) };
        }
      } else if (nowMs >= untilMs) {
        return { kind: 'refused', error: last };
      }
      await sleep(this.settings.resendIntervalMs);
    }
  }
}
