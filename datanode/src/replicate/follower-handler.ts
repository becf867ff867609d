/**
 * FollowerHandler: the follower side of replication (RFC 0001 "Follower path"). It takes each
 * LeaderMessage a leader node sent, decides on it with the pure core (follower-append.ts)
 * *inside* the storage transaction that carries it out, and answers once that transaction is
 * durable. Deciding inside the transaction is what lets a leader pipeline: the messages of one
 * partition run in the order they arrived (the group committer keeps submission order), each
 * seeing the log as the previous one left it, so a batch sent before the previous one was
 * acknowledged still passes the prev check.
 *
 * Critical invariants:
 *  - An Append is answered Appended only once every entry up to the index it reports is
 *    durable in this replica's log and matches the leader's (the index this message proved).
 *  - The acknowledged index moves only to what the leader said is acknowledged and this
 *    message proved to match (decideAppend's applyUpToIndex), so data holds acknowledged
 *    writes only (RFC invariant 3).
 *  - One partition's answers leave in the order its messages arrived, except refusals decided
 *    before any storage work (no replica here), which carry no index.
 *  - While a snapshot install is pending on the replica (its data is partial), Appends and
 *    Truncates are refused as not ready (the leader resends after a back-off), and an answer
 *    decided before an install began is replaced by that refusal: nothing is acknowledged from
 *    a log the install dropped. An accepted InstallSnapshot starts (or joins) a pull
 *    (snapshot-installer.ts), which answers SnapshotInstalled once the install is durable.
 *  - Nothing at or below the replica's truncation floor (max(applied, acknowledged)) is ever
 *    truncated in place (RFC invariant 6). When the leader's log would need that — under
 *    semi-sync or async a failover took back entries this replica applied — the core decides
 *    'reseed', nothing changes, and the answer is Refused{NeedsSnapshot}: the leader switches
 *    the replica to snapshot mode and the snapshot replaces data, log, epoch history and dedup
 *    table. PartitionReplica.truncateLogAfter asserts the same floor as the last line of defence.
 */
import { SpanKind, trace, type Link, type Span } from '@opentelemetry/api';
import { contextFromTraceparent, tracer, tracingOn } from '@quire/runtime';
import { InvalidArgumentError, UnavailableError, validateRequestId, type Logger, type MetadataView, type PartitionEntry } from '@quire/common';
import { AckPolicy, LogEntryKind, type FollowerMessage, type LeaderMessage, type LogEntry } from '@quire/proto';
import {
  checkSender,
  decideAppend,
  decideTruncation,
  type AppendDecision,
  type FollowerState,
  type Refusal,
  type ReseedDecision,
  type TruncateDecision,
} from '../replication/follower-append.js';
import type { GroupCommitter } from '../partition/group-commit.js';
import type { PartitionReplica, ReplicatedEntry } from '../partition/replica.js';
import type { SnapshotInstallRequest } from './snapshot-installer.js';
import { isSplitMarker } from '../storage/codec.js';

/** What the handler needs from the data node. */
export interface FollowerHandlerDeps {
  readonly nodeId: string;
  readonly view: MetadataView;
  readonly committer: GroupCommitter;
  readonly log: Logger;
  /** Opens (or returns) this node's replica of a partition; undefined while its deletion is under way (RFC 0003). */
  openReplica(keyspace: string, partitionId: number): PartitionReplica | undefined;
  /** Starts (or joins) the snapshot pull an accepted InstallSnapshot asks for (SnapshotInstaller). */
  installSnapshot(request: SnapshotInstallRequest): void;
  /** Whether to end every stream at its next message, unhandled (the datanode.replication.breakStreams failpoint; tests only). */
  breakStreams?(): boolean;
  /**
   * Whether the replica is a split's new partition about to be carved here from this node's copy
   * of its parent (RFC 0004): its leader's messages are refused not ready meanwhile, so the
   * leader waits for the carve instead of sending a snapshot of what is about to be here.
   */
  awaitsCarve?(replica: PartitionReplica): boolean;
}

/** Where the answer to one message goes (called once, possibly after a commit). */
export type Answer = (message: FollowerMessage) => void;

