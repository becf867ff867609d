/**
 * Splits: the data node's side of RANGE partition splits (RFC 0003 "Splits"), an adapter over
 * the pure SplitCheck and the replicas' split markers.
 *
 *  - appendMarkers (on every view change and every tick): the coordinator's fenced change has
 *    narrowed partition P and created its child Q with split_from = P. The node that leads P
 *    at split_from.parent_epoch or later appends the split marker to P's log — once, unless its
 *    log already held one for Q (PartitionReplica.hasSeenSplit), and only while its own replica
 *    of Q is open and still unseeded (a seeded one means the marker was applied here, or Q's
 *    leader sent a snapshot). Every replica of P that applies the marker carves Q's keys out of its data.
 *  - A split's child with one replica has no follower whose ISR expansion would tell the
 *    coordinator it is carved: its leader, once carved, confirms its ISR [itself] with AlterIsr,
 *    which clears split_from (so the halves may move and split again).
 *  - checks (every --split-check-interval-ms): each RANGE partition led here whose data passed
 *    --split-size-bytes, or whose writes stayed above --split-load-ops-per-second for
 *    --split-load-window-ms, is proposed for a split at the key that halves its bytes
 *    (Coordination.RequestSplit). A partition with a split still being carved is not proposed.
 */
import type { Counter, Meter } from '@opentelemetry/api';
import { PartitionScheme, type AlterIsrRequest, type AlterIsrResponse, type RequestSplitRequest, type RequestSplitResponse } from '@quire/proto';
import { isQuireError, type Clock, type Logger, type MetadataView, type PartitionEntry } from '@quire/common';
import type { GroupCommitter } from '../partition/group-commit.js';
import type { PartitionReplica } from '../partition/replica.js';
import { SplitCheck, splitKeyOf, type SplitReason, type SplitThresholds } from '../replication/split-check.js';

/** Split thresholds and the check interval (config: --split-*). */
export interface SplitSettings extends SplitThresholds {
  readonly checkIntervalMs: number;
}

/** Bytes read per chunk while choosing a split key. */
const splitKeyChunkBytes = 1024 * 1024;

export interface SplitsDeps {
  readonly nodeId: string;
  readonly view: MetadataView;
  readonly clock: Pick<Clock, 'monotonicMs'>;
  readonly log: Logger;
  readonly meter: Meter;
  readonly committer: GroupCommitter;
  /** The replica open here, if any (never opens one). */
  readonly openReplica: (keyspace: string, partitionId: number) => PartitionReplica | undefined;
  /** Whether the leader side admits writes to the partition now (its tenure is recorded). */
  readonly admits: (keyspace: string, partitionId: number) => boolean;
  /** Sends AlterIsr to the coordinator leader: a one-replica split child's carve is confirmed with its ISR (absent: never). */
  readonly alterIsr?: (address: string, request: AlterIsrRequest) => Promise<AlterIsrResponse>;
  /** Sends RequestSplit to the coordinator leader (absent: no automatic splits). */
  readonly requestSplit?: (address: string, request: RequestSplitRequest) => Promise<RequestSplitResponse>;
}

const idOf = (keyspace: string, partitionId: number): string => `${keyspace}/${partitionId}`;

export class Splits {
  /** Markers submitted and not yet durable, by child id. */
  private readonly markersInFlight = new Set<string>();
  private readonly checks = new Map<string, { epoch: number; check: SplitCheck }>();
  /** Writes appended per led partition since the last check. */
  private readonly writes = new Map<string, number>();
  /** One-replica children whose carve is being confirmed (AlterIsr in flight). */
  private readonly confirming = new Set<string>();
  /** Partitions with a RequestSplit in flight (at most one each). */
  private readonly requesting = new Set<string>();
  private lastCheckMs = Number.NEGATIVE_INFINITY;
  private readonly markers: Counter;
  private readonly requests: Counter;

