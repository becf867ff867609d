/**
 * MoveExecutor: runs replica moves (RFC 0003) for the coordinator leader. The decisions are the
 * pure cores' — `planRebalance` proposes moves, `stepMove` decides each move's next write — and
 * this adapter performs them: it writes each partition-record change together with the move's
 * record (`/quire/v1/moves/<keyspace>/<id>`, its phase) in one fenced transaction, asks a
 * leading source to hand its leadership to the target (Replication.HandOver), moves an ended
 * move to the bounded history, and forgets drained nodes that hold nothing and are dead.
 * Once no move is in flight it also balances leaderships (`planLeaderBalance`): when the nodes'
 * leadership counts have differed by more than one for `leaderBalanceDelayMs`, leaders hand
 * partitions over to in-sync replicas leading fewer.
 * The controller calls `reconcile` on every view change and on its periodic tick (which also
 * runs the catch-up timeouts and hand-over retries).
 *
 * Invariants:
 *  - Every write goes through the controller's fenced path: the term, the partition record's
 *    mod revision the step saw, and the move record's (0: it must not exist yet) are compared,
 *    so a write planned from a stale view, or by a deposed leader, changes nothing.
 *  - At most one move per partition (the move record's key), at most `movesPerNodeMax` per node.
 *  - The in-memory step state is rebuilt from the move records when this coordinator is elected:
 *    a move's phase begins again then (its catch-up timeout restarts), nothing else is lost.
 *  - A node counts as dead only after this leader has seen it without a registration for
 *    `nodeDeadAfterMs` (a new leader starts that clock again), so a failover never makes a
 *    briefly absent node's replicas move.
 */
import type { Counter, Meter } from '@opentelemetry/api';
import { DrainRecord, MoveRecord, PartitionRecord, type HandOverRequest, type MoveInfo } from '@quire/proto';
import {
  type Failpoints,
  drainKey,
  knownNodeKey,
  moveHistoryKey,
  moveKey,
  partitionKey,
  toQuireError,
  type Clock,
  type Logger,
  type MetadataView,
} from '@quire/common';
import type { FencedChange, FencedResult } from '@quire/metastore';
import type { HandOverSource } from './hand-over-client.js';
import { moveEnded, newMove, stepMove, type Move, type MoveAction, type MoveSettings } from './moves/move-step.js';
import { moveInfoOf, moveOfInfo, moveReasonOf, nodeIdsOf, plannerInputOf, replicaCounts, type MoveBook } from './moves/move-records.js';
import { planRebalance, type ProposedMove } from './placement/rebalance.js';
import { planLeaderBalance, type LeaderBalancePartition } from './placement/leader-balance.js';

/** Finished moves kept in etcd for `quire moves`. */
export const moveHistoryMax = 100;
/** Deadline of one HandOver call: the leader's catch-up wait (5 s) and the transfer, with margin. */
const handOverDeadlineMs = 9_000;

/** Settings of the executor (coordinator flags). */
export interface MoveExecutorSettings extends MoveSettings {
  /** Most moves a node takes part in at once, as source or target. */
  readonly movesPerNodeMax: number;
  /** A node without a registration for this long is dead: its replicas are re-created elsewhere. */
  readonly nodeDeadAfterMs: number;
  /** Whether reconciles plan moves by themselves (otherwise only Rebalance does, and drains and repairs wait for it). */
  readonly autoRebalance: boolean;
  /** How long leadership counts must stay more than one apart before leaderships are handed over (a Rebalance call does not wait). */
  readonly leaderBalanceDelayMs: number;
}

/** What the executor needs from the coordinator. */
export interface MoveExecutorDeps {
  readonly view: MetadataView;
  readonly clock: Clock;
  readonly log: Logger;
  readonly meter: Meter;
  /** The controller's fenced write under `term` (a term refusal steps the controller down). */
  readonly writeFenced: (term: number, changes: readonly FencedChange[]) => Promise<FencedResult>;
  readonly handOver: HandOverSource;
  /** Asks the controller for another reconcile (a hand-over answered). */
  readonly kick: () => void;
  /** Whether this coordinator leads (only the leader reports the moves gauge). */
  readonly isLeader: () => boolean;
  /** coordinator.move.afterAdd, beforeHandOver, afterRemove. */
  readonly failpoints: Failpoints;
}

