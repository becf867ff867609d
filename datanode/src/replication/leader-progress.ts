/**
 * LeaderProgress: a partition leader's replication state for one epoch (RFC 0001 "Write path
 * on the leader", "Ack policies", "ISR changes"). It tracks each follower's durable index and
 * what to send it next, the ISR confirmed in etcd and the changes the leader has asked for,
 * and derives the acknowledged index under the keyspace's ack policy. Pure: time comes in as
 * monotonic milliseconds, ISR changes leave as proposals the caller sends to the coordinator
 * (AlterIsr) and come back through confirmIsr. A new epoch gets a new instance.
 *
 * Effective ack set = confirmed ISR ∪ pending additions. A member the leader asks to add
 * counts for acknowledgement from the moment proposals() returns the request; a member it asks
 * to remove keeps counting until etcd confirms the removal. Only one AlterIsr is in flight;
 * its pending changes end when the leader sees any record revision newer than the one the
 * request was based on, because the coordinator's transaction compares that revision, so the
 * request can no longer apply after that.
 *
 * Acknowledged index by policy:
 *  - sync: the minimum durable index over the effective ack set, and only while that set has
 *    at least minIsr members (so every acknowledged entry has at least minIsr copies, even if
 *    the ISR shrank after the entry was appended);
 *  - semi-sync: the leader's durable index capped by the best follower that is in etcd's ISR
 *    however the AlterIsr in flight ends (confirmed ISR minus pending removals: a pending
 *    addition may never land, and the coordinator promotes only ISR members), so a single
 *    failure of the leader leaves a promotable copy. With no such follower nothing new is
 *    acknowledged, and writes are refused while the confirmed ISR has no follower — no silent
 *    fall-back to leader-only (RFC 0001 "Ack policies and what each loses"). A keyspace of
 *    replication factor 1 promises no follower's copy: while such a partition has a learner (a
 *    replica a move adds, outside the ISR; RFC 0003) and no ISR follower, its leader's durable
 *    index is acknowledged and writes are admitted, as with one replica;
 *  - async: the leader's durable index.
 *
 * Learners (RFC 0003): a replica outside the ISR counts for no acknowledgement under any policy
 * until proposals() asks to add it, so a move that adds one never changes what writes wait for.
 *
 * Departed followers: a follower whose node has no registration in etcd (it stopped, or its
 * lease expired) counts as lagging whatever its durable index: it is proposed for removal at
 * once rather than after isrLagTimeMs, and is not added back until it registers again. Removing
 * a member is always safe; this spares writes the wait for a node that is gone — a node stopped
 * with SIGTERM leaves the ISRs it is in within one proposal round trip.
 *
 * Unreachable and silent followers (RFC 0001 "Fast ISR shrink"), under sync only — the one
 * policy whose writes wait for every ISR member: a follower whose replication stream broke
 * (followerDisconnected: the process died, its connection was reset) is proposed for removal
 * at once, and counts as reachable again from its next acknowledgement; a follower that has
 * answered nothing for followerSilenceMs since the leader sent it something (a paused process,
 * a cut link: the stream stays open) too. Both only while the ISR keeps minIsr members without
 * it: below that writes stop either way, and a failover would lose a candidate holding every
 * acknowledged entry (a slow disk on every follower at once stalls writes, it does not refuse
 * them; the lag and departure rules remove what is really gone). The member still counts for acknowledgement until
 * etcd confirms its removal, so a write in flight waits for that confirmation, not for the lag
 * time or the node's lease. Under semi-sync and async a dead follower stalls nothing (another
 * follower, or none, is waited for), and an early removal would only leave a failover fewer
 * candidates, so they keep the lag and departure rules alone.
 *
 * Lag (for shrinking): a follower lags when it lacks an entry that has been durable on the
 * leader for more than isrLagTimeMs (Kafka's replica.lag.time.max.ms). The leader records when
 * its durable index advanced, in at most lagMarksPerLagTime + 2 marks; entries that became
 * durable within one mark spacing (⌈isrLagTimeMs / lagMarksPerLagTime⌉) share the earliest
 * time, so lag is overestimated by less than one spacing, never underestimated below the
 * threshold.
 *
 * Sending ahead of the leader's fsync (Raft's parallel append): entries are sent from the moment
 * they are in the leader's log (appended, leaderLogExtended), not only once durable there, so a
 * follower's fsync overlaps the leader's. Acknowledgement still counts the leader's own durable
 * index, so an acknowledged entry is durable on the leader too. A follower may then hold entries
 * of this epoch that the leader lost in a crash; such a leader must not lead this epoch again
 * after a restart (it would assign those indexes to other writes at the same epoch): the caller
 * allows sending ahead only once it has made that impossible (sendAheadOfDurable; the data node
 * records the tenure durably first and renews the epoch after a restart), and until then sends
 * durable entries only.
 *
 * Sending: per follower, the index of the next entry to send. In 'probe' mode (start, after a
 * reconnect or a refused append) one batch is in flight at a time until an acknowledgement
 * shows where the follower's log matches; in 'replicate' mode batches are pipelined without
 * waiting for acks, at most sendAheadEntriesMax entries beyond the follower's durable index.
 * In 'snapshot' mode nothing is sent until snapshotSent().
 *
 * Critical invariants:
 *  - The acknowledged index never decreases and never exceeds the leader's durable index.
 *  - Under sync, every entry up to the acknowledged index is durable on every member of the
 *    effective ack set, and etcd's ISR ⊆ the effective ack set at all times, provided the
 *    caller sends each proposal only after proposals() returned it and reports every record
 *    revision it learns through confirmIsr (RFC invariant 4).
 *  - Under semi-sync, every newly acknowledged entry is durable on the leader and on a follower
 *    that is in etcd's ISR at that moment (under the same caller contract).
 *  - Durable indexes never decrease; the leader's log end is at least its durable index; a
 *    follower never reports an index above the leader's log end (it acknowledges only what it
 *    was sent), and nothing beyond the durable index is sent before sendAheadOfDurable().
 *  - Time passed in never goes backwards.
 *  - Entries sent and not acknowledged per follower ≤ sendAheadEntriesMax.
 */
