/**
 * SplitWriter: performs the splits of RANGE partitions that Admin.SplitPartition and
 * Coordination.RequestSplit ask for. The pure `planSplit` (keyspaces/split.ts) decides from the
 * view; this adapter writes its three records — the parent with its new end key, the new
 * partition, the keyspace record with the new partition count — in one transaction through the
 * controller's fenced path, counts it (quire_coordinator_splits{reason}) and logs it.
 *
 * Invariants:
 *  - One split per keyspace is judged and written at a time, and the next is judged only once
 *    the view includes the previous one's write, so two splits of one keyspace never race for
 *    the same new partition id (and if they did, the write's compares would refuse one).
 *  - The transaction compares the term, the parent record's and the keyspace record's mod
 *    revisions and expects the new partition's key absent: a split planned from a stale view,
 *    or by a deposed leader, changes nothing.
 *  - A write refused because a record moved is planned again from the caught-up view (at most
 *    `splitAttemptsMax` times), so a concurrent ISR change does not fail a split; every
 *    refusal, including the re-planned ones, changes nothing. A write whose outcome etcd left
 *    unknown is AMBIGUOUS_RESULT.
 */
import type { Counter, Meter } from '@opentelemetry/api';
import { KeyspaceRecord, PartitionRecord } from '@quire/proto';
import { AmbiguousResultError, PartitionUnavailableError, keyspaceKey, partitionKey, resolveKeyspaceName, type Limits, type Logger, type MetadataView } from '@quire/common';
import type { FencedChange, FencedResult, MetadataWatcher } from '@quire/metastore';
import { describeKey, describeRange, planSplit, type SplitReason, type SplitRequest, type SplitWrite } from './keyspaces/split.js';
import { coordinatorNotLeaderError } from './server/not-leader.js';

/** How many times a split refused because a record moved is planned again before giving up. */
const splitAttemptsMax = 3;
/** How long to wait for the view to include a split's write (or what refused it). */
const viewWaitMs = 2_000;

/** What the writer needs from the coordinator. */
export interface SplitWriterDeps {
  readonly view: MetadataView;
  readonly watcher: Pick<MetadataWatcher, 'waitForRevision'>;
  /** The controller's fenced write under the current term (a standby gets a `term` refusal). */
  readonly writer: { applyFenced(changes: readonly FencedChange[]): Promise<FencedResult> };
  readonly limits: Limits;
  readonly meter: Meter;
  readonly log: Logger;
}

/** A split written. */
export interface SplitDone {
  readonly parent: PartitionRecord;
  readonly child: PartitionRecord;
  /** The etcd revision of the transaction. */
  readonly revision: number;
}

/** Writes splits, one per keyspace at a time. */
export class SplitWriter {
  private readonly splits: Counter;
  /** The split being judged or written, by keyspace: the next one waits for it. */
  private readonly running = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: SplitWriterDeps) {
    this.splits = deps.meter.createCounter('quire_coordinator_splits', {
      description: 'RANGE partitions split, by reason (manual: Admin.SplitPartition; size or load: asked by the partition leader)',
    });
  }

  /** The keyspace name a request means (empty: default), validated. */
  keyspaceName(requested: string): string {
    return resolveKeyspaceName(requested, this.deps.limits);
  }

  /** Judges and writes one split; rejects with the typed refusal when nothing was written. */
  split(request: SplitRequest, reason: SplitReason): Promise<SplitDone> {
    const previous = this.running.get(request.keyspace) ?? Promise.resolve();
    const mine = previous.then(
      () => this.judgeAndWrite(request, reason),
      () => this.judgeAndWrite(request, reason),
    );
    this.running.set(request.keyspace, mine);
    const forget = (): void => {
      if (this.running.get(request.keyspace) === mine) this.running.delete(request.keyspace);
    };
    mine.then(forget, forget);
    return mine;
  }

  private async judgeAndWrite(request: SplitRequest, reason: SplitReason): Promise<SplitDone> {
    const { view } = this.deps;
    for (let attempt = 1; ; attempt++) {
      const plan = planSplit(request, {
        keyspace: view.keyspace(request.keyspace),
        live: new Set(view.nodes.keys()),
        moving: movingPartitions(view, request.keyspace),
        keyBytesMax: this.deps.limits.keyBytesMax,
      });
      if (plan.kind === 'refuse') throw plan.error;
      const { parent, child } = plan;
      const name = `${request.keyspace}/${parent.record.partitionId}`;
      let result: FencedResult;
      try {
        result = await this.deps.writer.applyFenced(splitChanges(plan));
      } catch (err) {
        throw new AmbiguousResultError(`The split of partition ${name} was sent to etcd, but its outcome is unknown`, { partitionId: parent.record.partitionId }, { cause: err });
      }
      if (result.applied) {
        this.splits.add(1, { reason });
        this.deps.log.info('Partition split', {
          keyspace: request.keyspace,
          partitionId: parent.record.partitionId,
          newPartitionId: child.record.partitionId,
          at: describeKey(child.record.startKey),
          parentRange: describeRange(parent.record),
          newRange: describeRange(child.record),
          epoch: parent.record.epoch,
          leader: parent.record.leader,
          replicas: parent.record.replicas,
          reason,
          revision: result.revision,
        });
        // The next split of this keyspace is judged from a view that includes this one.
        await this.deps.watcher.waitForRevision(result.revision, viewWaitMs);
        return { parent: parent.record, child: child.record, revision: result.revision };
      }
      if (result.reason === 'term') throw coordinatorNotLeaderError(view);
      this.deps.log.info('A record changed while a split was written; planning it again', { keyspace: request.keyspace, partitionId: parent.record.partitionId, attempt, revision: result.revision });
      await this.deps.watcher.waitForRevision(result.revision, viewWaitMs);
      if (attempt >= splitAttemptsMax) {
        throw new PartitionUnavailableError(`Partition ${name} kept changing while its split was written (${attempt} attempts); nothing changed. Try again`, {
          partitionId: parent.record.partitionId,
          mapRevision: view.revision,
        });
      }
    }
  }
}

/** The fenced changes of a split: both partition records and the keyspace record, each compared at the revision the plan saw. */
export function splitChanges(plan: SplitWrite): FencedChange[] {
  const { parent, child, keyspace } = plan;
  return [
    { key: partitionKey(parent.record.keyspace, parent.record.partitionId), value: PartitionRecord.encode(parent.record).finish(), expectedModRevision: parent.expectedRevision },
    { key: partitionKey(child.record.keyspace, child.record.partitionId), value: PartitionRecord.encode(child.record).finish(), expectedModRevision: child.expectedRevision },
    { key: keyspaceKey(keyspace.record.name), value: KeyspaceRecord.encode(keyspace.record).finish(), expectedModRevision: keyspace.expectedRevision },
  ];
}

/** Ids of the keyspace's partitions with a replica move in flight (a move record in the view). */
export function movingPartitions(view: MetadataView, keyspace: string): Set<number> {
  const ids = new Set<number>();
  for (const entry of view.moves.values()) {
    const move = entry.record.move;
    if (move !== undefined && move.keyspace === keyspace) ids.add(move.partitionId);
  }
  return ids;
}
