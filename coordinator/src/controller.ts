/**
 * The coordinator controller: what the elected leader does. It bootstraps the cluster
 * metadata once (cluster id and the `default` keyspace), then reconciles whenever the
 * metadata view changes (and on a periodic tick as a safety net). A reconcile is a linear list
 * of steps, each of which may ask for another pass:
 *  1. placement: the pure planner's assignments, applied in one fenced etcd transaction;
 *  2. the partition records of dropped keyspaces are deleted (DropKeyspace deletes only the
 *     keyspace record, with a tombstone: the name is not used again);
 *  3. failover (RFC 0001): every partition with more than one replica whose leader's
 *     registration is gone gets the live ISR member with the longest log as its leader, at
 *     epoch + 1 (`planFailover`). Its candidates are asked for their log ends in parallel,
 *     within a deadline, and each promotion is its own fenced transaction, so one refused
 *     write does not hold up the others. A partition that stays leaderless is planned again
 *     every `failoverRetryMs` until a member is back;
 *  4. moves (RFC 0003, `MoveExecutor`): every replica move in flight takes its next step, and new
 *     moves are planned (replicas of dead and draining nodes first, then balance), unless
 *     --auto-rebalance is off and no Rebalance asked for them.
 * The Coordination service writes ISR changes, and the SplitWriter splits of RANGE partitions,
 * through `applyFenced`, the same fenced path.
 *
 * Invariants: only a leader with a current term writes, and every write goes through
 * `writeFenced`, which compares the term and the revisions the change was planned from; a
 * term refusal steps this coordinator down. A promotion applies only while the old leader's
 * registration is still absent in etcd, not merely in this view. One reconcile runs at a time, and the next one
 * starts only after the view has caught up with the previous one's writes. Partitions with one
 * replica are never failed over: their only copy is on the dead node.
 */
import type { Counter, Histogram, Meter } from '@opentelemetry/api';
import { type AckPolicy, ClusterRecord, KeyspaceRecord, PartitionRecord, PartitionScheme } from '@quire/proto';
import {
  AssertionError,
  clusterKey,
  ackPolicyName,
  defaultKeyspace,
  keyspaceKey,
  nodeKey,
  partitionKey,
  type Clock,
  type Failpoints,
  type Logger,
  type MetadataView,
  type PartitionEntry,
  type Rng,
  type TimerHandle,
} from '@quire/common';
import { latencyBucketsMs } from '@quire/runtime';
import type { FencedChange, FencedResult, FencedWriter, MetadataWatcher } from '@quire/metastore';
import { countLeaderships, failoverCandidates, planFailover, type FailoverDecision, type LeaderlessReason, type LogEnd } from './failover/index.js';
import { planPlacement } from './placement/planner.js';
import { underReplicatedByKeyspace } from './status/cluster-status.js';
import type { HandOverSource } from './hand-over-client.js';
import { MoveExecutor, type MoveExecutorSettings } from './move-executor.js';
import type { ProposedMove } from './placement/rebalance.js';

/** How long to wait for the view to include an applied write before planning again. */
const appliedViewWaitMs = 5_000;
/** How long to wait for the view to catch up after a write refused because a revision moved. */
const conflictViewWaitMs = 2_000;
/**
 * Most partition records one placement transaction writes. etcd refuses a transaction with more
 * than --max-txn-ops (default 128) compares or operations, and each record adds one of each
 * besides the term compare; a larger plan is written in several passes.
 */
export const placementTxnRecordsMax = 100;