import { assert, PartitionUnavailableError, type QuireError } from '@quire/common';
import type { TruncationAdvice } from './divergence.js';

/** The keyspace's ack policy. */
export type AckPolicy = 'sync' | 'semi-sync' | 'async';

/** Fixed settings of one leader tenure of one partition. */
export interface LeaderProgressConfig {
  readonly partitionId: number;
  readonly epoch: number;
  readonly leaderNodeId: string;
  /** Every replica of the partition, leader included, in placement order. */
  readonly replicas: readonly string[];
  readonly ackPolicy: AckPolicy;
  /** Under sync, writes are refused while the confirmed ISR has fewer members. */
  readonly minIsr: number;
  /**
   * The keyspace's replication factor (at least 1). With 1, semi-sync asks no follower while the
   * ISR has none (a learner added by a move does not change what a one-replica keyspace promises).
   */
  readonly replicationFactor: number;
  /** A follower lacking an entry durable on the leader for longer than this is removed from the ISR. */
  readonly isrLagTimeMs: number;
  /** Most entries sent to one follower beyond its durable index. */
  readonly sendAheadEntriesMax: number;
  /** Most entries in one Append message. */
  readonly appendEntriesMax: number;
  /** An unanswered AlterIsr is sent again after this long. */
  readonly isrProposalRetryMs: number;
  /**
   * A follower that answered nothing for this long since it was sent something leaves the ISR
   * (when the ISR keeps enough members without it; see the header).
   */
  readonly followerSilenceMs: number;
}

/** Where the leader starts its tenure. */
export interface LeaderStart {
  /** The ISR in the partition record, leader included. */
  readonly isr: readonly string[];
  /** The partition record's etcd mod revision. */
  readonly isrRevision: number;
  /** The leader's durable index (its log end, all fsynced). */
  readonly durableIndex: number;
  /** Already acknowledged entries (the leader's applied index). */
  readonly acknowledgedIndex: number;
  readonly nowMs: number;
}

/** A range of entries to send in one Append: fromIndex..toIndex inclusive (empty when toIndex = prevIndex). */
export interface AppendRange {
  readonly prevIndex: number;
  readonly fromIndex: number;
  readonly toIndex: number;
}

/** An ISR change to ask the coordinator for (AlterIsr). */
export interface IsrProposal {
  /** The whole new ISR, in placement order. */
  readonly isr: readonly string[];
  readonly add: readonly string[];
  readonly remove: readonly string[];
  /** The partition record's mod revision the change is based on (the transaction compares it). */
  readonly recordRevision: number;
}