/** The follower side of replication, for every partition this node follows. */
export class FollowerHandler {
  /** Per partition, the epoch a re-seed was last logged for (one Info line per partition and epoch; bounded by the partitions this node holds). */
  private readonly reseedLogged = new Map<string, number>();

  constructor(private readonly deps: FollowerHandlerDeps) {}

  /**
   * Handles one message from `senderNodeId`. Throws InvalidArgumentError for a malformed
   * message (the stream ends: a bug in the sender, RFC wire rules), and UnavailableError while
   * the datanode.replication.breakStreams failpoint is on (the stream ends).
   */
  handle(senderNodeId: string, message: LeaderMessage, answer: Answer): void {
    // A network cut, as far as the leader can tell (tests only): the stream ends, what was in
    // flight on it is lost, and the leader reconnects and probes.
    if (this.deps.breakStreams?.() === true) throw new UnavailableError(`Replication streams to ${this.deps.nodeId} are broken by the datanode.replication.breakStreams failpoint`);
    const { keyspace, partitionId, epoch } = message;
    const body = message.body;
    if (body === undefined) throw new InvalidArgumentError(`Replication message for ${keyspace}/${partitionId} has no body`, { field: 'messages.body' });
    if (!Number.isSafeInteger(epoch) || epoch < 1) throw new InvalidArgumentError(`Replication message epoch ${epoch} is not a positive integer`, { field: 'messages.epoch' });
    const reply = (b: FollowerMessage['body']): void => answer({ keyspace, partitionId, epoch, body: b });
    const entry = this.deps.view.keyspace(keyspace)?.partitions[partitionId];
    const replica = !this.deps.view.loaded || entry === undefined || !entry.record.replicas.includes(this.deps.nodeId) ? undefined : this.deps.openReplica(keyspace, partitionId);
    if (replica === undefined) {
      // Not a replica by this node's view (yet), or its old replica here is still being deleted:
      // the leader retries once the views move (or the deletion is done).
      reply(refusedBody({ kind: 'not-ready', knownEpoch: entry?.record.epoch ?? 0, leaderHint: entry?.record.leader }, this.deps.view.revision));
      return;
    }
    if (this.deps.awaitsCarve?.(replica) === true) {
      reply(refusedBody({ kind: 'not-ready', knownEpoch: entry?.record.epoch ?? 0, leaderHint: entry?.record.leader }, this.deps.view.revision));
      return;
    }
    switch (body.$case) {
      case 'append': {
        const append = body.value;
        const entries = append.entries.map((e) => decodeEntry(e, keyspace, partitionId));
        checkAppendShape(epoch, append.prevIndex, append.prevEpoch, append.acknowledgedIndex, entries, `${keyspace}/${partitionId}`);
        let installsBegun = 0;
        // For the staleness of follower reads (LeaderContact): when it arrived, what the log held.
        const receivedMs = replica.monotonicMs();
        let logEndBefore = 0;
        // A span for an Append that carries traced entries (tracing on): linked to their requests.
        const span = tracingOn() && append.traceparents.length > 0 ? appendSpan(senderNodeId, keyspace, partitionId, entries.length, append.traceparents) : undefined;
        this.submit(replica, {
          run: (): AppendDecision<ReplicatedEntry> => {
            span?.addEvent('appended');
            installsBegun = replica.snapshotInstallsBegun;
            if (replica.installingSnapshot) return this.installing(replica);
            logEndBefore = replica.logEndIndex;
            const decision = decideAppend(this.stateOf(replica), {
              partitionId,
              epoch,
              senderNodeId,
              prevIndex: append.prevIndex,
              prevEpoch: append.prevEpoch,
              entries,
              acknowledgedIndex: append.acknowledgedIndex,
            });
            if (decision.kind === 'accept') {
              replica.noteEpoch(decision.epoch);
              replica.appendReplicated(decision.entries, decision.truncateAfterIndex);
              // The core accepts a newer epoch only once it matched up to the floor.
              replica.noteFloorEpoch(decision.epoch);
            }
            return decision;
          },
          done: (decided: AppendDecision<ReplicatedEntry>) => {
            // An install that began after this decision dropped what it appended.
            const decision = replica.snapshotInstallsBegun === installsBegun ? decided : this.installing(replica);
            span?.setAttribute('quire.decision', decision.kind);
            span?.end();
            switch (decision.kind) {
              case 'accept':
                if (decision.applyUpToIndex > replica.acknowledgedIndex) {
                  replica.acknowledge(decision.applyUpToIndex);
                  this.deps.committer.acknowledged(replica);
                }
                replica.noteLeaderAppend(decision.epoch, append.acknowledgedIndex, logEndBefore, receivedMs);
                reply({ $case: 'appended', value: { durableIndex: decision.acknowledgeIndex, appliedIndex: replica.appliedIndex } });
                return;
              case 'mismatch':
                reply({ $case: 'refused', value: { reason: { $case: 'mismatch', value: { prevIndex: append.prevIndex, logEnd: decision.logEnd } } } });
                return;
              case 'reseed':
                reply(this.reseed(replica, senderNodeId, decision));
                return;
              default:
                reply(refusedBody(decision, this.deps.view.revision));
            }
          },
        });
        return;
      }
      case 'truncate': {
        const advice = { epoch: body.value.epochMax, index: body.value.indexMax };
        if (!Number.isSafeInteger(advice.index) || advice.index < 0 || !Number.isSafeInteger(advice.epoch) || advice.epoch < 0 || advice.epoch > epoch) {
          throw new InvalidArgumentError(`Truncate of ${keyspace}/${partitionId}: (epoch_max ${advice.epoch}, index_max ${advice.index}) is not within message epoch ${epoch}`, {
            field: 'messages.truncate',
          });
        }
        let installsBegun = 0;
        this.submit(replica, {
          run: (): TruncateDecision => {
            installsBegun = replica.snapshotInstallsBegun;
            if (replica.installingSnapshot) return this.installing(replica);
            const decision = decideTruncation(this.stateOf(replica), { partitionId, epoch, senderNodeId, advice });
            if (decision.kind === 'truncate') {
              replica.noteEpoch(decision.epoch);
              if (decision.truncateAfterIndex !== undefined) replica.truncateLogAfter(decision.truncateAfterIndex);
            }
            return decision;
          },
          done: (decided: TruncateDecision) => {
            const decision = replica.snapshotInstallsBegun === installsBegun ? decided : this.installing(replica);
            if (decision.kind === 'truncate') {
              this.deps.log.info('Truncated a divergent log suffix', { keyspace, partitionId, epoch, logEnd: decision.logEnd, leader: senderNodeId });
              reply({ $case: 'truncated', value: { logEnd: decision.logEnd } });
            } else if (decision.kind === 'reseed') {
              reply(this.reseed(replica, senderNodeId, decision));
            } else {
              reply(refusedBody(decision, this.deps.view.revision));
            }
          },
        });
        return;
      }
      case 'installSnapshot':
        // Decided in the committer like the others, so it comes after the messages before it.
        this.submit(replica, {
          run: (): Refusal | undefined => {
            const refusal = checkSender(this.stateOf(replica), partitionId, epoch, senderNodeId);
            if (refusal === undefined) replica.noteEpoch(epoch);
            return refusal;
          },
          done: (refusal: Refusal | undefined) => {
            if (refusal !== undefined) {
              reply(refusedBody(refusal, this.deps.view.revision));
              return;
            }
            this.deps.installSnapshot({
              keyspace,
              partitionId,
              replica,
              leader: senderNodeId,
              epoch,
              answer: (logEnd) => reply({ $case: 'snapshotInstalled', value: { logEnd } }),
            });
          },
        });
        return;
    }
  }

