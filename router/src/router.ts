/**
 * Router: the request logic of a router, independent of gRPC. It validates each operation
 * against the limits (so nothing invalid reaches a data node), routes it — by xxhash64(key) mod
 * P in a HASH keyspace, by the partition whose key range holds the key in a RANGE keyspace — to
 * the partition leader in its metadata view, and forwards it over the node's multiplexed stream.
 * Scans of a HASH keyspace merge every partition's ordered stream; scans of a RANGE keyspace
 * read the partitions their bounds touch one after another in key order. Every retry computes
 * the key's partition again from the current view: a RANGE partition's split moves keys to a
 * new partition id, and a request kept on the old id would be refused forever.
 *
 * While a partition has no usable leader (a failover or a transfer is under way), the router
 * holds its requests for up to `failoverWaitMs`, never past a request's own deadline, and
 * sends them to the leader the view names next (routing/failover.ts decides what is held or
 * retried):
 *  - no usable leader in the view, and another replica could be promoted: wait for the view
 *    to change, then route again;
 *  - a routing refusal (WRONG_PARTITION, STALE_EPOCH, NOT_LEADER: the operation definitely did
 *    not happen): catch the map up to the responder's revision and send again; the first such
 *    retry happens even with a failover wait of 0, as it always has;
 *  - UNAVAILABLE (for a write: never sent), and for reads also a result lost with its node:
 *    send again once the view moved, or after a short pause;
 *  - AMBIGUOUS_RESULT for a write that carries a request id (the stream to the leader was lost,
 *    or the leader changed before acknowledging it): send again the same way, to whichever
 *    node leads; the data nodes deduplicate the id, so the write is applied at most once and a
 *    resend of an applied write gets its first result.
 *  - PARTITION_UNAVAILABLE that the view shows passing (unavailabilityIsMomentary: a split of
 *    the partition under way — the new partition's leader has not carved its data out of the
 *    parent yet — or an ISR of min_isr in the map that the leader has not confirmed yet): send
 *    again after the leader's retry_after_ms, writes too — the refusal says the operation did
 *    not happen.
 * Nothing else is retried. A write whose outcome is unknown reaches the client as
 * AMBIGUOUS_RESULT, never as a success or a failure: a write without a request id at once, and
 * one with a request id when no resend decided it within the failover wait (every answer but a
 * success or CONDITION_FAILED after an ambiguous attempt is reported as that attempt's
 * AMBIGUOUS_RESULT).
 *
 * SESSION and STALE gets (RFC 0001, "Follower reads") go first to a live in-sync follower of the
 * partition, in turn (routing/replica-choice.ts); any refusal or loss there (REPLICA_BEHIND, a
 * routing error, an unreachable node) sends the read to the next follower and then to the
 * leader by the rules above. Only argument errors end it. The session token is checked here
 * (count, partition ids) and only the index for the key's partition is forwarded (min_index).
 * Scans serve LINEARIZABLE only.
 *
 * Retries live here and nowhere else: data nodes never retry, the client library retries
 * nothing on its own.
 */
import { SpanKind, SpanStatusCode, type Counter, type Histogram, type Meter, type Span } from '@opentelemetry/api';
import type { KeyValue, Operation, OperationResult, ScanRequest } from '@quire/proto';
import {
  AmbiguousResultError,
  InvalidArgumentError,
  PartitionUnavailableError,
  UnavailableError,
  consistencyOf,
  fromGrpcError,
  isQuireError,
  isRangeKeyspace,
  resolveKeyspaceName,
  scanRange,
  sessionIndexFor,
  toErrorInfo,
  validateKey,
  validateRequestId,
  validateScanBound,
  validateValue,
  withIdleTimeout,
  type Clock,
  type Consistency,
  type Failpoints,
  type HashPartitioner,
  type KeyspaceEntry,
  type Limits,
  type Logger,
  type MetadataView,
  type QuireError,
} from '@quire/common';
import { RpcMetrics, contextFromTraceparent, latencyBucketsMs, traceparentOf, tracer, tracingOn } from '@quire/runtime';
import type { NodeConnection } from './node-connection.js';
import { keyspaceOf, partitionOfKey, rangeSegmentOf, routePartition, sessionPositionsFor, type RangeSegment, type Route } from './routing/route.js';
import { epochOf, holdUntilMs, replicaCountOf, retryActionFor, routeSuperseded, settlesAmbiguousWrite, unavailabilityIsMomentary, type OperationKind } from './routing/failover.js';
import { mergeOrdered } from './routing/merge.js';
import { chooseReadReplica } from './routing/replica-choice.js';