/** How the leader currently sends to a follower. */
export type SendMode = 'probe' | 'replicate' | 'snapshot';

/** A follower's replication progress, for status and metrics. */
export interface FollowerStatus {
  readonly nodeId: string;
  readonly durableIndex: number;
  /** Monotonic time of its last acknowledgement in this tenure, if any. */
  readonly lastAckMs: number | undefined;
  /** How long it has lacked an entry durable on the leader (0 when it has them all). */
  readonly lagMs: number;
  readonly nextIndex: number;
  readonly mode: SendMode;
  readonly inConfirmedIsr: boolean;
  readonly pendingChange: 'add' | 'remove' | undefined;
}

/** The result of the write admission check. */
export type Admission = { readonly ok: true } | { readonly ok: false; readonly error: QuireError };

/** Marks kept per lag time: the lag resolution is isrLagTimeMs divided by this. */
export const lagMarksPerLagTime = 8;

interface FollowerProgress {
  durableIndex: number;
  acked: boolean;
  lastAckMs: number | undefined;
  nextIndex: number;
  mode: SendMode;
  probeInFlight: boolean;
  probePrevIndex: number;
  /** Its stream broke and it has not acknowledged anything since. */
  unreachable: boolean;
  /** Since when something sent to it is unanswered (undefined: nothing outstanding). */
  awaitingSinceMs: number | undefined;
}

/** "Entries from firstIndex on became durable on the leader no earlier than ms." */
interface LagMark {
  readonly firstIndex: number;
  readonly ms: number;
}

/** A partition leader's replication progress for one epoch. */
export class LeaderProgress {
  private readonly followers = new Map<string, FollowerProgress>();
  private confirmed: Set<string>;
  private revision: number;
  private pendingAdd = new Set<string>();
  private pendingRemove = new Set<string>();
  private inFlight: { proposal: IsrProposal; sentMs: number } | undefined;
  private durable: number;
  /** The leader's log end (appended entries, durable or not); ≥ durable. */
  private logEnd: number;
  /** Whether entries are sent before they are durable on the leader. */
  private ahead = false;
  private acknowledged: number;
  private nowMsLast: number;
  private marks: LagMark[];
  private readonly markSpacingMs: number;
  private departed: ReadonlySet<string> = new Set();

  constructor(
    private readonly config: LeaderProgressConfig,
    start: LeaderStart,
  ) {
    const { replicas, leaderNodeId, minIsr } = config;
    assert(new Set(replicas).size === replicas.length, `Replicas ${replicas.join(',')} repeat a node`);
    assert(replicas.includes(leaderNodeId), `Leader ${leaderNodeId} is not among the replicas ${replicas.join(',')}`);
    assert(Number.isSafeInteger(minIsr) && minIsr >= 1 && minIsr <= replicas.length, `min_isr ${minIsr} is not within [1, ${replicas.length}]`);
    assert(Number.isSafeInteger(config.replicationFactor) && config.replicationFactor >= 1, `Replication factor ${config.replicationFactor} is not a positive integer`);
    assert(Number.isSafeInteger(config.isrLagTimeMs) && config.isrLagTimeMs >= 1, `isrLagTimeMs ${config.isrLagTimeMs} is not a positive integer`);
    assert(Number.isSafeInteger(config.isrProposalRetryMs) && config.isrProposalRetryMs >= 1, `isrProposalRetryMs ${config.isrProposalRetryMs} is not a positive integer`);
    assert(Number.isSafeInteger(config.followerSilenceMs) && config.followerSilenceMs >= 1, `followerSilenceMs ${config.followerSilenceMs} is not a positive integer`);
    assert(
      Number.isSafeInteger(config.appendEntriesMax) && config.appendEntriesMax >= 1 && config.sendAheadEntriesMax >= config.appendEntriesMax,
      `Need 1 ≤ appendEntriesMax (${config.appendEntriesMax}) ≤ sendAheadEntriesMax (${config.sendAheadEntriesMax})`,
    );
    assert(Number.isSafeInteger(start.durableIndex) && start.durableIndex >= 0, `Durable index ${start.durableIndex} is not a non-negative integer`);
    assert(
      Number.isSafeInteger(start.acknowledgedIndex) && start.acknowledgedIndex >= 0 && start.acknowledgedIndex <= start.durableIndex,
      `Acknowledged index ${start.acknowledgedIndex} is not within [0, ${start.durableIndex}]`,
    );
    assert(Number.isSafeInteger(start.nowMs), `Time ${start.nowMs} is not an integer`);
    this.checkIsr(start.isr, start.isrRevision);
    this.confirmed = new Set(start.isr);
    this.revision = start.isrRevision;
    this.durable = start.durableIndex;
    this.logEnd = start.durableIndex;
    this.acknowledged = start.acknowledgedIndex;
    this.nowMsLast = start.nowMs;
    // Followers get isrLagTimeMs from the start of the tenure to catch up on older entries.
    this.marks = [{ firstIndex: 1, ms: start.nowMs }];
    this.markSpacingMs = Math.max(1, Math.ceil(config.isrLagTimeMs / lagMarksPerLagTime));
    for (const node of replicas) {
      if (node === leaderNodeId) continue;
      this.followers.set(node, {
        durableIndex: 0,
        acked: false,
        lastAckMs: undefined,
        // Optimistic first probe (Raft): most followers already hold the leader's log.
        nextIndex: start.durableIndex + 1,
        mode: 'probe',
        probeInFlight: false,
        probePrevIndex: 0,
        unreachable: false,
        awaitingSinceMs: undefined,
      });
    }
    this.recompute();
  }