  constructor(
    private readonly settings: SplitSettings,
    private readonly deps: SplitsDeps,
  ) {
    this.markers = deps.meter.createCounter('quire_datanode_split_markers', { description: 'Split markers this node appended to the logs of partitions it leads (RFC 0003 splits)' });
    this.requests = deps.meter.createCounter('quire_datanode_split_requests', { description: 'Splits this node asked the coordinator for, by reason (size, load) and outcome (split, refused, failed)' });
  }

  /** Counts a write submitted to a partition led here (the load threshold). */
  noteWrite(keyspace: string, partitionId: number): void {
    const id = idOf(keyspace, partitionId);
    this.writes.set(id, (this.writes.get(id) ?? 0) + 1);
  }

  /** Appends every split marker this node owes (see the file comment). */
  appendMarkers(): void {
    for (const name of this.deps.view.keyspaceNames()) {
      const ks = this.deps.view.keyspace(name);
      if (ks === undefined || ks.record.scheme !== PartitionScheme.PARTITION_SCHEME_RANGE) continue;
      for (const child of ks.partitions) {
        const origin = child?.record.splitFrom;
        if (child === undefined || origin === undefined) continue;
        const parent = ks.partitions[origin.parentPartitionId];
        if (parent !== undefined) this.appendMarker(name, parent, child);
        this.confirmCarved(name, child);
      }
    }
  }

  private appendMarker(keyspace: string, parent: PartitionEntry, child: PartitionEntry): void {
    const origin = child.record.splitFrom;
    const record = parent.record;
    if (origin === undefined || record.leader !== this.deps.nodeId || record.epoch < origin.parentEpoch) return;
    const childId = idOf(keyspace, child.record.partitionId);
    if (this.markersInFlight.has(childId)) return;
    const parentReplica = this.deps.openReplica(keyspace, record.partitionId);
    const childReplica = this.deps.openReplica(keyspace, child.record.partitionId);
    if (parentReplica === undefined || childReplica === undefined || !childReplica.unseeded) return;
    if (parentReplica.leadingEpoch !== record.epoch || parentReplica.hasSeenSplit(child.record.partitionId)) return;
    if (!this.deps.admits(keyspace, record.partitionId)) return;
    this.markersInFlight.add(childId);
    const epoch = record.epoch;
    const splitKey = Buffer.from(child.record.startKey);
    const queued = this.deps.committer.submitTask({
      replica: parentReplica,
      run: () => parentReplica.appendSplit({ childPartitionId: child.record.partitionId, childEpoch: origin.parentEpoch, splitKey }, epoch),
      done: (result) => {
        this.markersInFlight.delete(childId);
        if (result.ok) {
          this.markers.add(1);
          this.deps.log.info('Appended a split marker', { keyspace, partitionId: record.partitionId, childPartitionId: child.record.partitionId, epoch, index: result.index, splitKey: splitKey.toString('hex') });
        } else {
          this.deps.log.info('Split marker not appended; the next view change or tick retries', { keyspace, partitionId: record.partitionId, childPartitionId: child.record.partitionId, code: result.error.code });
        }
      },
    });
    if (!queued) this.markersInFlight.delete(childId);
  }

  private confirmCarved(keyspace: string, child: PartitionEntry): void {
    const record = child.record;
    const alterIsr = this.deps.alterIsr;
    const coordinator = this.deps.view.coordinatorLeader?.record.address;
    if (alterIsr === undefined || coordinator === undefined || record.replicas.length !== 1 || record.leader !== this.deps.nodeId) return;
    const id = idOf(keyspace, record.partitionId);
    const replica = this.deps.openReplica(keyspace, record.partitionId);
    if (replica === undefined || replica.unseeded || this.confirming.has(id)) return;
    this.confirming.add(id);
    const request: AlterIsrRequest = { keyspace, partitionId: record.partitionId, epoch: record.epoch, leaderNodeId: this.deps.nodeId, isr: [this.deps.nodeId], recordRevision: child.modRevision };
    alterIsr(coordinator, request).then(
      () => {
        this.confirming.delete(id);
        this.deps.log.info('Confirmed a carved one-replica split partition', { keyspace, partitionId: record.partitionId, epoch: record.epoch });
      },
      (err: unknown) => {
        // The next tick or view change asks again while split_from is still set.
        this.confirming.delete(id);
        this.deps.log.info('Confirming a carved split partition failed; retrying', { keyspace, partitionId: record.partitionId, err: String(err) });
      },
    );
  }