  /**
   * The answer to a 'reseed' decision (RFC invariant 6): NeedsSnapshot, after one Info line per
   * partition and epoch. Under sync this means an acknowledged write was lost (the policy
   * promises it never is): logged as an error, and re-seeded all the same — stopping the
   * replica would not bring the write back.
   */
  private reseed(replica: PartitionReplica, senderNodeId: string, decision: ReseedDecision): FollowerMessage['body'] {
    const id = `${replica.keyspace}/${replica.partitionId}`;
    if (this.reseedLogged.get(id) !== decision.epoch) {
      this.reseedLogged.set(id, decision.epoch);
      const ackPolicy = this.deps.view.keyspace(replica.keyspace)?.record.ackPolicy;
      const fields = {
        keyspace: replica.keyspace,
        partitionId: replica.partitionId,
        epoch: decision.epoch,
        leader: senderNodeId,
        appliedIndex: replica.appliedIndex,
        acknowledgedIndex: replica.acknowledgedIndex,
        floorIndex: decision.floorIndex,
        keepIndex: decision.keepIndex,
        logEnd: decision.logEnd,
        ackPolicy,
      };
      const message = "The leader's log lacks entries this replica applied or acknowledged; asking for a re-seed from a snapshot";
      // A coverage mark (Info): tests look for it to prove the re-seed path ran.
      if (ackPolicy === AckPolicy.ACK_POLICY_SEMI_SYNC || ackPolicy === AckPolicy.ACK_POLICY_ASYNC) this.deps.log.mark(message, fields);
      else this.deps.log.error(message, fields);
    }
    return { $case: 'refused', value: { reason: { $case: 'needsSnapshot', value: { floorIndex: decision.floorIndex, logEnd: decision.logEnd } } } };
  }