/** Errors a follower's answer ends a read with: the request itself is wrong, any replica would say so. */
const argumentErrorCodes: ReadonlySet<string> = new Set(['INVALID_ARGUMENT', 'KEY_TOO_LARGE', 'VALUE_TOO_LARGE', 'KEYSPACE_NOT_FOUND']);

const followerReadAttributes = {
  served: { outcome: 'served' },
  fallback: { outcome: 'fallback' },
} as const;

/** Router settings. */
export interface RouterSettings {
  readonly limits: Limits;
  /** Deadline of one operation, from arrival at the router; also a scan's idle deadline. */
  readonly requestTimeoutMs: number;
  /** How long a retry waits for the map to reach a responder's newer revision. */
  readonly staleMapWaitMs: number;
  /** How long a request is held while its partition has no usable leader (0: not at all). */
  readonly failoverWaitMs: number;
  /** Deadline of one attempt of a SESSION or STALE get on a follower (then another replica is asked). */
  readonly followerReadTimeoutMs: number;
}

/** What the router needs from its metadata source. */
export interface MapSource {
  readonly view: MetadataView;
  /** Resolves true once the view has reached `revision` (refreshing from etcd if needed). */
  waitForRevision(revision: number, timeoutMs: number): Promise<boolean>;
}

/** The data node connections the router sends through (NodePool in production). */
export interface NodeConnections {
  /** Returns the connection to `address`, creating it on first use. */
  get(address: string): Pick<NodeConnection, 'send' | 'client'>;
}

/** Dependencies of the router. */
export interface RouterDeps {
  readonly map: MapSource;
  readonly partitioner: HashPartitioner;
  readonly pool: NodeConnections;
  readonly clock: Clock;
  readonly log: Logger;
  readonly meter: Meter;
  /** The process's failpoints (router.forward.beforeSend). */
  readonly failpoints: Failpoints;
}

/** How long to give a data node whose map is behind ours before retrying. */
const nodeCatchUpWaitMs = 100;
/** Longest sleep of a held request between looks at the view (it also wakes on every change). */
const holdRecheckIntervalMs = 250;
/** Pause before sending again when the view did not move, so a refusal cannot spin. */
const resendPauseMs = 50;

/**
 * The pause before a resend: resendPauseMs, or after a momentary PARTITION_UNAVAILABLE
 * (unavailabilityIsMomentary) the retry_after_ms its leader asked for, at most
 * holdRecheckIntervalMs (a view change wakes it sooner).
 */
function resendPauseMsFor(code: string, retryAfterMs: number | undefined, momentary: boolean): number {
  if (!momentary || code !== 'PARTITION_UNAVAILABLE') return resendPauseMs;
  return Math.min(holdRecheckIntervalMs, Math.max(resendPauseMs, retryAfterMs ?? 0));
}

let routerTracerCached: ReturnType<typeof tracer> | undefined;
/** The router's tracer (made on first use, after tracing started). */
const routerTracer = (): ReturnType<typeof tracer> => (routerTracerCached ??= tracer('router'));

/** Ends a request's span with its result code. */
function endSpan(span: Span, code: string): void {
  span.setAttribute('quire.code', code);
  if (code !== 'OK') span.setStatus({ code: SpanStatusCode.ERROR, message: code });
  span.end();
}

/** How a held request's wait ended: sent to a node, out of time, or ended otherwise. */
type HoldOutcome = 'routed' | 'timed_out' | 'abandoned';

const holdOutcomeAttributes: Readonly<Record<HoldOutcome, { readonly outcome: HoldOutcome }>> = {
  routed: { outcome: 'routed' },
  timed_out: { outcome: 'timed_out' },
  abandoned: { outcome: 'abandoned' },
};

/** One request's failover wait (for a scan: one partition's, since its last delivered key). */
interface Hold {
  readonly keyspace: string;
  readonly partitionId: number;
  readonly startedMs: number;
  readonly untilMs: number;
}

/** An attempt sent to a partition leader and not answered yet; abandoned when its route is superseded. */
interface Attempt {
  readonly route: Route;
  abandon(reason: string): void;
}

/** The requests held for one partition, so it is logged once per epoch, not per request. */
interface HeldPartition {
  epoch: number;
  sinceMs: number;
  requests: number;
  resolvedLogged: boolean;
  timedOutLogged: boolean;
}

/** The router's request logic. */
export class Router {
  private readonly rpc: RpcMetrics;
  private readonly staleRetries: Counter;
  private readonly ambiguousResends: Counter;
  private readonly failoverWaits: Counter;
  private readonly failoverWaitDurations: Histogram;
  private readonly followerReads: Counter;
  /** Partitions with held requests; an entry goes when its last request does. */
  private readonly heldPartitions = new Map<string, HeldPartition>();
  /** Spreads SESSION and STALE reads over followers (routing/replica-choice.ts). */
  private readTurn = 0;
  /** Attempts waiting for a partition leader's answer, by "keyspace/partition". */
  private readonly attempts = new Map<string, Set<Attempt>>();
  private readonly abandonedAttempts: Counter;
  /** Held and resent requests per partition (issue 15), by keyspace and partition. */
  private readonly heldByPartition: Counter;
  private readonly resentByPartition: Counter;