  /** Called about every second: retries owed markers, and runs the split checks when due. */
  tick(): void {
    this.appendMarkers();
    const nowMs = this.deps.clock.monotonicMs();
    if (nowMs - this.lastCheckMs < this.settings.checkIntervalMs) return;
    this.lastCheckMs = nowMs;
    this.runChecks(nowMs);
  }

  private runChecks(nowMs: number): void {
    const seen = new Set<string>();
    for (const name of this.deps.view.keyspaceNames()) {
      const ks = this.deps.view.keyspace(name);
      if (ks === undefined || ks.record.scheme !== PartitionScheme.PARTITION_SCHEME_RANGE) continue;
      const carving = new Set(ks.partitions.flatMap((p) => (p?.record.splitFrom === undefined ? [] : [p.record.partitionId, p.record.splitFrom.parentPartitionId])));
      for (const entry of ks.partitions) {
        if (entry === undefined || entry.record.leader !== this.deps.nodeId) continue;
        const id = idOf(name, entry.record.partitionId);
        const replica = this.deps.openReplica(name, entry.record.partitionId);
        if (replica === undefined || replica.leadingEpoch !== entry.record.epoch) continue;
        seen.add(id);
        let state = this.checks.get(id);
        if (state === undefined || state.epoch !== entry.record.epoch) {
          // A new epoch (a split or a leader change): the load history starts over.
          state = { epoch: entry.record.epoch, check: new SplitCheck(this.settings) };
          this.checks.set(id, state);
        }
        const writes = this.writes.get(id) ?? 0;
        this.writes.delete(id);
        const reason = state.check.observe({ nowMs, dataBytes: replica.approximateDataBytes(), writes });
        if (reason !== undefined && !carving.has(entry.record.partitionId) && !this.requesting.has(id)) this.propose(name, entry, replica, reason);
      }
    }
    for (const id of [...this.checks.keys()]) if (!seen.has(id)) this.checks.delete(id);
    this.writes.clear();
  }

  private propose(keyspace: string, entry: PartitionEntry, replica: PartitionReplica, reason: SplitReason): void {
    const request = this.deps.requestSplit;
    const coordinator = this.deps.view.coordinatorLeader?.record.address;
    if (request === undefined || coordinator === undefined) return;
    let total = 0;
    for (const k of replica.sizedKeys(splitKeyChunkBytes)) total += k.bytes;
    const splitKey = splitKeyOf(replica.sizedKeys(splitKeyChunkBytes), total);
    const partitionId = entry.record.partitionId;
    if (splitKey === undefined) {
      this.deps.log.info('Partition is past a split threshold but has fewer than two keys; not split', { keyspace, partitionId, reason });
      return;
    }
    const id = idOf(keyspace, partitionId);
    this.requesting.add(id);
    this.deps.log.info('Asking the coordinator to split a partition', { keyspace, partitionId, epoch: entry.record.epoch, reason, dataBytes: replica.approximateDataBytes(), splitKey: splitKey.toString('hex') });
    request(coordinator, { keyspace, partitionId, epoch: entry.record.epoch, leaderNodeId: this.deps.nodeId, splitKey, reason }).then(
      (res) => {
        this.requesting.delete(id);
        this.requests.add(1, { reason, outcome: 'split' });
        this.deps.log.info('Partition split', { keyspace, partitionId, childPartitionId: res.rightPartitionId, epoch: res.epoch, reason });
      },
      (err: unknown) => {
        this.requesting.delete(id);
        this.requests.add(1, { reason, outcome: isQuireError(err) ? 'refused' : 'failed' });
        this.deps.log.info('Split request not granted; the next check asks again if still needed', { keyspace, partitionId, reason, err: String(err) });
      },
    );
  }
}