  /**
   * The refusal of a message to a replica whose snapshot install is pending: not ready (the
   * leader backs off and resends; the install finishes, or is discarded once its leader is gone).
   */
  private installing(replica: PartitionReplica): Refusal {
    const entry = this.deps.view.keyspace(replica.keyspace)?.partitions[replica.partitionId];
    const known = replica.knownEpoch;
    return { kind: 'not-ready', knownEpoch: known, leaderHint: entry !== undefined && entry.record.epoch === known && entry.record.leader !== '' ? entry.record.leader : undefined };
  }

  private submit<T>(replica: PartitionReplica, task: { run(): T; done(result: T): void }): void {
    // Refused once the node stops (the stream ends with it, and the leader reconnects), or once
    // the replica is retired (deleted; the leader no longer counts this node's answers).
    this.deps.committer.submitTask({ replica, run: task.run, done: task.done });
  }

  /** Forgets what it keeps about a partition whose replica here is being deleted (RFC 0003). */
  forget(keyspace: string, partitionId: number): void {
    this.reseedLogged.delete(`${keyspace}/${partitionId}`);
  }

  /** The replica's state for the core, tied to this node's metadata view. */
  private stateOf(replica: PartitionReplica): FollowerState {
    const entry: PartitionEntry | undefined = this.deps.view.keyspace(replica.keyspace)?.partitions[replica.partitionId];
    const viewEpoch = entry?.record.epoch ?? 0;
    replica.noteEpoch(viewEpoch);
    return {
      knownEpoch: replica.knownEpoch,
      leaderOf: (epoch) => (entry !== undefined && entry.record.epoch === epoch && entry.record.leader !== '' ? entry.record.leader : undefined),
      logEnd: replica.logEndPair,
      epochAt: (index) => replica.epochAt(index),
      endOfEpoch: (epoch) => replica.endOfEpoch(epoch),
      appliedIndex: replica.appliedIndex,
      acknowledgedIndex: replica.acknowledgedIndex,
      floorEpoch: replica.floorEpoch,
    };
  }
}

/** A refusal as a FollowerMessage body. */
function refusedBody(refusal: Refusal, mapRevision: number): FollowerMessage['body'] {
  if (refusal.kind === 'stale-epoch') {
    const d = refusal.error.details;
    return {
      $case: 'refused',
      value: { reason: { $case: 'staleEpoch', value: { knownEpoch: d.epoch ?? 0, leaderHint: d.leaderHint ?? '', mapRevision } } },
    };
  }
  return {
    $case: 'refused',
    value: { reason: { $case: 'notReady', value: { knownEpoch: refusal.knownEpoch, leaderHint: refusal.leaderHint ?? '', mapRevision } } },
  };
}