  constructor(
    private readonly settings: RouterSettings,
    private readonly deps: RouterDeps,
  ) {
    this.rpc = new RpcMetrics(deps.meter, 'router', 'kv');
    this.staleRetries = deps.meter.createCounter('quire_router_stale_map_retries', {
      description: 'Retries after a data node reported a stale or wrong route (WRONG_PARTITION, STALE_EPOCH, NOT_LEADER)',
    });
    this.ambiguousResends = deps.meter.createCounter('quire_router_ambiguous_write_resends', {
      description: 'Writes with a request id sent again after an AMBIGUOUS_RESULT (the data nodes deduplicate them)',
    });
    this.followerReads = deps.meter.createCounter('quire_router_follower_reads', {
      description: 'SESSION and STALE gets sent to a follower, by outcome: served there, or fallback (refused or lost; sent on to another replica or the leader)',
    });
    this.abandonedAttempts = deps.meter.createCounter('quire_router_abandoned_attempts', {
      description: 'Requests (or scan partitions) in flight on a partition leader that the router stopped waiting for because the map named another leader or the node lost its registration; then resent to the next leader (reads, writes with a request id) or answered AMBIGUOUS_RESULT',
    });
    this.heldByPartition = deps.meter.createCounter('quire_router_partition_held_requests', {
      description: 'Requests held for a usable leader, by keyspace and partition',
    });
    this.resentByPartition = deps.meter.createCounter('quire_router_partition_resent_requests', {
      description: 'Requests sent again after a failure at a data node (routing refusal, lost node, ambiguous write with a request id, abandoned leader), by keyspace, partition and the code that caused it',
    });
    // One subscription for every attempt in flight: a paused or cut-off leader's requests are
    // let go as soon as the view shows it replaced or its lease gone.
    deps.map.view.subscribe(() => this.abandonSuperseded());
    this.failoverWaits = deps.meter.createCounter('quire_router_failover_waits', {
      description: 'Requests (or scan partitions) held for a usable partition leader, by outcome: routed, timed_out or abandoned',
    });
    this.failoverWaitDurations = deps.meter.createHistogram('quire_router_failover_wait_ms', {
      description: 'How long requests were held for a usable partition leader, in milliseconds',
      unit: 'ms',
      advice: { explicitBucketBoundaries: [...latencyBucketsMs] },
    });
  }

  /** Executes one Get/Put/Delete and resolves with its result; never rejects. */
  async execute(op: Operation): Promise<OperationResult> {
    const startedMs = this.deps.clock.monotonicMs();
    const method = op.op?.$case ?? 'none';
    // A span per request while tracing is on (runtime/src/tracing): routing, holds, resends.
    const span = tracingOn()
      ? routerTracer().startSpan(`router.${method}`, { kind: SpanKind.SERVER, attributes: { 'quire.keyspace': op.op?.value.keyspace ?? '' } }, contextFromTraceparent(op.traceparent))
      : undefined;
    let result: OperationResult;
    try {
      result = await this.route(op, startedMs + this.settings.requestTimeoutMs, span);
    } catch (err) {
      result = { id: op.id, result: { $case: 'error', value: toErrorInfo(err) } };
    }
    const code = result.result?.$case === 'error' ? result.result.value.code : 'OK';
    this.rpc.record(method, code, this.deps.clock.monotonicMs() - startedMs);
    if (span !== undefined) endSpan(span, code);
    return result;
  }

