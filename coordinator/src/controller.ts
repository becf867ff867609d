/**
 * The coordinator controller: what the elected leader does. It bootstraps the cluster
 * metadata once (cluster id and the `default` keyspace), then reconciles placement whenever
 * the metadata view changes (and on a periodic tick as a safety net): it asks the pure
 * planner for assignments and applies them in one fenced etcd transaction.
 *
 * Invariants: only a leader with a current term writes; every write compares the term and
 * the revisions it was planned from; one reconcile runs at a time, and the next one starts
 * only after the view has caught up with the previous one's writes.
 */
import type { Meter } from '@opentelemetry/api';
import { AckPolicy, ClusterRecord, KeyspaceRecord, PartitionRecord, PartitionScheme } from '@quire/proto';
import {
  clusterKey,
  defaultKeyspace,
  keyspaceKey,
  partitionKey,
  type Clock,
  type Failpoints,
  type Logger,
  type MetadataView,
  type Rng,
  type TimerHandle,
} from '@quire/common';
import type { FencedChange, FencedWriter, MetadataWatcher } from '@quire/metastore';
import { planPlacement } from './placement/planner.js';

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
  /** Interval of the safety-net reconcile. */
  readonly reconcileIntervalMs: number;
}

/** Dependencies of the controller. */
export interface ControllerDeps {
  readonly view: MetadataView;
  readonly watcher: MetadataWatcher;
  readonly writer: FencedWriter;
  readonly clock: Clock;
  readonly rng: Rng;
  readonly log: Logger;
  readonly meter: Meter;
  /** Called when a fenced write shows another leader holds the term. */
  readonly onFenced: () => void;
  /** The process's failpoints (coordinator.placement.beforePublish). */
  readonly failpoints: Failpoints;
}

/** Reconciles cluster metadata while this coordinator leads. */
export class CoordinatorController {
  private term = 0;
  private running: Promise<void> | undefined;
  private again = false;
  private tick: TimerHandle | undefined;
  private lastWaitingFor: string | undefined;
  private readonly assignmentsCounter;

  constructor(
    private readonly settings: ControllerSettings,
    private readonly deps: ControllerDeps,
  ) {
    this.assignmentsCounter = deps.meter.createCounter('quire_coordinator_partition_assignments', {
      description: 'Partitions assigned to a data node',
    });
    deps.meter
      .createObservableGauge('quire_coordinator_is_leader', { description: '1 while this coordinator is the leader' })
      .addCallback((r) => r.observe(this.term === 0 ? 0 : 1));
    deps.view.subscribe(() => this.kick());
  }

  /** Whether this coordinator currently leads. */
  get isLeader(): boolean {
    return this.term !== 0;
  }

  /** Starts acting as leader with `term`. */
  onElected(term: number): void {
    this.term = term;
    this.tick?.cancel();
    this.tick = this.deps.clock.every(this.settings.reconcileIntervalMs, () => this.kick());
    this.kick();
  }

  /** Stops acting at once. */
  onDeposed(): void {
    this.term = 0;
    this.tick?.cancel();
    this.tick = undefined;
  }

  /** Requests a reconcile; runs are serialized and coalesced. */
  kick(): void {
    if (this.term === 0) return;
    if (this.running !== undefined) {
      this.again = true;
      return;
    }
    this.running = this.reconcile()
      .catch((err: unknown) => this.deps.log.warn('Reconcile failed; will retry', { err: String(err) }))
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

  private async reconcile(): Promise<void> {
    const term = this.term;
    if (term === 0) return;
    const view = this.deps.view;
    const changes: FencedChange[] = [];
    const assigned: PartitionRecord[] = [];
    if (view.cluster === undefined) {
      const cluster: ClusterRecord = { clusterId: this.deps.rng.id(16), createdAtMs: this.deps.clock.nowMs() };
      const keyspace: KeyspaceRecord = {
        name: defaultKeyspace,
        scheme: PartitionScheme.PARTITION_SCHEME_HASH,
        partitionCount: this.settings.defaultPartitions,
        replicationFactor: this.settings.replicationFactor,
        ackPolicy: AckPolicy.ACK_POLICY_SYNC,
        minIsr: this.settings.minIsr,
      };
      changes.push({ key: clusterKey, value: ClusterRecord.encode(cluster).finish(), expectedModRevision: 0 });
      if (view.keyspace(defaultKeyspace) === undefined) {
        changes.push({ key: keyspaceKey(defaultKeyspace), value: KeyspaceRecord.encode(keyspace).finish(), expectedModRevision: 0 });
      }
      this.deps.log.info('Bootstrapping cluster metadata', {
        clusterId: cluster.clusterId,
        partitions: keyspace.partitionCount,
        replicationFactor: keyspace.replicationFactor,
        minIsr: keyspace.minIsr,
      });
    } else {
      const plan = planPlacement(view, { nodesMin: this.settings.nodesMin });
      if (plan.waitingFor !== undefined && plan.waitingFor !== this.lastWaitingFor) {
        this.deps.log.info('Waiting for data nodes before assigning partitions', { waitingFor: plan.waitingFor, unassigned: plan.unassigned });
      }
      this.lastWaitingFor = plan.waitingFor;
      for (const { record } of plan.assignments) {
        changes.push({ key: partitionKey(record.keyspace, record.partitionId), value: PartitionRecord.encode(record).finish(), expectedModRevision: 0 });
        assigned.push(record);
      }
    }
    if (changes.length === 0) return;
    if (assigned.length > 0) {
      await this.deps.failpoints.hitAsync('coordinator.placement.beforePublish');
      // A failpoint may have slept: stop if deposed meanwhile. A view that moved is caught by
      // the fenced write, which compares the revisions the plan was made from.
      if (this.term !== term) return;
    }
    const result = await this.deps.writer.apply(term, changes);
    if (!result.applied) {
      if (result.reason === 'term') {
        this.deps.log.warn('A fenced write found another leader term; stepping down', { term });
        this.deps.onFenced();
      } else {
        this.deps.log.info('Metadata changed while planning; planning again', { revision: result.revision });
        await this.deps.watcher.waitForRevision(result.revision, 2_000);
      }
      return;
    }
    for (const record of assigned) {
      this.assignmentsCounter.add(1);
      this.deps.log.info('Partition assigned', {
        keyspace: record.keyspace,
        partitionId: record.partitionId,
        leader: record.leader,
        epoch: record.epoch,
      });
    }
    // Plan the next step from a view that includes this write.
    await this.deps.watcher.waitForRevision(result.revision, 5_000);
  }
}