  /** The highest index the ack policy is met for. Never decreases. */
  get acknowledgedIndex(): number {
    return this.acknowledged;
  }

  /** The leader's own durable index. */
  get leaderDurableIndex(): number {
    return this.durable;
  }

  /** The leader's log end: appended entries, durable or not. */
  get leaderLogEnd(): number {
    return this.logEnd;
  }

  /** The highest index that may be sent now: the log end once sending ahead is allowed, else the durable index. */
  get sendLimit(): number {
    return this.ahead ? this.logEnd : this.durable;
  }

  /**
   * Allows sending entries before they are durable on the leader (see the header: only once a
   * restart of the leader cannot lead this epoch again). Never withdrawn within a tenure.
   */
  sendAheadOfDurable(): void {
    this.ahead = true;
  }

  /** Whether entries are sent before they are durable on the leader. */
  get sendsAhead(): boolean {
    return this.ahead;
  }

  /** Records that the leader's log holds entries up to `logEndIndex` (appended; durable later). */
  leaderLogExtended(logEndIndex: number): void {
    assert(Number.isSafeInteger(logEndIndex) && logEndIndex >= this.durable, `Leader log end ${logEndIndex} is below its durable index ${this.durable}`);
    if (logEndIndex > this.logEnd) this.logEnd = logEndIndex;
  }

  /** The ISR as last confirmed by etcd, in placement order. */
  get confirmedIsr(): readonly string[] {
    return this.config.replicas.filter((n) => this.confirmed.has(n));
  }

  /** The mod revision of the partition record the confirmed ISR comes from. */
  get isrRevision(): number {
    return this.revision;
  }

  /** The members whose durable index acknowledgement waits for: confirmed ISR ∪ pending additions. */
  get effectiveAckSet(): readonly string[] {
    return this.config.replicas.filter((n) => this.confirmed.has(n) || this.pendingAdd.has(n));
  }

  /** The AlterIsr request in flight, if any. */
  get proposalInFlight(): IsrProposal | undefined {
    return this.inFlight?.proposal;
  }

  /**
   * Returns whether the leader may append new writes: under sync only while the confirmed ISR
   * has at least minIsr members, under semi-sync only while it has a follower (minIsr aside;
   * with replication factor 1 always), under async always; otherwise a PARTITION_UNAVAILABLE
   * error naming the ISR.
   */
  canAcceptWrites(): Admission {
    const { ackPolicy, minIsr, partitionId, epoch } = this.config;
    const isr = this.confirmedIsr;
    let why: string;
    if (ackPolicy === 'sync' && this.confirmed.size < minIsr) why = `fewer than min_isr ${minIsr}`;
    else if (ackPolicy === 'semi-sync' && this.confirmed.size < 2 && this.config.replicationFactor >= 2) why = 'no follower, which semi-sync needs';
    else return { ok: true };
    return {
      ok: false,
      error: new PartitionUnavailableError(
        `Partition ${partitionId} has ${isr.length} in-sync replicas [${isr.join(', ')}], ${why}: writes are refused until followers catch up`,
        { partitionId, epoch },
      ),
    };
  }