  private async route(op: Operation, deadlineMs: number, span: Span | undefined): Promise<OperationResult> {
    const limits = this.settings.limits;
    const body = op.op;
    if (body === undefined) throw new InvalidArgumentError('operation has no get, put or delete', { field: 'op' });
    const keyspace = resolveKeyspaceName(body.value.keyspace, limits);
    validateKey(body.value.key, limits);
    if (body.$case === 'put') validateValue(body.value.value, limits);
    if (body.$case !== 'get') validateRequestId(body.value.requestId);
    const consistency: Consistency = body.$case === 'get' ? consistencyOf(body.value.consistency) : 'linearizable';
    const kind: OperationKind = body.$case;
    const write = kind !== 'get';
    const hasRequestId = body.$case !== 'get' && body.value.requestId.length > 0;
    const clock = this.deps.clock;
    let hold: Hold | undefined;
    let outcome: HoldOutcome = 'abandoned';
    let route: Route | undefined;
    let refreshes = 0;
    /** Followers a SESSION or STALE read was sent to already (of routedPartitionId). */
    const tried = new Set<string>();
    /** The partition the key belonged to on the last pass (a split may move it). */
    let routedPartitionId: number | undefined;
    /** What goes to data nodes: a get without its session token (min_index carries its one index). */
    let forwarded: Operation['op'] = body;
    /** The trace context the data nodes' spans are children of. */
    const traceparent = span === undefined ? '' : traceparentOf(span);
    let minIndex = 0;
    /** The first AMBIGUOUS_RESULT of this write, while no later answer has decided it. */
    let ambiguous: OperationResult['result'] | undefined;
    // After an ambiguous attempt, an answer that does not decide the write is that ambiguity.
    const answer = (r: OperationResult['result']): OperationResult => {
      const code = r?.$case === 'error' ? r.value.code : undefined;
      return { id: op.id, result: ambiguous !== undefined && !settlesAmbiguousWrite(code) ? ambiguous : r };
    };
    try {
      for (;;) {
        const view = this.deps.map.view;
        const ks = keyspaceOf(view, keyspace);
        // Computed from the key on every pass, never kept: after a split of a RANGE keyspace
        // the same key belongs to another partition, which the refreshed view names.
        const partitionId = partitionOfKey(view, ks, this.deps.partitioner, body.value.key);
        if (partitionId !== routedPartitionId) {
          routedPartitionId = partitionId;
          tried.clear();
          if (body.$case === 'get' && consistency === 'session') {
            minIndex = sessionIndexFor(sessionPositionsFor(ks, body.value.session), partitionId, ks.record.partitionCount);
          }
        }
        if (body.$case === 'get' && forwarded === body) forwarded = { $case: 'get', value: { ...body.value, session: [] } };
        if (consistency !== 'linearizable') {
          const replica = chooseReadReplica(view, ks, partitionId, tried, this.readTurn++);
          if (replica !== undefined) {
            tried.add(replica.nodeId);
            span?.addEvent('sent to follower', { 'quire.node': replica.nodeId, 'quire.partition': partitionId, 'quire.epoch': replica.epoch });
            const result = await this.deps.pool
              .get(replica.address)
              .send({ partitionId, epoch: replica.epoch, mapRevision: replica.mapRevision, op: forwarded, minIndex, traceparent }, false, Math.min(deadlineMs, clock.monotonicMs() + this.settings.followerReadTimeoutMs));
            const error = result.result?.$case === 'error' ? result.result.value : undefined;
            if (error === undefined || argumentErrorCodes.has(error.code)) {
              if (error === undefined) this.followerReads.add(1, followerReadAttributes.served);
              outcome = 'routed';
              route = replica;
              return answer(result.result);
            }
            this.followerReads.add(1, followerReadAttributes.fallback);
            this.deps.log.debug('A follower did not serve a read; asking another replica', { code: error.code, partitionId, nodeId: replica.nodeId });
            if (clock.monotonicMs() >= deadlineMs) return answer(result.result);
            continue;
          }
        }
        try {
          route = routePartition(view, ks, partitionId);
        } catch (err) {
          if (!isQuireError(err) || retryActionFor(err.code, 'route', kind, replicaCountOf(ks, partitionId), hasRequestId) !== 'hold') throw err;
          if (hold === undefined) span?.addEvent('held', { 'quire.code': err.code, 'quire.partition': partitionId });
          hold ??= this.beginHold(keyspace, partitionId, epochOf(ks, partitionId), err.code, deadlineMs);
          if (hold === undefined) throw err;
          if (clock.monotonicMs() >= hold.untilMs) {
            outcome = 'timed_out';
            throw this.heldTooLong(err, hold);
          }
          await this.waitForViewChange(view.revision, Math.min(holdRecheckIntervalMs, hold.untilMs - clock.monotonicMs()));
          continue;
        }
        span?.addEvent('sent', { 'quire.node': route.nodeId, 'quire.partition': route.partitionId, 'quire.epoch': route.epoch });
        // Checked first so an unarmed failpoint costs no await on the hot path.
        if (this.deps.failpoints.isArmed('router.forward.beforeSend')) await this.deps.failpoints.hitAsync('router.forward.beforeSend');
        const result = await this.sendToLeader(route, { partitionId: route.partitionId, epoch: route.epoch, mapRevision: route.mapRevision, op: forwarded, minIndex, traceparent }, write, deadlineMs, span);
        const error = result.result?.$case === 'error' ? result.result.value : undefined;
        // Looked at only after a failure: it walks the keyspace's partitions.
        const momentary = error !== undefined && unavailabilityIsMomentary(ks, partitionId);
        const action = error === undefined ? 'fail' : retryActionFor(error.code, 'node', kind, replicaCountOf(ks, partitionId), hasRequestId, momentary);
        if (error !== undefined && action !== 'fail') span?.addEvent('retry', { 'quire.code': error.code, 'quire.action': action, 'quire.message': error.message });
        if (error === undefined || action === 'fail') {
          outcome = 'routed';
          return answer(result.result);
        }
        if (write && error.code === 'AMBIGUOUS_RESULT') ambiguous ??= result.result;
        hold ??= this.beginHold(keyspace, partitionId, route.epoch, error.code, deadlineMs);
        // The first routing refusal is retried even without a failover wait (the router always did).
        const firstRefresh = action === 'refresh' && refreshes === 0;
        if (!firstRefresh && (hold === undefined || clock.monotonicMs() >= hold.untilMs)) {
          outcome = 'timed_out';
          return answer(result.result);
        }
        this.resentByPartition.add(1, { keyspace, partition: String(route.partitionId), code: error.code });
        if (write && error.code === 'AMBIGUOUS_RESULT') {
          this.ambiguousResends.add(1);
          this.deps.log.debug('Resending a write with a request id after an ambiguous result', { partitionId: route.partitionId, epoch: route.epoch, nodeId: route.nodeId });
          // A deliberately broken build for the chaos suite: the resend loses its id (docs/testing.md, failpoints).
          if (forwarded !== undefined && forwarded.$case !== 'get' && this.deps.failpoints.isOn('router.resend.dropRequestId')) {
            forwarded = { ...forwarded, value: { ...forwarded.value, requestId: Buffer.alloc(0) } } as Operation['op'];
          }
        }
        const untilMs = firstRefresh || hold === undefined ? deadlineMs : hold.untilMs;
        if (action === 'refresh') {
          refreshes++;
          this.staleRetries.add(1);
          this.deps.log.debug('Retrying after a routing error', { code: error.code, partitionId: route.partitionId, nodeRevision: error.mapRevision });
          await this.catchUp(error.mapRevision, route.mapRevision, untilMs);
        } else {
          await this.waitForViewChange(route.mapRevision, Math.min(resendPauseMsFor(error.code, error.retryAfterMs, momentary), untilMs - clock.monotonicMs()));
        }
      }
    } catch (err) {
      // A routing failure after an ambiguous attempt (no leader within the wait): still unknown.
      if (ambiguous !== undefined) return { id: op.id, result: ambiguous };
      throw err;
    } finally {
      if (hold !== undefined) this.endHold(hold, outcome, route);
    }
  }