/** Settings of the controller. */
export interface ControllerSettings {
  /** Live data nodes required before partitions are assigned. */
  readonly nodesMin: number;
  /** Partition count of the `default` keyspace created at bootstrap. */
  readonly defaultPartitions: number;
  /** Replication factor of the `default` keyspace created at bootstrap (1..7). */
  readonly replicationFactor: number;
  /** Min ISR of the `default` keyspace created at bootstrap (1..replicationFactor). */
  readonly minIsr: number;
  /** Ack policy of the `default` keyspace created at bootstrap. */
  readonly ackPolicy: AckPolicy;
  /** Interval of the safety-net reconcile. */
  readonly reconcileIntervalMs: number;
  /** Deadline of one `GetLogEnd` call to a failover candidate. */
  readonly failoverLogEndDeadlineMs: number;
  /** Delay before planning a leaderless partition again (sooner than the tick). */
  readonly failoverRetryMs: number;
  /** Most partitions whose candidates one reconcile asks for log ends; the rest wait for the next pass. */
  readonly failoverPartitionsMax: number;
  /** Replica moves (RFC 0003). */
  readonly moves: MoveExecutorSettings;
}

/** Reports a replica's log end for failover (`Replication.GetLogEnd` in production). */
export interface LogEndSource {
  /**
   * Returns the log end of `nodeId`'s replica of the partition, asked at `address`, or
   * undefined on any error or when no answer came within `deadlineMs`. Never rejects.
   */
  logEnd(nodeId: string, address: string, keyspace: string, partitionId: number, deadlineMs: number): Promise<LogEnd | undefined>;
}

/** Dependencies of the controller. */
export interface ControllerDeps {
  readonly view: MetadataView;
  readonly watcher: Pick<MetadataWatcher, 'waitForRevision'>;
  readonly writer: Pick<FencedWriter, 'apply'>;
  /** Where failover asks candidates for their log ends. */
  readonly logEnds: LogEndSource;
  readonly clock: Clock;
  readonly rng: Rng;
  readonly log: Logger;
  readonly meter: Meter;
  /** Called when a fenced write shows another leader holds the term. */
  readonly onFenced: () => void;
  /** The process's failpoints (coordinator.placement.beforePublish). */
  readonly failpoints: Failpoints;
  /** Asks partition leaders to hand over (replica moves whose source leads). */
  readonly handOver: HandOverSource;
}

/** A partition whose leader is dead, with the log ends its live ISR members reported. */
interface FailoverAnswers {
  readonly entry: PartitionEntry;
  readonly logEnds: ReadonlyMap<string, LogEnd>;
}

type Promotion = Extract<FailoverDecision, { kind: 'promote' }>;

/** Reconciles cluster metadata while this coordinator leads. */
export class CoordinatorController {
  private term = 0;
  private running: Promise<void> | undefined;
  private again = false;
  private tick: TimerHandle | undefined;
  private retry: TimerHandle | undefined;
  private lastWaitingFor: string | undefined;
  /** Node ids registered at the last view change this leader saw. */
  private registered = new Set<string>();
  /** Monotonic ms at which this leader first saw each node's registration missing; cleared when it returns. */
  private readonly missingSinceMs = new Map<string, number>();
  /** Leaderless partitions (`keyspace/id`) and the reason last logged for each. */
  private readonly leaderless = new Map<string, LeaderlessReason>();
  /** Where the next failover pass starts among the partitions to ask, so none starves. */
  private failoverOffset = 0;
  private readonly assignmentsCounter: Counter;
  private readonly failoversCounter: Counter;
  private readonly failoverDuration: Histogram;
  /** Runs replica moves (RFC 0003). */
  readonly moves: MoveExecutor;
  /** A Rebalance asked for moves to be planned in the next pass. */
  private planRequested = false;
  /** Where the moves started by the passes of a pending Rebalance call go. */
  private startedSink: ProposedMove[] | undefined;