/** Decodes and range-checks one wire entry (the core asserts on what it is given). */
function decodeEntry(e: LogEntry, keyspace: string, partitionId: number): ReplicatedEntry {
  const where = `Entry ${e.index} of ${keyspace}/${partitionId}`;
  if (!Number.isSafeInteger(e.index) || e.index < 1) throw new InvalidArgumentError(`${where}: index is not a positive integer`, { field: 'entries.index' });
  if (!Number.isSafeInteger(e.epoch) || e.epoch < 1) throw new InvalidArgumentError(`${where}: epoch ${e.epoch} is not a positive integer`, { field: 'entries.epoch' });
  // The empty key is the control key: only a put carrying a well-formed split marker may use it (RFC 0004).
  if (e.key.length === 0 && !(e.kind === LogEntryKind.LOG_ENTRY_KIND_PUT && isSplitMarker(e.value))) {
    throw new InvalidArgumentError(`${where}: the key is empty and the entry is not a split marker`, { field: 'entries.key' });
  }
  // Stored with the entry and recorded in the dedup table, so a retry is recognised here after a failover.
  validateRequestId(e.requestId, 'entries.request_id');
  const requestId = Buffer.from(e.requestId);
  switch (e.kind) {
    case LogEntryKind.LOG_ENTRY_KIND_PUT:
      return { index: e.index, epoch: e.epoch, kind: 'put', key: Buffer.from(e.key), value: Buffer.from(e.value), requestId };
    case LogEntryKind.LOG_ENTRY_KIND_DELETE:
      if (e.value.length > 0) throw new InvalidArgumentError(`${where}: a delete carries a value`, { field: 'entries.value' });
      return { index: e.index, epoch: e.epoch, kind: 'delete', key: Buffer.from(e.key), value: Buffer.alloc(0), requestId };
    default:
      throw new InvalidArgumentError(`${where}: unknown kind ${e.kind}`, { field: 'entries.kind' });
  }
}

let followerTracerCached: ReturnType<typeof tracer> | undefined;

/** The span of a follower's append of a batch with traced entries, linked to their requests. */
function appendSpan(leader: string, keyspace: string, partitionId: number, entries: number, traceparents: readonly string[]): Span {
  followerTracerCached ??= tracer('datanode');
  const links: Link[] = [];
  for (const tp of traceparents) {
    const context = trace.getSpanContext(contextFromTraceparent(tp));
    if (context !== undefined) links.push({ context });
  }
  return followerTracerCached.startSpan('replication.append', {
    kind: SpanKind.CONSUMER,
    links,
    attributes: { 'quire.leader': leader, 'quire.keyspace': keyspace, 'quire.partition': partitionId, 'quire.entries': entries },
  });
}

/** Checks an Append against the wire invariants (replication.proto, Append) before the core sees it. */
function checkAppendShape(epoch: number, prevIndex: number, prevEpoch: number, acknowledgedIndex: number, entries: readonly ReplicatedEntry[], where: string): void {
  const bad = (what: string, field: string): never => {
    throw new InvalidArgumentError(`Append to ${where}: ${what}`, { field });
  };
  if (!Number.isSafeInteger(prevIndex) || prevIndex < 0) bad(`prev_index ${prevIndex} is not a non-negative integer`, 'append.prev_index');
  if (!Number.isSafeInteger(prevEpoch) || prevEpoch < 0 || prevEpoch > epoch) bad(`prev_epoch ${prevEpoch} is not within [0, ${epoch}]`, 'append.prev_epoch');
  if ((prevIndex === 0) !== (prevEpoch === 0)) bad(`prev (${prevEpoch}, ${prevIndex}): only index 0 has epoch 0`, 'append.prev_epoch');
  if (!Number.isSafeInteger(acknowledgedIndex) || acknowledgedIndex < 0) bad(`acknowledged_index ${acknowledgedIndex} is not a non-negative integer`, 'append.acknowledged_index');
  let index = prevIndex;
  let entryEpoch = Math.max(prevEpoch, 1);
  for (const e of entries) {
    if (e.index !== index + 1) bad(`entry index ${e.index} does not follow ${index}`, 'append.entries.index');
    if (e.epoch < entryEpoch || e.epoch > epoch) bad(`entry ${e.index} has epoch ${e.epoch}, not within [${entryEpoch}, ${epoch}]`, 'append.entries.epoch');
    index = e.index;
    entryEpoch = e.epoch;
  }
}