/** Runs the moves of one coordinator leader. */
export class MoveExecutor {
  /** Step state of the moves in flight, by `keyspace/partitionId`. */
  private readonly moves = new Map<string, { move: Move; book: MoveBook }>();
  /** Monotonic ms at which this leader first saw each node without a registration. */
  private readonly absentSinceMs = new Map<string, number>();
  private readonly started: Counter;
  private readonly finished: Counter;
  private readonly leaderTransfers: Counter;
  /** Leadership transfers asked for by leader balancing, by `keyspace/partitionId`: the epoch and when. */
  private readonly transfersAsked = new Map<string, { epoch: number; askedAtMs: number }>();
  /** Monotonic ms since which leadership counts have been more than one apart (undefined: balanced). */
  private leadersUnevenSinceMs: number | undefined;

  constructor(
    private readonly settings: MoveExecutorSettings,
    private readonly deps: MoveExecutorDeps,
  ) {
    this.started = deps.meter.createCounter('quire_coordinator_moves_started', { description: 'Replica moves started, by reason (repair, drain, balance)' });
    this.leaderTransfers = deps.meter.createCounter('quire_coordinator_leader_balance_transfers', {
      description: 'Leadership hand-overs asked for to balance leaderships (live, non-draining nodes within one of each other)',
    });
    this.finished = deps.meter.createCounter('quire_coordinator_moves_finished', {
      description: 'Replica moves ended, by outcome (done: the replica moved; rolled_back: the target was removed or never added) and reason',
    });
    deps.meter
      .createObservableGauge('quire_coordinator_moves_in_flight', { description: 'Replica moves in flight (reported by the coordinator leader)' })
      .addCallback((r) => {
        if (this.deps.isLeader()) r.observe(this.moves.size);
      });
  }

  /** Forgets everything (deposed); the next leader rebuilds from etcd. */
  reset(): void {
    this.moves.clear();
    this.absentSinceMs.clear();
    this.transfersAsked.clear();
    this.leadersUnevenSinceMs = undefined;
  }

  /** Whether the node has been without a registration for longer than nodeDeadAfterMs. */
  isDead(nodeId: string): boolean {
    const since = this.absentSinceMs.get(nodeId);
    return since !== undefined && this.deps.clock.monotonicMs() - since >= this.settings.nodeDeadAfterMs;
  }

  /** The moves in flight as this leader runs them (phases as of its last step). */
  inFlight(): MoveInfo[] {
    return [...this.moves.values()].map(({ move, book }) => moveInfoOf(move, book)).sort((a, b) => (a.keyspace < b.keyspace ? -1 : a.keyspace > b.keyspace ? 1 : a.partitionId - b.partitionId));
  }

  /** The moves a rebalance would start now, in priority order. */
  plan(): ProposedMove[] {
    const inFlight = [...this.moves.values()].map(({ move }) => ({ keyspace: move.keyspace, partitionId: move.partitionId, source: move.source, target: move.target }));
    const input = plannerInputOf(this.deps.view, (n) => this.isDead(n), inFlight, new Set(this.moves.keys()));
    return planRebalance(input.nodes, input.partitions, input.inFlight, { movesPerNodeMax: this.settings.movesPerNodeMax });
  }