  /**
   * Sends one operation to the partition leader on `route` and resolves with its answer, or —
   * as soon as the view shows the route superseded (routeSuperseded: another leader, or the
   * node's lease gone) — with AMBIGUOUS_RESULT for a write (it may have been applied) or
   * UNAVAILABLE for a read, which route() then resends to the next leader like any other lost
   * attempt. The late answer of an abandoned attempt is dropped.
   */
  private async sendToLeader(route: Route, op: Parameters<NodeConnection['send']>[0], write: boolean, deadlineMs: number, span: Span | undefined): Promise<OperationResult> {
    const sent = this.deps.pool.get(route.address).send(op, write, deadlineMs);
    let resolve: (result: OperationResult) => void = () => undefined;
    const abandoned = new Promise<OperationResult>((r) => {
      resolve = r;
    });
    const release = this.track({
      route,
      abandon: (reason) => {
        span?.addEvent('abandoned', { 'quire.node': route.nodeId, 'quire.reason': reason });
        const message = `Stopped waiting for ${route.nodeId}: ${reason}; ${write ? 'the write may have been applied' : 'the read was not answered'}`;
        const details = { partitionId: route.partitionId, epoch: route.epoch };
        const err = write ? new AmbiguousResultError(message, details) : new UnavailableError(message, details);
        resolve({ id: 0, result: { $case: 'error', value: toErrorInfo(err) } });
      },
    });
    try {
      return await Promise.race([sent, abandoned]);
    } finally {
      release();
    }
  }

  /** Registers an attempt in flight; returns the function that removes it. */
  private track(attempt: Attempt): () => void {
    const key = `${attempt.route.keyspace}/${attempt.route.partitionId}`;
    let set = this.attempts.get(key);
    if (set === undefined) {
      set = new Set();
      this.attempts.set(key, set);
    }
    set.add(attempt);
    return () => {
      const current = this.attempts.get(key);
      if (current === undefined) return;
      current.delete(attempt);
      if (current.size === 0) this.attempts.delete(key);
    };
  }