  /** Records that the leader's log is durable up to `durableIndex` (after a group commit). */
  leaderAppended(durableIndex: number, nowMs: number): void {
    this.tick(nowMs);
    assert(Number.isSafeInteger(durableIndex) && durableIndex >= this.durable, `Leader durable index went from ${this.durable} to ${durableIndex}`);
    if (durableIndex === this.durable) return;
    const last = this.marks.at(-1) as LagMark;
    if (nowMs - last.ms >= this.markSpacingMs) this.marks.push({ firstIndex: this.durable + 1, ms: nowMs });
    // Marks older than the lag time only need their newest one: any follower behind it lags.
    while (this.marks.length >= 2 && (this.marks[1] as LagMark).ms < nowMs - this.config.isrLagTimeMs) this.marks.shift();
    assert(this.marks.length <= lagMarksPerLagTime + 2, `Lag marks grew to ${this.marks.length}`);
    this.durable = durableIndex;
    if (durableIndex > this.logEnd) this.logEnd = durableIndex;
    this.recompute();
  }

  /**
   * Records a follower's acknowledgement of an Append: its log matches the leader's and is
   * durable up to `durableIndex`. A lower index than already known (a late answer) changes
   * nothing but the time of the last acknowledgement.
   */
  followerAcked(nodeId: string, durableIndex: number, nowMs: number): void {
    this.tick(nowMs);
    const f = this.follower(nodeId);
    assert(
      Number.isSafeInteger(durableIndex) && durableIndex >= 0 && durableIndex <= this.logEnd,
      `Follower ${nodeId} acknowledged index ${durableIndex}, beyond the leader's log end ${this.logEnd}`,
    );
    f.acked = true;
    f.lastAckMs = nowMs;
    f.unreachable = false;
    f.durableIndex = Math.max(f.durableIndex, durableIndex);
    if (f.mode === 'probe' && f.durableIndex >= f.nextIndex - 1) {
      // The follower's log matches up to where we would send from: pipeline from here on.
      // (Also when the answer repeats an index already known: a probe after a reconnect.)
      f.mode = 'replicate';
      f.probeInFlight = false;
    }
    f.nextIndex = Math.max(f.nextIndex, f.durableIndex + 1);
    // It answered: silence is counted again from now if more is outstanding.
    f.awaitingSinceMs = f.mode !== 'snapshot' && (f.nextIndex - 1 > f.durableIndex || f.probeInFlight) ? nowMs : undefined;
    this.recompute();
  }

  /**
   * Records that the stream to a follower broke: it is proposed for removal from the ISR at the
   * next proposals() and is not added back before it acknowledges again. Returns whether it
   * was reachable until now.
   */
  followerDisconnected(nodeId: string): boolean {
    const f = this.follower(nodeId);
    f.awaitingSinceMs = undefined;
    if (f.unreachable) return false;
    f.unreachable = true;
    return true;
  }

  /**
   * Records that a follower refused the Append whose prev index was `refusedPrevIndex`, and the
   * leader's advice for it (adviseTruncation on the log end it reported). Refusals of messages
   * sent before the last rewind are ignored; the others rewind the follower to probe from the
   * advised index, or switch it to snapshot mode. Returns whether it acted on the refusal: only
   * then may the advice be sent (advice for a stale refusal could truncate entries the follower
   * has acknowledged since).
   */
  appendRefused(nodeId: string, refusedPrevIndex: number, advice: TruncationAdvice): boolean {
    const f = this.follower(nodeId);
    if (f.mode === 'snapshot') return false;
    const probeAnswer = f.mode === 'probe' && f.probeInFlight && refusedPrevIndex === f.probePrevIndex;
    // It holds that entry already (matched and durable): the refusal is older than the ack —
    // unless it answers the probe in flight: a follower that cannot show a newer leader holds
    // entries it applied refuses even an index it acknowledged (follower-append.ts, RFC invariant 6).
    if (!probeAnswer && (f.mode === 'probe' || refusedPrevIndex <= f.durableIndex)) return false;
    f.probeInFlight = false;
    f.awaitingSinceMs = undefined;
    if (advice.kind === 'snapshot') {
      f.mode = 'snapshot';
      return true;
    }
    assert(advice.index <= this.sendLimit, `Advised index ${advice.index} is beyond what the leader may send (${this.sendLimit})`);
    assert(advice.index >= f.durableIndex, `Advised index ${advice.index} is below ${nodeId}'s acknowledged durable index ${f.durableIndex}`);
    f.mode = 'probe';
    f.nextIndex = advice.index + 1;
    return true;
  }