  /**
   * One pass: adopts move records this leader did not start, steps every move and performs its
   * actions, ends finished moves, plans new moves (when `planNew`), and forgets drained nodes
   * that are gone and empty. Returns the highest revision written or refused at (0: none), so the
   * caller can wait for its view to include it, and the moves started.
   */
  async reconcile(term: number, planNew: boolean): Promise<{ revision: number; startedMoves: ProposedMove[] }> {
    const view = this.deps.view;
    const nowMs = this.deps.clock.monotonicMs();
    this.noteAbsences();
    // Adopt records written by an earlier leader; drop state whose record someone else ended.
    for (const [key, entry] of view.moves) {
      if (!this.moves.has(key) && entry.record.move !== undefined) {
        const info = entry.record.move;
        this.moves.set(key, { move: moveOfInfo(info, nowMs), book: { reason: moveReasonOf(info.reason), startedAtMs: info.startedAtMs } });
        this.deps.log.info('Resuming a replica move', { keyspace: info.keyspace, partitionId: info.partitionId, source: info.source, target: info.target, reason: info.reason });
      }
    }
    const startedMoves: ProposedMove[] = [];
    if (planNew || this.settings.autoRebalance) {
      for (const proposed of this.plan()) {
        const key = `${proposed.keyspace}/${proposed.partitionId}`;
        this.moves.set(key, { move: newMove(proposed.keyspace, proposed.partitionId, proposed.source, proposed.target, nowMs), book: { reason: proposed.reason, startedAtMs: this.deps.clock.nowMs() } });
        startedMoves.push(proposed);
      }
    }
    const writes: Promise<number>[] = [];
    for (const [key, state] of [...this.moves]) writes.push(this.stepOne(term, key, state, startedMoves.some((p) => `${p.keyspace}/${p.partitionId}` === key)));
    writes.push(this.forgetDrained(term));
    if ((planNew || this.settings.autoRebalance) && this.moves.size === 0) this.balanceLeaders(planNew);
    const revisions = await Promise.all(writes);
    return { revision: Math.max(0, ...revisions), startedMoves };
  }

  /** Steps one move and performs what it decided; returns the revision written (0: none). */
  private async stepOne(term: number, key: string, state: { move: Move; book: MoveBook }, isNew: boolean): Promise<number> {
    const view = this.deps.view;
    const { move } = state;
    const stored = view.moves.get(key);
    const cancelled = state.book.reason === 'drain' && !view.drains.has(move.source) && this.deps.view.nodes.has(move.source);
    const step = stepMove(move, {
      partition: view.keyspace(move.keyspace)?.partitions[move.partitionId],
      live: new Set(view.nodes.keys()),
      nowMs: this.deps.clock.monotonicMs(),
      cancelled,
    }, this.settings);
    const next = step.move;
    const fields = { keyspace: move.keyspace, partitionId: move.partitionId, source: move.source, target: move.target, reason: state.book.reason };
    if (moveEnded(next)) {
      if (isNew) {
        // Planned and ended before anything was written (a target gone meanwhile): nothing to record.
        this.moves.delete(key);
        return 0;
      }
      return this.end(term, key, { move: next, book: state.book }, stored?.modRevision ?? 0, fields);
    }
    const write = step.actions.find((a): a is Extract<MoveAction, { kind: 'write-record' }> => a.kind === 'write-record');
    const transfer = step.actions.find((a): a is Extract<MoveAction, { kind: 'transfer-leader' }> => a.kind === 'transfer-leader');
    state.move = next;
    if (transfer !== undefined) {
      await this.deps.failpoints.hitAsync('coordinator.move.beforeHandOver');
      this.handOver(move.keyspace, move.partitionId, transfer, 'Replica move asks the leader to hand over', 'Hand-over for a replica move failed; will ask again', fields);
    }
    const info = moveInfoOf(next, state.book);
    const moveChange: FencedChange = { key: moveKey(move.keyspace, move.partitionId), value: MoveRecord.encode({ move: info }).finish(), expectedModRevision: stored?.modRevision ?? 0 };
    if (write === undefined) {
      // Record a phase change (for ListMoves and the next leader); nothing else to write.
      if (stored?.record.move?.phase === info.phase || stored === undefined) return 0;
      const result = await this.deps.writeFenced(term, [moveChange]);
      return result.applied ? result.revision : 0;
    }
    const changes: FencedChange[] = [
      { key: partitionKey(move.keyspace, move.partitionId), value: PartitionRecord.encode(write.record).finish(), expectedModRevision: write.expectedRevision },
      moveChange,
    ];
    const result = await this.deps.writeFenced(term, changes);
    if (!result.applied) {
      if (isNew) this.moves.delete(key); // planned from a view that moved on: plan again
      this.deps.log.info('A replica move write was refused; stepping again', { ...fields, phase: next.phase, reason: result.reason });
      this.deps.kick();
      // The next pass starts once the view shows what the write conflicted with.
      return result.reason === 'conflict' ? result.revision : 0;
    }
    if (isNew) {
      this.started.add(1, { reason: state.book.reason });
      this.deps.log.info('Replica move started', { ...fields, epoch: write.record.epoch, replicas: write.record.replicas });
      await this.deps.failpoints.hitAsync('coordinator.move.afterAdd');
    } else {
      if (!write.record.replicas.includes(move.source)) await this.deps.failpoints.hitAsync('coordinator.move.afterRemove');
      this.deps.log.info('Replica move wrote the partition record', { ...fields, phase: next.phase, epoch: write.record.epoch, replicas: write.record.replicas, isr: write.record.isr });
    }
    return result.revision;
  }