  /** Lets go of every attempt in flight whose route the view superseded (one log line per partition and reason). */
  private abandonSuperseded(): void {
    if (this.attempts.size === 0) return;
    const view = this.deps.map.view;
    for (const set of this.attempts.values()) {
      let logged: string | undefined;
      for (const attempt of [...set]) {
        const reason = routeSuperseded(view, attempt.route);
        if (reason === undefined) continue;
        set.delete(attempt);
        this.abandonedAttempts.add(1);
        if (logged !== reason) {
          logged = reason;
          this.deps.log.info('Stopped waiting for a partition leader that was replaced or lost its lease; sending its requests on', { reason, nodeId: attempt.route.nodeId, partitionId: attempt.route.partitionId, epoch: attempt.route.epoch });
        }
        attempt.abandon(reason);
      }
    }
  }

  /**
   * Starts a request's failover wait, or returns undefined when there is no time to wait
   * (a failover wait of 0, or the deadline has passed). Logs once per partition and epoch.
   */
  private beginHold(keyspace: string, partitionId: number, epoch: number, code: string, deadlineMs: number): Hold | undefined {
    const nowMs = this.deps.clock.monotonicMs();
    const untilMs = holdUntilMs(nowMs, this.settings.failoverWaitMs, deadlineMs);
    if (untilMs <= nowMs) return undefined;
    const key = `${keyspace}/${partitionId}`;
    let held = this.heldPartitions.get(key);
    if (held === undefined || held.epoch !== epoch) {
      this.deps.log.info('Holding requests for a partition without a usable leader', { keyspace, partitionId, epoch, code, failoverWaitMs: this.settings.failoverWaitMs });
      const requests = held?.requests ?? 0;
      held = { epoch, sinceMs: nowMs, requests, resolvedLogged: false, timedOutLogged: false };
      this.heldPartitions.set(key, held);
    }
    held.requests++;
    this.heldByPartition.add(1, { keyspace, partition: String(partitionId) });
    return { keyspace, partitionId, startedMs: nowMs, untilMs };
  }

  /** Ends a request's failover wait: metrics, and one log line per partition when it resolves. */
  private endHold(hold: Hold, outcome: HoldOutcome, route: Route | undefined): void {
    const nowMs = this.deps.clock.monotonicMs();
    this.failoverWaits.add(1, holdOutcomeAttributes[outcome]);
    this.failoverWaitDurations.record(nowMs - hold.startedMs, holdOutcomeAttributes[outcome]);
    const key = `${hold.keyspace}/${hold.partitionId}`;
    const held = this.heldPartitions.get(key);
    if (held === undefined) return;
    const fields = { keyspace: hold.keyspace, partitionId: hold.partitionId, heldMs: Math.round(nowMs - held.sinceMs) };
    if (outcome === 'routed' && !held.resolvedLogged) {
      held.resolvedLogged = true;
      this.deps.log.info('Sending held requests to the partition leader', { ...fields, epoch: route?.epoch, nodeId: route?.nodeId });
    } else if (outcome === 'timed_out' && !held.timedOutLogged) {
      held.timedOutLogged = true;
      this.deps.log.warn('Held requests ran out of failover wait without a usable partition leader', { ...fields, epoch: held.epoch, failoverWaitMs: this.settings.failoverWaitMs });
    }
    held.requests--;
    if (held.requests <= 0) this.heldPartitions.delete(key);
  }

  /** The PARTITION_UNAVAILABLE answer of a request that was held until its wait ran out. */
  private heldTooLong(err: QuireError, hold: Hold): QuireError {
    const waitedMs = Math.round(this.deps.clock.monotonicMs() - hold.startedMs);
    return new PartitionUnavailableError(`${err.message}; waited ${waitedMs} ms for a new leader`, err.details, { cause: err });
  }