  /**
   * Switches a follower to snapshot mode because the leader found, while building its next
   * Append, that the follower needs entries its log no longer holds (they were truncated below
   * the log start). Returns whether the follower was not in snapshot mode already (only then
   * is an InstallSnapshot due).
   */
  needsSnapshot(nodeId: string): boolean {
    const f = this.follower(nodeId);
    if (f.mode === 'snapshot') return false;
    f.mode = 'snapshot';
    f.probeInFlight = false;
    f.awaitingSinceMs = undefined;
    return true;
  }

  /** How the leader sends to a follower now (cheaper than followerStatus: no time needed). */
  sendMode(nodeId: string): SendMode {
    return this.follower(nodeId).mode;
  }

  /** Records a new stream to a follower: what was in flight on the old one is lost; probe again. */
  reconnected(nodeId: string): void {
    const f = this.follower(nodeId);
    f.awaitingSinceMs = undefined;
    if (f.mode === 'snapshot') return;
    f.mode = 'probe';
    f.probeInFlight = false;
    f.nextIndex = f.acked ? f.durableIndex + 1 : this.durable + 1;
  }

  /** Records that a snapshot at `snapshotIndex` was installed on a follower: probe from the next index. */
  snapshotSent(nodeId: string, snapshotIndex: number): void {
    const f = this.follower(nodeId);
    assert(f.mode === 'snapshot', `Follower ${nodeId} was not waiting for a snapshot`);
    assert(Number.isSafeInteger(snapshotIndex) && snapshotIndex >= 0 && snapshotIndex <= this.durable, `Snapshot index ${snapshotIndex} is beyond ${this.durable}`);
    f.mode = 'probe';
    f.probeInFlight = false;
    f.nextIndex = snapshotIndex + 1;
  }

  /** The index of the next entry to send to a follower. */
  nextToSend(nodeId: string): number {
    return this.follower(nodeId).nextIndex;
  }

  /**
   * Returns the next batch to send to a follower, or undefined when nothing may be sent now
   * (caught up, window full, a probe outstanding, or waiting for a snapshot). A probe may be an
   * empty range. Call batchSent once it is handed to the stream.
   */
  nextBatch(nodeId: string): AppendRange | undefined {
    const f = this.follower(nodeId);
    switch (f.mode) {
      case 'snapshot':
        return undefined;
      case 'probe':
        if (f.probeInFlight) return undefined;
        return this.range(f.nextIndex, Math.min(this.sendLimit, f.nextIndex + this.config.appendEntriesMax - 1));
      case 'replicate': {
        const toIndex = Math.min(this.sendLimit, f.durableIndex + this.config.sendAheadEntriesMax, f.nextIndex + this.config.appendEntriesMax - 1);
        return toIndex < f.nextIndex ? undefined : this.range(f.nextIndex, toIndex);
      }
    }
  }

  /**
   * Returns an empty Append for a follower, to carry the acknowledged index when there is
   * nothing to send (or the probe, in probe mode); undefined while a probe is outstanding or a
   * snapshot is awaited. Call batchSent once it is handed to the stream.
   */
  heartbeat(nodeId: string): AppendRange | undefined {
    const f = this.follower(nodeId);
    if (f.mode === 'snapshot' || f.probeInFlight) return undefined;
    return this.range(f.nextIndex, f.nextIndex - 1);
  }