  constructor(
    private readonly settings: ControllerSettings,
    private readonly deps: ControllerDeps,
  ) {
    this.moves = new MoveExecutor(settings.moves, {
      view: deps.view,
      clock: deps.clock,
      log: deps.log,
      meter: deps.meter,
      writeFenced: (term, changes) => this.writeFenced(term, changes),
      handOver: deps.handOver,
      kick: () => this.kick(),
      isLeader: () => this.term !== 0,
      failpoints: deps.failpoints,
    });
    this.assignmentsCounter = deps.meter.createCounter('quire_coordinator_partition_assignments', {
      description: 'Partitions assigned to a data node',
    });
    this.failoversCounter = deps.meter.createCounter('quire_coordinator_failovers', {
      description: 'Partitions whose dead leader was replaced (outcome=promoted), or found leaderless with no ISR member to promote (outcome=leaderless, once per partition and reason)',
    });
    this.failoverDuration = deps.meter.createHistogram('quire_coordinator_failover_duration_ms', {
      description: "Time from seeing a partition leader's registration missing to the promotion being written, in milliseconds",
      unit: 'ms',
      advice: { explicitBucketBoundaries: [...latencyBucketsMs] },
    });
    deps.meter
      .createObservableGauge('quire_coordinator_is_leader', { description: '1 while this coordinator is the leader' })
      .addCallback((r) => r.observe(this.term === 0 ? 0 : 1));
    // Reported by the leader only, so a scrape of every coordinator counts each partition once.
    deps.meter
      .createObservableGauge('quire_coordinator_under_replicated_partitions', {
        description: "Partitions whose in-sync replica set is smaller than their keyspace's replication factor, by keyspace (reported by the coordinator leader)",
      })
      .addCallback((r) => {
        if (this.term === 0) return;
        for (const [keyspace, n] of underReplicatedByKeyspace(deps.view)) r.observe(n, { keyspace });
      });
    // Every view change, a lost registration included, starts a reconcile at once.
    deps.view.subscribe((view) => {
      this.noteRegistrations(view);
      this.kick();
    });
  }

  /** Whether this coordinator currently leads. */
  get isLeader(): boolean {
    return this.term !== 0;
  }

  /** Starts acting as leader with `term`. */
  onElected(term: number): void {
    this.term = term;
    this.registered = new Set(this.deps.view.nodes.keys());
    this.tick?.cancel();
    this.tick = this.deps.clock.every(this.settings.reconcileIntervalMs, () => this.kick());
    this.kick();
  }

  /** Stops acting at once. */
  onDeposed(): void {
    this.term = 0;
    this.tick?.cancel();
    this.tick = undefined;
    this.retry?.cancel();
    this.retry = undefined;
    this.missingSinceMs.clear();
    this.leaderless.clear();
    this.moves.reset();
  }