  /**
   * Resolves on the next change of the view after `sinceRevision` (at once if it already
   * moved), after `maxMs`, or when `signal` aborts, whichever comes first.
   */
  private waitForViewChange(sinceRevision: number, maxMs: number, signal?: AbortSignal): Promise<void> {
    const view = this.deps.map.view;
    if (view.revision !== sinceRevision || maxMs <= 0 || signal?.aborted === true) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        unsubscribe();
        timer.cancel();
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const unsubscribe = view.subscribe(done);
      const timer = this.deps.clock.after(maxMs, done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * Brings the map up to a responder's revision, or gives a lagging responder a moment; never
   * past `untilMs`. If the view did not move, it pauses so a refusal cannot spin.
   */
  private async catchUp(responderRevision: number, routeRevision: number, untilMs: number, signal?: AbortSignal): Promise<void> {
    const clock = this.deps.clock;
    const leftMs = untilMs - clock.monotonicMs();
    if (leftMs <= 0) return;
    if (responderRevision > this.deps.map.view.revision) {
      await abortable(this.deps.map.waitForRevision(responderRevision, Math.min(this.settings.staleMapWaitMs, leftMs)), signal);
      await this.waitForViewChange(routeRevision, Math.min(resendPauseMs, untilMs - clock.monotonicMs()), signal);
    } else {
      await this.waitForViewChange(routeRevision, Math.min(nodeCatchUpWaitMs, leftMs), signal);
    }
  }

  /**
   * Streams the keys of a scan in order; throws a QuireError on failure. A HASH keyspace's
   * partitions are read at once and merged (every partition may hold any key); a RANGE
   * keyspace's partitions hold disjoint, ordered ranges, so only those the scan's bounds touch
   * are read, one after another in key order, with no merge.
   */
  async *scan(request: ScanRequest): AsyncGenerator<KeyValue> {
    const startedMs = this.deps.clock.monotonicMs();
    let code = 'OK';
    try {
      const limits = this.settings.limits;
      const keyspace = resolveKeyspaceName(request.keyspace, limits);
      validateScanBound(request.start, limits, 'start');
      validateScanBound(request.end, limits, 'end');
      validateScanBound(request.prefix, limits, 'prefix');
      if (consistencyOf(request.consistency) !== 'linearizable') {
        throw new InvalidArgumentError('consistency: Scan serves LINEARIZABLE reads only (SESSION and STALE are for Get)', { field: 'consistency' });
      }
      const range = scanRange(request.start, request.end, request.prefix);
      if (range === undefined) return;
      const ks = keyspaceOf(this.deps.map.view, keyspace);
      // A partition that fails ends the whole scan: it aborts this so the others stop waiting.
      const failed = new AbortController();
      let source: AsyncIterable<KeyValue>;
      if (isRangeKeyspace(ks)) {
        // The partition holding the next key is looked up in the current map each time, so a
        // split during the scan changes which partitions the rest of it reads.
        source = this.scanPartitions(keyspace, range.start, range.end, request.limit, request.keysOnly, failed, (view, current, from) => rangeSegmentOf(view, current, from, range.end));
      } else {
        const sources: AsyncIterable<KeyValue>[] = [];
        for (let id = 0; id < ks.record.partitionCount; id++) {
          const segment: RangeSegment = { partitionId: id, end: range.end };
          sources.push(this.scanPartitions(keyspace, range.start, range.end, request.limit, request.keysOnly, failed, () => segment));
        }
        source = mergeOrdered(sources);
      }
      let count = 0;
      for await (const kv of source) {
        yield kv;
        count++;
        if (request.limit !== 0 && count >= request.limit) return;
      }
    } catch (err) {
      code = isQuireError(err) ? err.code : 'INTERNAL';
      throw err;
    } finally {
      this.rpc.record('scan', code, this.deps.clock.monotonicMs() - startedMs);
    }
  }

  /**
   * The keys in [start, end) of the partitions `place` names, in order, resuming after the last
   * key delivered when the router routes again (routing refusal, lost node, no usable leader).
   * `place` names the partition that holds the next key (`from`) in the current view and where
   * its share of the scan ends; a HASH keyspace's scan has one of these per partition, each
   * always naming its partition and `end`, a RANGE keyspace's one for the whole scan, naming
   * the partitions in key order. The placement is computed again on every pass, so after a
   * split the rest of the range is read from the partitions that hold it now.
   *
   * The failover wait starts at the first failure after a delivered key and lasts at most the
   * failover wait and the request timeout (a scan's idle deadline), so it never stays silent
   * for longer than a stalled node would.
   */
  private async *scanPartitions(
    keyspace: string,
    start: Buffer,
    end: Buffer,
    limit: number,
    keysOnly: boolean,
    failed: AbortController,
    place: (view: MetadataView, ks: KeyspaceEntry, from: Buffer) => RangeSegment,
  ): AsyncGenerator<KeyValue> {
    const clock = this.deps.clock;
    const signal = failed.signal;
    let from = start;
    let remaining = limit;
    let hold: Hold | undefined;
    let outcome: HoldOutcome = 'abandoned';
    let route: Route | undefined;
    let refreshes = 0;
    try {
      for (;;) {
        if (signal.aborted) return;
        if (limit !== 0 && remaining <= 0) return;
        // Resuming after the scan's last possible key: nothing is left.
        if (end.length > 0 && Buffer.compare(from, end) >= 0) return;
        const view = this.deps.map.view;
        const ks = keyspaceOf(view, keyspace);
        const segment = place(view, ks, from);
        const partitionId = segment.partitionId;
        try {
          route = routePartition(view, ks, partitionId);
        } catch (err) {
          if (!isQuireError(err) || retryActionFor(err.code, 'route', 'scan', replicaCountOf(ks, partitionId), false) !== 'hold') throw err;
          hold ??= this.beginHold(keyspace, partitionId, epochOf(ks, partitionId), err.code, clock.monotonicMs() + this.settings.requestTimeoutMs);
          if (hold === undefined) throw err;
          if (clock.monotonicMs() >= hold.untilMs) {
            outcome = 'timed_out';
            throw this.heldTooLong(err, hold);
          }
          await this.waitForViewChange(view.revision, Math.min(holdRecheckIntervalMs, hold.untilMs - clock.monotonicMs()), signal);
          continue;
        }
        const target = `data node ${route.nodeId} at ${route.address}`;
        const call = this.deps.pool.get(route.address).client.scan({
          keyspace,
          partitionId,
          epoch: route.epoch,
          mapRevision: route.mapRevision,
          start: from,
          end: segment.end,
          limit: remaining,
          keysOnly,
        });
        const cancel = (): void => {
          call.cancel();
        };
        signal.addEventListener('abort', cancel, { once: true });
        // A leader replaced or without a lease mid-scan: stop reading from it and resume after the last key.
        let supersededBy: string | undefined;
        const release = this.track({
          route,
          abandon: (reason) => {
            supersededBy = reason;
            call.cancel();
          },
        });
        try {
          // A node that sends nothing for a request timeout is stalled; the scan fails rather than hangs.
          const chunks = withIdleTimeout(call as AsyncIterable<{ items: KeyValue[] }>, {
            idleMs: this.settings.requestTimeoutMs,
            clock,
            what: target,
            cancel,
          });
          for await (const chunk of chunks) {
            // The partition delivers again: a wait is over, and a later failure starts a new one.
            refreshes = 0;
            if (hold !== undefined) {
              this.endHold(hold, 'routed', route);
              hold = undefined;
            }
            for (const kv of chunk.items) {
              from = Buffer.concat([kv.key, Buffer.from([0])]);
              if (limit !== 0) remaining--;
              yield kv;
            }
          }
          // The partition's share is read. A RANGE partition whose epoch moved meanwhile may
          // have been narrowed by a split before the node finished: go on after the last key
          // delivered, from the partitions the current map names, rather than from its old end.
          const current = this.deps.map.view.keyspace(keyspace);
          if (current !== undefined && isRangeKeyspace(current) && epochOf(current, partitionId) !== route.epoch) continue;
          if (segment.end.equals(end)) {
            outcome = 'routed';
            return;
          }
          from = segment.end;
          refreshes = 0;
        } catch (err) {
          if (signal.aborted) return;
          const e =
            supersededBy !== undefined
              ? new UnavailableError(`Stopped reading a scan from ${target}: ${supersededBy}`, { partitionId })
              : isQuireError(err)
                ? err
                : fromGrpcError(err, target);
          const momentary = unavailabilityIsMomentary(ks, partitionId);
          const action = retryActionFor(e.code, 'node', 'scan', replicaCountOf(ks, partitionId), false, momentary);
          if (action === 'fail') {
            outcome = 'routed';
            throw e;
          }
          hold ??= this.beginHold(keyspace, partitionId, route.epoch, e.code, clock.monotonicMs() + this.settings.requestTimeoutMs);
          const firstRefresh = action === 'refresh' && refreshes === 0;
          if (!firstRefresh && (hold === undefined || clock.monotonicMs() >= hold.untilMs)) {
            outcome = 'timed_out';
            throw e;
          }
          const untilMs = hold?.untilMs ?? clock.monotonicMs() + this.settings.requestTimeoutMs;
          if (action === 'refresh') {
            refreshes++;
            this.staleRetries.add(1);
            await this.catchUp(e.details.mapRevision ?? 0, route.mapRevision, untilMs, signal);
          } else {
            await this.waitForViewChange(route.mapRevision, Math.min(resendPauseMsFor(e.code, e.details.retryAfterMs, momentary), untilMs - clock.monotonicMs()), signal);
          }
        } finally {
          release();
          signal.removeEventListener('abort', cancel);
          call.cancel();
        }
      }
    } catch (err) {
      // This partition's failure ends the scan: wake the partitions still waiting so the merge closes them now.
      failed.abort();
      throw err;
    } finally {
      if (hold !== undefined) this.endHold(hold, outcome, route);
    }
  }
}

/** Resolves with `promise`, or with undefined as soon as `signal` aborts. */
async function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T | undefined> {
  if (signal === undefined) return promise;
  if (signal.aborted) return undefined;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<undefined>((resolve) => {
    onAbort = () => resolve(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([promise, aborted]);
  } finally {
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
  }
}