  /**
   * Records that `range` (from nextBatch or heartbeat) left for a follower at `nowMs` (default:
   * the latest time passed in; an earlier time counts as that), from when its silence is counted
   * if nothing else was unanswered.
   */
  batchSent(nodeId: string, range: AppendRange, nowMs: number = this.nowMsLast): void {
    const sentMs = Math.max(nowMs, this.nowMsLast);
    const f = this.follower(nodeId);
    assert(f.mode !== 'snapshot', `Nothing is sent to ${nodeId} while it waits for a snapshot`);
    assert(range.fromIndex === f.nextIndex && range.prevIndex === range.fromIndex - 1, `Batch from ${range.fromIndex} sent to ${nodeId}, expected from ${f.nextIndex}`);
    assert(range.toIndex >= range.prevIndex && range.toIndex <= this.sendLimit, `Batch to ${range.toIndex} is beyond what the leader may send (${this.sendLimit})`);
    assert(range.toIndex - range.prevIndex <= this.config.appendEntriesMax, `Batch of ${range.toIndex - range.prevIndex} entries exceeds ${this.config.appendEntriesMax}`);
    if (f.mode === 'probe') {
      assert(!f.probeInFlight, `A probe to ${nodeId} is already in flight`);
      f.probeInFlight = true;
      f.probePrevIndex = range.prevIndex;
    } else {
      assert(range.toIndex - f.durableIndex <= this.config.sendAheadEntriesMax, `Batch to ${range.toIndex} runs beyond the send-ahead window of ${nodeId}`);
    }
    f.nextIndex = range.toIndex + 1;
    f.awaitingSinceMs ??= sentMs;
  }

  /**
   * Returns the ISR change to ask the coordinator for now, if any: remove confirmed members
   * that lag, add replicas that acknowledged up to the acknowledged index and do not lag. The
   * change counts as pending from this call on. While a request is in flight, returns it again
   * every isrProposalRetryMs (the retry is harmless: it compares the same revision).
   */
  proposals(nowMs: number): IsrProposal | undefined {
    this.tick(nowMs);
    if (this.inFlight !== undefined) {
      if (nowMs - this.inFlight.sentMs < this.config.isrProposalRetryMs) return undefined;
      this.inFlight.sentMs = nowMs;
      return this.inFlight.proposal;
    }
    const add: string[] = [];
    const remove: string[] = [];
    const fast: string[] = [];
    for (const [node, f] of this.followers) {
      const lagging = this.departed.has(node) || this.lagMs(f, nowMs) > this.config.isrLagTimeMs;
      const silent = f.awaitingSinceMs !== undefined && nowMs - f.awaitingSinceMs > this.config.followerSilenceMs;
      if (this.confirmed.has(node)) {
        if (lagging) remove.push(node);
        else if (f.unreachable || silent) fast.push(node);
      } else if (f.acked && f.durableIndex >= this.acknowledged && !lagging && !f.unreachable && !silent) {
        add.push(node);
      }
    }
    // Unreachable members before silent ones, each only while the rest of the ISR can spare it.
    fast.sort((x, y) => Number(this.follower(y).unreachable) - Number(this.follower(x).unreachable));
    for (const node of fast) {
      const rest = this.config.replicas.filter((n) => this.confirmed.has(n) && n !== node && !remove.includes(n));
      if (this.canSpare(node, rest)) remove.push(node);
    }
    if (add.length === 0 && remove.length === 0) return undefined;
    const proposal: IsrProposal = {
      isr: this.config.replicas.filter((n) => (this.confirmed.has(n) || add.includes(n)) && !remove.includes(n)),
      add,
      remove,
      recordRevision: this.revision,
    };
    this.pendingAdd = new Set(add);
    this.pendingRemove = new Set(remove);
    this.inFlight = { proposal, sentMs: nowMs };
    this.recompute();
    return proposal;
  }

  /**
   * Records which followers have no registration in etcd now (the others are registered).
   * Departed members are proposed for removal at the next proposals(); a departed follower is
   * not added until it registers again. Returns whether the set changed.
   */
  setDeparted(nodeIds: Iterable<string>): boolean {
    const next = new Set<string>();
    for (const node of nodeIds) if (this.followers.has(node)) next.add(node);
    if (next.size === this.departed.size && [...next].every((n) => this.departed.has(n))) return false;
    this.departed = next;
    return true;
  }

  /**
   * Records the ISR of the partition record at mod revision `revision` (an AlterIsr answer or
   * a view update). Older revisions are ignored. A revision newer than the in-flight request's
   * base ends that request and its pending changes.
   */
  confirmIsr(isr: readonly string[], revision: number): void {
    this.checkIsr(isr, revision);
    if (revision < this.revision) return;
    if (revision === this.revision) {
      assert(isr.length === this.confirmed.size && isr.every((n) => this.confirmed.has(n)), `Two ISRs at record revision ${revision}`);
      return;
    }
    this.confirmed = new Set(isr);
    this.revision = revision;
    if (this.inFlight !== undefined) {
      // The request compared a revision at most the previous one: it can no longer apply.
      assert(revision > this.inFlight.proposal.recordRevision, `Revision ${revision} is not newer than the in-flight request's`);
      this.inFlight = undefined;
      this.pendingAdd.clear();
      this.pendingRemove.clear();
    }
    this.recompute();
  }