  /** Deletes an ended move's record and appends it to the bounded history, in one fenced transaction. */
  private async end(term: number, key: string, state: { move: Move; book: MoveBook }, storedRevision: number, fields: Record<string, unknown>): Promise<number> {
    const { move, book } = state;
    const endedAtMs = this.deps.clock.nowMs();
    const changes: FencedChange[] = [];
    if (storedRevision !== 0) changes.push({ key: moveKey(move.keyspace, move.partitionId), value: undefined, expectedModRevision: storedRevision });
    const historyKey = moveHistoryKey(endedAtMs, move.keyspace, move.partitionId, book.startedAtMs);
    // Not compared: the key is unique, and a history entry must never hold a move's end back.
    changes.push({ key: historyKey, value: MoveRecord.encode({ move: moveInfoOf(move, book, endedAtMs) }).finish(), expectedModRevision: 'any' });
    const history = [...this.deps.view.moveHistory].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [oldKey, entry] of history.slice(0, Math.max(0, history.length + 1 - moveHistoryMax))) changes.push({ key: oldKey, value: undefined, expectedModRevision: entry.modRevision });
    const result = await this.deps.writeFenced(term, changes);
    if (!result.applied) {
      this.deps.kick();
      return result.reason === 'conflict' ? result.revision : 0;
    }
    this.moves.delete(key);
    const outcome = move.phase === 'done' ? 'done' : 'rolled_back';
    this.finished.add(1, { outcome, reason: book.reason });
    const log = move.phase === 'done' ? this.deps.log.info.bind(this.deps.log) : this.deps.log.warn.bind(this.deps.log);
    log(move.phase === 'done' ? 'Replica move done' : 'Replica move rolled back', { ...fields, outcome: move.reason, durationMs: endedAtMs - book.startedAtMs });
    return result.revision;
  }

  /**
   * Asks partition leader `t.from` (leading at `t.epoch`) to hand the partition to `t.to`; the
   * answer, or its failure, starts another pass. Returns false when the leader has no address.
   */
  private handOver(keyspace: string, partitionId: number, t: { readonly from: string; readonly to: string; readonly epoch: number }, asking: string, failed: string, fields: Record<string, unknown>): boolean {
    const address = this.deps.view.nodes.get(t.from)?.address;
    if (address === undefined) return false;
    const request: HandOverRequest = { keyspace, partitionId, epoch: t.epoch, targetNodeId: t.to };
    const logged = { ...fields, from: t.from, to: t.to, epoch: t.epoch };
    this.deps.log.info(asking, logged);
    this.deps.handOver.handOver(t.from, address, request, handOverDeadlineMs).then(
      () => this.deps.kick(),
      (err: unknown) => {
        this.deps.log.warn(failed, { ...logged, code: toQuireError(err).code, err: String(err) });
        this.deps.kick();
      },
    );
    return true;
  }

  /**
   * Asks leaders to hand partitions over until every live, non-draining node leads within one of
   * the others, once the counts have been uneven for leaderBalanceDelayMs (at once when `now`).
   */
  private balanceLeaders(now: boolean): void {
    const view = this.deps.view;
    const nowMs = this.deps.clock.monotonicMs();
    const partitions: LeaderBalancePartition[] = [];
    for (const name of view.keyspaceNames()) {
      for (const entry of view.keyspace(name)?.partitions ?? []) {
        if (entry === undefined || entry.record.replicas.length < 2) continue;
        const { record } = entry;
        const key = `${name}/${record.partitionId}`;
        const asked = this.transfersAsked.get(key);
        if (asked !== undefined && (record.epoch > asked.epoch || nowMs - asked.askedAtMs >= this.settings.transferRetryMs)) this.transfersAsked.delete(key);
        partitions.push({ keyspace: name, partitionId: record.partitionId, leader: record.leader, epoch: record.epoch, isr: record.isr, busy: this.transfersAsked.has(key) });
      }
    }
    const eligible = new Set([...view.nodes.keys()].filter((n) => !view.drains.has(n)));
    const room = this.settings.movesPerNodeMax - this.transfersAsked.size;
    const plan = room > 0 ? planLeaderBalance(partitions, eligible, room) : [];
    if (plan.length === 0) {
      if (this.transfersAsked.size === 0) this.leadersUnevenSinceMs = undefined;
      return;
    }
    this.leadersUnevenSinceMs ??= nowMs;
    if (!now && nowMs - this.leadersUnevenSinceMs < this.settings.leaderBalanceDelayMs) return;
    for (const t of plan) {
      const fields = { keyspace: t.keyspace, partitionId: t.partitionId };
      if (!this.handOver(t.keyspace, t.partitionId, t, 'Balancing leaderships: asking a leader to hand over', 'A leader did not hand over for leader balancing', fields)) continue;
      this.transfersAsked.set(`${t.keyspace}/${t.partitionId}`, { epoch: t.epoch, askedAtMs: nowMs });
      this.leaderTransfers.add(1);
    }
  }

  /**
   * Deletes the drain and known-node records of drained nodes that hold nothing and have been
   * absent longer than nodeDeadAfterMs: a drained node that merely restarts stays drained.
   */
  private async forgetDrained(term: number): Promise<number> {
    const view = this.deps.view;
    const held = replicaCounts(view);
    const changes: FencedChange[] = [];
    const forgotten: string[] = [];
    for (const [nodeId, drain] of view.drains) {
      if (view.nodes.has(nodeId) || (held.get(nodeId) ?? 0) > 0 || !this.isDead(nodeId)) continue;
      if ([...this.moves.values()].some(({ move }) => move.source === nodeId || move.target === nodeId)) continue;
      changes.push({ key: drainKey(nodeId), value: undefined, expectedModRevision: drain.modRevision });
      // The view keeps no revision for known-node records; deleting one is safe whatever it holds.
      changes.push({ key: knownNodeKey(nodeId), value: undefined, expectedModRevision: 'any' });
      forgotten.push(nodeId);
    }
    if (changes.length === 0) return 0;
    const result = await this.deps.writeFenced(term, changes);
    if (!result.applied) return 0;
    for (const nodeId of forgotten) {
      this.absentSinceMs.delete(nodeId);
      this.deps.log.info('Drained node holds nothing and has been gone past --node-dead-after-ms; forgotten', { nodeId });
    }
    return result.revision;
  }

  /** Starts or clears the absence clock of every node the view knows. */
  private noteAbsences(): void {
    const view = this.deps.view;
    const nowMs = this.deps.clock.monotonicMs();
    const known = nodeIdsOf(view);
    for (const nodeId of known) {
      if (view.nodes.has(nodeId)) this.absentSinceMs.delete(nodeId);
      else if (!this.absentSinceMs.has(nodeId)) this.absentSinceMs.set(nodeId, nowMs);
    }
    for (const nodeId of this.absentSinceMs.keys()) if (!known.has(nodeId)) this.absentSinceMs.delete(nodeId);
  }
}

/** The drain record written by DecommissionNode. */
export function drainChange(nodeId: string, startedAtMs: number): FencedChange {
  return { key: drainKey(nodeId), value: DrainRecord.encode({ nodeId, startedAtMs }).finish(), expectedModRevision: 0 };
}