  /** Requests a reconcile; runs are serialized and coalesced. */
  kick(): void {
    if (this.term === 0) return;
    if (this.running !== undefined) {
      this.again = true;
      return;
    }
    this.running = this.reconcile()
      .catch((err: unknown) => {
        // A failed assertion (a record breaking leader ∈ isr ⊆ replicas, a planner bug) is
        // never retried: rethrown outside this handler, it crashes the process.
        if (err instanceof AssertionError) {
          process.nextTick(() => {
            throw err;
          });
          return;
        }
        this.deps.log.warn('Reconcile failed; will retry', { err: String(err) });
      })
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Resolves when no reconcile is running (for shutdown). */
  async idle(): Promise<void> {
    while (this.running !== undefined) await this.running;
  }

  /**
   * Writes `changes` in one fenced transaction under the current term (the Coordination
   * service's ISR changes). A standby writes nothing and gets a `term` refusal.
   */
  async applyFenced(changes: readonly FencedChange[]): Promise<FencedResult> {
    const term = this.term;
    if (term === 0) return { applied: false, revision: this.deps.view.revision, reason: 'term' };
    return this.writeFenced(term, changes);
  }

  /** The one place that writes metadata: a refusal because another leader holds the term steps this coordinator down. */
  private async writeFenced(term: number, changes: readonly FencedChange[], absentKeys: readonly string[] = []): Promise<FencedResult> {
    const result = await this.deps.writer.apply(term, changes, absentKeys);
    // Concurrent writes may all find the term gone; step down once.
    if (!result.applied && result.reason === 'term' && this.term === term) {
      this.deps.log.warn('A fenced write found the term over; stepping down', { term });
      this.deps.onFenced();
    }
    return result;
  }

  /** Records when registrations disappear (the start of a failover's duration) and forgets nodes that came back. */
  private noteRegistrations(view: MetadataView): void {
    if (this.term === 0) return;
    const nowMs = this.deps.clock.monotonicMs();
    for (const nodeId of this.registered) {
      if (!view.nodes.has(nodeId) && !this.missingSinceMs.has(nodeId)) this.missingSinceMs.set(nodeId, nowMs);
    }
    for (const nodeId of this.missingSinceMs.keys()) {
      if (view.nodes.has(nodeId)) this.missingSinceMs.delete(nodeId);
    }
    this.registered = new Set(view.nodes.keys());
  }

  private async reconcile(): Promise<void> {
    const term = this.term;
    if (term === 0) return;
    if (this.deps.view.cluster === undefined) {
      await this.bootstrap(term);
      return;
    }
    if (!(await this.place(term))) return;
    await this.deleteDropped(term);
    if (this.term !== term) return;
    await this.failOver(term);
    if (this.term !== term) return;
    await this.runMoves(term);
  }

  /**
   * Starts the moves a rebalance plans now (with `dryRun`, only plans them) and returns them.
   * Without --auto-rebalance this is what lets the next passes plan moves (until nothing is left).
   */
  async rebalance(dryRun: boolean): Promise<ProposedMove[]> {
    if (dryRun || this.term === 0) return dryRun ? this.moves.plan() : [];
    const started: ProposedMove[] = [];
    this.startedSink = started;
    this.planRequested = true;
    try {
      this.kick();
      await this.idle();
    } finally {
      if (this.startedSink === started) this.startedSink = undefined;
    }
    return started;
  }

  /** One pass of the move executor; waits for the view to include its writes. Returns the moves it started. */
  private async runMoves(term: number): Promise<ProposedMove[]> {
    const planNew = this.planRequested;
    const { revision, startedMoves } = await this.moves.reconcile(term, planNew);
    this.startedSink?.push(...startedMoves);
    if (planNew && startedMoves.length === 0) this.planRequested = false;
    if (revision > 0 && this.term === term) await this.deps.watcher.waitForRevision(revision, appliedViewWaitMs);
    return startedMoves;
  }

  /**
   * Deletes the partition records of dropped keyspaces (DropKeyspace deletes the keyspace record
   * only), at most placementTxnRecordsMax per fenced transaction, each compared at the revision
   * seen; the data nodes delete the replicas once the records are gone from their view.
   */
  private async deleteDropped(term: number): Promise<void> {
    for (;;) {
      const orphans = this.deps.view.orphanPartitions().slice(0, placementTxnRecordsMax);
      if (orphans.length === 0 || this.term !== term) return;
      const changes = orphans.map(({ keyspace, entry }) => ({ key: partitionKey(keyspace, entry.record.partitionId), value: undefined, expectedModRevision: entry.modRevision }));
      const result = await this.writeFenced(term, changes);
      if (result.applied) this.deps.log.info('Deleted the partition records of a dropped keyspace', { keyspaces: [...new Set(orphans.map((o) => o.keyspace))], records: orphans.length });
      if (!(await this.settle(result))) return;
    }
  }

  /** Creates the cluster record and the `default` keyspace. */
  private async bootstrap(term: number): Promise<void> {
    const view = this.deps.view;
    const cluster: ClusterRecord = { clusterId: this.deps.rng.id(16), createdAtMs: this.deps.clock.nowMs() };
    const keyspace: KeyspaceRecord = {
      name: defaultKeyspace,
      scheme: PartitionScheme.PARTITION_SCHEME_HASH,
      partitionCount: this.settings.defaultPartitions,
      replicationFactor: this.settings.replicationFactor,
      ackPolicy: this.settings.ackPolicy,
      minIsr: this.settings.minIsr,
      splitKeys: [],
    };
    const changes: FencedChange[] = [{ key: clusterKey, value: ClusterRecord.encode(cluster).finish(), expectedModRevision: 0 }];
    if (view.keyspace(defaultKeyspace) === undefined) {
      changes.push({ key: keyspaceKey(defaultKeyspace), value: KeyspaceRecord.encode(keyspace).finish(), expectedModRevision: 0 });
    }
    this.deps.log.info('Bootstrapping cluster metadata', {
      clusterId: cluster.clusterId,
      partitions: keyspace.partitionCount,
      replicationFactor: keyspace.replicationFactor,
      ackPolicy: ackPolicyName(keyspace.ackPolicy),
      minIsr: keyspace.minIsr,
    });
    await this.settle(await this.writeFenced(term, changes));
  }

  /**
   * Assigns unassigned partitions, at most placementTxnRecordsMax per transaction, planning again
   * after each write; returns whether the reconcile may go on (nothing to write, or every write
   * applied).
   */
  private async place(term: number): Promise<boolean> {
    for (;;) {
      const more = await this.placeSome(term);
      if (more !== 'more') return more;
    }
  }

  /** One placement transaction: true or false as place() answers, or 'more' when the plan did not fit. */
  private async placeSome(term: number): Promise<boolean | 'more'> {
    const full = planPlacement(this.deps.view, { nodesMin: this.settings.nodesMin });
    const plan = { ...full, assignments: full.assignments.slice(0, placementTxnRecordsMax) };
    if (plan.waitingFor !== undefined && plan.waitingFor !== this.lastWaitingFor) {
      this.deps.log.info('Waiting for data nodes before assigning partitions', { waitingFor: plan.waitingFor, unassigned: plan.unassigned });
    }
    this.lastWaitingFor = plan.waitingFor;
    if (plan.assignments.length === 0) return true;
    const changes = plan.assignments.map(({ record }) => partitionChange(record, 0));
    await this.deps.failpoints.hitAsync('coordinator.placement.beforePublish');
    // A failpoint may have slept: stop if deposed meanwhile. A view that moved is caught by
    // the fenced write, which compares the revisions the plan was made from.
    if (this.term !== term) return false;
    const result = await this.writeFenced(term, changes);
    if (result.applied) {
      for (const { record } of plan.assignments) {
        this.assignmentsCounter.add(1);
        this.deps.log.info('Partition assigned', {
          keyspace: record.keyspace,
          partitionId: record.partitionId,
          leader: record.leader,
          epoch: record.epoch,
        });
      }
    }
    const goOn = (await this.settle(result)) && this.term === term;
    return goOn && full.assignments.length > plan.assignments.length ? 'more' : goOn;
  }

  /**
   * Replaces the dead leaders of replicated partitions (RFC 0001, "Failure detection and
   * failover"): asks the live ISR members for their log ends, then writes each promotion in
   * its own fenced transaction that compares the record's revision.
   */
  private async failOver(term: number): Promise<void> {
    const view = this.deps.view;
    const live = new Set(view.nodes.keys());
    const nowMs = this.deps.clock.monotonicMs();
    const deadLeaders = new Set<string>();
    const orphaned = new Set<string>();
    const toAsk: PartitionEntry[] = [];
    const unanswerable: FailoverAnswers[] = [];
    for (const name of view.keyspaceNames()) {
      for (const entry of view.keyspace(name)?.partitions ?? []) {
        if (entry === undefined || entry.record.replicas.length < 2 || live.has(entry.record.leader)) continue;
        const { record } = entry;
        deadLeaders.add(record.leader);
        orphaned.add(partitionName(record));
        if (!this.missingSinceMs.has(record.leader)) this.missingSinceMs.set(record.leader, nowMs);
        if (failoverCandidates(record, live).length > 0) toAsk.push(entry);
        else unanswerable.push({ entry, logEnds: new Map() });
      }
    }
    // Bounded: only dead leaders and leaderless partitions of the current view are kept.
    for (const nodeId of this.missingSinceMs.keys()) if (!deadLeaders.has(nodeId)) this.missingSinceMs.delete(nodeId);
    for (const name of this.leaderless.keys()) if (!orphaned.has(name)) this.leaderless.delete(name);

    const batch = this.nextFailoverBatch(toAsk);
    const answers = [...unanswerable, ...(await Promise.all(batch.map((entry) => this.askLogEnds(entry, live))))];
    if (this.term !== term) return;

    // Decide from the view as it is now: a leader that came back needs nothing, and a
    // candidate whose registration vanished meanwhile is not promoted.
    const liveNow = new Set(this.deps.view.nodes.keys());
    // Ties between equally long logs go to the node leading the fewest partitions, counting the
    // promotions planned in this pass, so a dead node's leaderships spread over the survivors.
    const leaderCounts = countLeaderships(this.liveLedRecords(liveNow));
    const promotions: { entry: PartitionEntry; decision: Promotion }[] = [];
    for (const { entry, logEnds } of answers) {
      const decision = planFailover({ partition: entry, liveNodeIds: liveNow, logEnds, leaderCounts });
      if (decision.kind === 'promote') {
        promotions.push({ entry, decision });
        leaderCounts.set(decision.leader, (leaderCounts.get(decision.leader) ?? 0) + 1);
      } else {
        this.decide(entry, decision);
      }
    }
    if (this.leaderless.size > 0) this.scheduleRetry();
    if (promotions.length === 0) return;

    // Each promotion also requires the old leader's registration to be absent: a node that
    // re-registered since the view was read may already lead under a new lease, and keeps its
    // partitions (RFC 0001 "Leader leases").
    const results = await Promise.allSettled(
      promotions.map(({ entry, decision }) => this.writeFenced(term, [partitionChange(decision.record, decision.expectedRevision)], [nodeKey(entry.record.leader)])),
    );
    let appliedRevision = 0;
    let conflictRevision = 0;
    results.forEach((outcome, i) => {
      const { entry, decision } = promotions[i]!;
      const { record } = entry;
      const fields = { keyspace: record.keyspace, partitionId: record.partitionId };
      if (outcome.status === 'rejected') {
        // etcd is unreachable or slow: try again after the retry delay rather than at once.
        this.deps.log.warn('Failover write failed; will retry', { ...fields, err: String(outcome.reason) });
        this.scheduleRetry();
        return;
      }
      const result = outcome.value;
      if (result.applied) {
        appliedRevision = Math.max(appliedRevision, result.revision);
        this.promoted(entry, decision, result.revision);
      } else if (result.reason === 'conflict') {
        this.deps.log.info('Partition changed while failing over; planning again', { ...fields, revision: result.revision });
        conflictRevision = Math.max(conflictRevision, result.revision);
        this.again = true;
      }
    });
    if (this.term !== term) return;
    // Plan the next step from a view that includes these writes.
    if (appliedRevision > 0) await this.deps.watcher.waitForRevision(Math.max(appliedRevision, conflictRevision), appliedViewWaitMs);
    else if (conflictRevision > 0) await this.deps.watcher.waitForRevision(conflictRevision, conflictViewWaitMs);
  }

  /** The partition records of the view whose leader is live. */
  private *liveLedRecords(live: ReadonlySet<string>): Iterable<PartitionRecord> {
    for (const name of this.deps.view.keyspaceNames()) {
      for (const entry of this.deps.view.keyspace(name)?.partitions ?? []) {
        if (entry !== undefined && live.has(entry.record.leader)) yield entry.record;
      }
    }
  }

  /** Returns at most `failoverPartitionsMax` partitions to ask, rotating so that every one gets its turn; asks for another pass for the rest. */
  private nextFailoverBatch(toAsk: readonly PartitionEntry[]): readonly PartitionEntry[] {
    const max = this.settings.failoverPartitionsMax;
    if (toAsk.length <= max) return toAsk;
    const start = this.failoverOffset % toAsk.length;
    this.failoverOffset = start + max;
    this.again = true;
    return [...toAsk.slice(start), ...toAsk.slice(0, start)].slice(0, max);
  }

  /** Asks every live ISR member of the partition for its log end, in parallel, each within the deadline. */
  private async askLogEnds(entry: PartitionEntry, live: ReadonlySet<string>): Promise<FailoverAnswers> {
    const { record } = entry;
    const answers = await Promise.all(
      failoverCandidates(record, live).map(async (nodeId) => {
        const address = this.deps.view.nodes.get(nodeId)?.address;
        if (address === undefined) return undefined;
        const logEnd = await this.deps.logEnds.logEnd(nodeId, address, record.keyspace, record.partitionId, this.settings.failoverLogEndDeadlineMs);
        return logEnd === undefined ? undefined : ([nodeId, logEnd] as const);
      }),
    );
    const logEnds = new Map<string, LogEnd>();
    for (const answer of answers) if (answer !== undefined) logEnds.set(answer[0], answer[1]);
    return { entry, logEnds };
  }

  /** Books a decision that writes nothing: a leaderless partition is logged once per reason and planned again soon. */
  private decide(entry: PartitionEntry, decision: Exclude<FailoverDecision, Promotion>): void {
    const { record } = entry;
    const name = partitionName(record);
    if (decision.kind === 'no-change') {
      this.leaderless.delete(name);
      return;
    }
    if (this.leaderless.get(name) !== decision.reason) {
      this.failoversCounter.add(1, { outcome: 'leaderless' });
      this.deps.log.warn('Partition leader is gone and no ISR member can replace it', {
        keyspace: record.keyspace,
        partitionId: record.partitionId,
        leader: record.leader,
        epoch: record.epoch,
        isr: record.isr,
        liveIsr: decision.liveIsr,
        reason: decision.reason,
      });
    }
    this.leaderless.set(name, decision.reason);
    this.scheduleRetry();
  }

  /** Books an applied promotion. */
  private promoted(entry: PartitionEntry, decision: Promotion, revision: number): void {
    const { record } = entry;
    const nowMs = this.deps.clock.monotonicMs();
    const leaderMissingMs = nowMs - (this.missingSinceMs.get(record.leader) ?? nowMs);
    this.leaderless.delete(partitionName(record));
    this.failoversCounter.add(1, { outcome: 'promoted' });
    this.failoverDuration.record(leaderMissingMs);
    this.deps.log.info('Partition leader failed over', {
      keyspace: record.keyspace,
      partitionId: record.partitionId,
      oldLeader: record.leader,
      leader: decision.leader,
      epoch: decision.epoch,
      isr: decision.isr,
      logEndEpoch: decision.logEnd.epoch,
      logEndIndex: decision.logEnd.index,
      leaderMissingMs,
      revision,
    });
  }

  /** Plans again after `failoverRetryMs`, unless a retry is already due. */
  private scheduleRetry(): void {
    if (this.retry !== undefined) return;
    this.retry = this.deps.clock.after(this.settings.failoverRetryMs, () => {
      this.retry = undefined;
      this.kick();
    });
  }

  /** Waits until the view includes a write, or after a refusal because a revision moved, until it caught up; returns whether the write applied. */
  private async settle(result: FencedResult): Promise<boolean> {
    if (result.applied) {
      await this.deps.watcher.waitForRevision(result.revision, appliedViewWaitMs);
      return true;
    }
    if (result.reason === 'conflict') {
      this.deps.log.info('Metadata changed while planning; planning again', { revision: result.revision });
      await this.deps.watcher.waitForRevision(result.revision, conflictViewWaitMs);
    }
    return false;
  }
}

/** Returns the fenced change that writes `record`, comparing `expectedModRevision` (0: must not exist). */
function partitionChange(record: PartitionRecord, expectedModRevision: number): FencedChange {
  return { key: partitionKey(record.keyspace, record.partitionId), value: PartitionRecord.encode(record).finish(), expectedModRevision };
}

function partitionName(record: PartitionRecord): string {
  return `${record.keyspace}/${record.partitionId}`;
}