  /** Returns a follower's progress. */
  followerStatus(nodeId: string, nowMs: number): FollowerStatus {
    this.tick(nowMs);
    const f = this.follower(nodeId);
    return {
      nodeId,
      durableIndex: f.durableIndex,
      lastAckMs: f.lastAckMs,
      lagMs: this.lagMs(f, nowMs),
      nextIndex: f.nextIndex,
      mode: f.mode,
      inConfirmedIsr: this.confirmed.has(nodeId),
      pendingChange: this.pendingAdd.has(nodeId) ? 'add' : this.pendingRemove.has(nodeId) ? 'remove' : undefined,
    };
  }

  /** Whether the ISR may lose `node` to the fast rules, `rest` (leader included) staying. */
  private canSpare(node: string, rest: readonly string[]): boolean {
    // Only sync writes wait for every ISR member; elsewhere an early removal gains nothing and
    // leaves a failover fewer candidates (see the header).
    if (this.config.ackPolicy !== 'sync') return false;
    // Removing a member never loses an acknowledged entry under sync, but below min_isr it gains
    // nothing (writes stop either way) and a failover would lose a candidate that holds every
    // acknowledged entry: the lag and departure rules take it from there.
    return rest.length >= this.config.minIsr;
  }

  private range(fromIndex: number, toIndex: number): AppendRange {
    return { prevIndex: fromIndex - 1, fromIndex, toIndex };
  }

  /** How long the follower has lacked an entry durable on the leader (0 if it has them all). */
  private lagMs(f: FollowerProgress, nowMs: number): number {
    if (f.durableIndex >= this.durable) return 0;
    const missing = f.durableIndex + 1;
    let since = (this.marks[0] as LagMark).ms;
    for (const mark of this.marks) {
      if (mark.firstIndex > missing) break;
      since = mark.ms;
    }
    return nowMs - since;
  }

  private recompute(): void {
    let computed: number;
    switch (this.config.ackPolicy) {
      case 'async':
        computed = this.durable;
        break;
      case 'semi-sync': {
        const followers = this.confirmedIsr.filter((n) => n !== this.config.leaderNodeId && !this.pendingRemove.has(n));
        if (followers.length > 0) computed = Math.min(this.durable, Math.max(...followers.map((n) => this.follower(n).durableIndex)));
        else if (this.config.replicationFactor < 2) computed = this.durable;
        else return;
        break;
      }
      case 'sync': {
        const members = this.effectiveAckSet;
        if (members.length < this.config.minIsr) return;
        computed = Math.min(...members.map((n) => (n === this.config.leaderNodeId ? this.durable : this.follower(n).durableIndex)));
        break;
      }
    }
    this.acknowledged = Math.max(this.acknowledged, computed);
    assert(this.acknowledged <= this.durable, `Acknowledged index ${this.acknowledged} is beyond the leader's durable index ${this.durable}`);
  }

  private follower(nodeId: string): FollowerProgress {
    const f = this.followers.get(nodeId);
    assert(f !== undefined, `${nodeId} is not a follower of partition ${this.config.partitionId} at epoch ${this.config.epoch}`);
    return f;
  }

  private tick(nowMs: number): void {
    assert(Number.isSafeInteger(nowMs) && nowMs >= this.nowMsLast, `Time went from ${this.nowMsLast} ms back to ${nowMs} ms`);
    this.nowMsLast = nowMs;
  }

  private checkIsr(isr: readonly string[], revision: number): void {
    assert(Number.isSafeInteger(revision) && revision >= 0, `Record revision ${revision} is not a non-negative integer`);
    assert(new Set(isr).size === isr.length, `ISR ${isr.join(',')} repeats a node`);
    assert(isr.includes(this.config.leaderNodeId), `ISR ${isr.join(',')} does not include the leader ${this.config.leaderNodeId}`);
    for (const node of isr) assert(this.config.replicas.includes(node), `ISR member ${node} is not a replica`);
  }
}
