/**
 * QuireClient: the TypeScript client library. Get, Put and Delete are multiplexed over one
 * KV.Stream per router (batched per event-loop turn, matched by id); Scan is a server stream
 * consumed as an async iterator; Admin calls go to the router's proxy.
 *
 * A client is given one router or several (`routers`; an entry may be a DNS name with several
 * addresses) and keeps a connection to every one (router-set.ts). Operations go to one READY
 * router, chosen at random per client and kept while it works; when it dies — its stream
 * breaks, its connection closes, it cannot be reached — in-flight and new operations move to
 * another within each operation's deadline (attempts.ts): reads and unsent operations are sent
 * again, writes with the same request id (the data nodes deduplicate it, so a write is applied at
 * most once), scans resume after the last key they yielded, and Admin reads are sent again.
 *
 * Every failure is a typed QuireError (decoded from the router's ErrorInfo or classified from
 * the transport), so callers branch on `err.code`; `mayHaveTakenEffect(err.code)` (common
 * operation-effect.ts) says whether it may have happened. A write whose outcome is unknown —
 * lost with every router tried, past its deadline after it was sent, answered with something
 * that does not decode — fails with AMBIGUOUS_RESULT, never with a code that says it did not
 * happen. Besides moving between routers the client does not retry: the router retries routing
 * errors, and the caller decides about everything else.
 *
 * Every put and delete carries a request id (RFC 0001 "Request ids and router buffering"):
 * the caller's, or one made here from this client's random 8-byte id and an 8-byte sequence
 * number (big-endian) that never repeats within the client. Data nodes remember recent ids per
 * partition (--dedup-window-ms), so the router — and this client, on another router — may send a
 * write again after an unknown outcome, and a caller may retry one that ended in
 * AMBIGUOUS_RESULT by passing the same id (`newRequestId()`, then `{ requestId }` on every
 * attempt): it is applied at most once.
 *
 * Every client keeps a session (session.ts, RFC 0001 "Follower reads"): it merges the position
 * every get, put and delete answer reflects, and sends the keyspace's positions with SESSION
 * reads, so those — served by followers when they can — see this client's own writes and never
 * go back behind what it read before.
 */
import { SpanKind, SpanStatusCode, context as otelContext, propagation, trace } from '@opentelemetry/api';
import { randomBytes, randomInt } from 'node:crypto';
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import {
  AckPolicy,
  PartitionScheme,
  type ClusterStatusResponse,
  type CreateKeyspaceRequest,
  type CreateKeyspaceResponse,
  type CancelDecommissionResponse,
  type DecommissionNodeResponse,
  type DropKeyspaceResponse,
  type ForgetNodeResponse,
  type ListMovesResponse,
  type RebalanceResponse,
  type DeleteRequest,
  type GetRequest,
  type KeyspaceInfo,
  type ListKeyspacesResponse,
  type Operation,
  type OperationResult,
  type PartitionMap,
  type PutRequest,
  type ScanRequest,
  type SessionPosition,
  type SplitPartitionRequest,
  type SplitPartitionResponse,
  type Staleness,
  type TransferLeaderResponse,
} from '@quire/proto';
import {
  AmbiguousResultError,
  DeadlineExceededError,
  ackPolicyFromName,
  InternalError,
  OverloadedError,
  UnavailableError,
  errorInfoMetadataKey,
  fromErrorInfo,
  fromGrpcError,
  isQuireError,
  isQuireErrorCode,
  readConsistencyOf,
  systemClock,
  validateRequestId,
  withIdleTimeout,
  type AckPolicyName,
  type Consistency,
  type QuireError,
} from '@quire/common';
import { attemptsMaxFor, resendAfter, settlesAmbiguousWrite } from './attempts.js';
import { RouterSet, type RouterConnection } from './router-set.js';
import { routerTargetsOf } from './router-targets.js';
import { SessionToken } from './session.js';


/** The client's tracer: a no-op unless the application registered an OpenTelemetry SDK. */
const clientTracer = trace.getTracer('quire.client');
/** Keys and values: bytes, or strings (encoded as UTF-8). */
export type Bytes = Uint8Array | string;

/** Settings of every keyspace to create; unset ones take the coordinator's defaults. */
export interface KeyspaceReplicationSettings {
  /** Replicas per partition, 1..7 and at most the live data nodes. */
  readonly replicationFactor?: number;
  /** When a partition leader acknowledges a write (RFC 0001). */
  readonly ackPolicy?: AckPolicyName;
  /** The smallest ISR with which a sync leader accepts writes, 1..replicationFactor. */
  readonly minIsr?: number;
}

/** A hash keyspace: partition = xxhash64(key) mod partitions. */
export interface HashKeyspaceSettings extends KeyspaceReplicationSettings {
  /** 'hash' is the default. */
  readonly scheme?: 'hash';
  /** Partitions, 1..4096, fixed for the keyspace's life. */
  readonly partitions: number;
}

/**
 * A range keyspace: each partition holds one contiguous key range, partitions split (splitPartition,
 * or by themselves when large or busy), and scans read only the partitions their bounds touch.
 */
export interface RangeKeyspaceSettings extends KeyspaceReplicationSettings {
  readonly scheme: 'range';
  /**
   * The initial split keys, strictly ascending, each 1..4096 bytes, at most 4095: the keyspace
   * starts with one partition per range ["", k1), [k1, k2), …, [kn, ""). None: one partition.
   */
  readonly splitKeys?: readonly Bytes[];
}

/** Settings of a keyspace to create: hash (the default) or range. */
export type KeyspaceSettings = HashKeyspaceSettings | RangeKeyspaceSettings;

/** What to split: the partition of a range keyspace that holds `at`. */
export interface SplitPartitionOptions {
  /** The range keyspace; the client's keyspace when absent. */
  readonly keyspace?: string;
  /** The split key: the first key of the new partition (1..4096 bytes, not already a boundary). */
  readonly at: Bytes;
  /** When given, the partition that must hold `at` (INVALID_ARGUMENT, field at, when it does not). */
  readonly partitionId?: number;
}

/** Options of a QuireClient. */
export interface QuireClientOptions {
  /**
   * The routers, each `host:port` (a DNS name that resolves to several addresses counts as all
   * of them), `[ipv6]:port` or a gRPC target name such as `dns:///host:port`; at most 32. The
   * client connects to every one and moves to another when the one it uses dies. Give this or
   * `router`.
   */
  readonly routers?: readonly string[];
  /** One router: shorthand for `routers: [router]`. */
  readonly router?: string;
  /** Keyspace used when an operation names none; defaults to "default". */
  readonly keyspace?: string;
  /** Deadline of each operation, moves between routers included. Default 10 000 ms. */
  readonly requestTimeoutMs?: number;
  /**
   * How long an operation waits for some router to be connected. Default 3 000 ms. When no
   * router connects the operation fails UNAVAILABLE (nothing was sent), or DEADLINE_EXCEEDED
   * when the request deadline ended the wait while a router was still connecting.
   */
  readonly connectTimeoutMs?: number;
  /** Most operations in flight (over every router). Default 16 384. */
  readonly opsInFlightMax?: number;
}

/** The result of a get. */
export interface GetResult {
  readonly found: boolean;
  /** The value; empty when not found. */
  readonly value: Buffer;
  /** The key's version (log index of its last write); 0 when not found. */
  readonly version: number;
  /** The key's partition and the log index the answer reflects. */
  readonly position: SessionPosition | undefined;
  /** For SESSION and STALE reads: how stale the answer may be (kv.proto Staleness). */
  readonly staleness: Staleness | undefined;
}

/** Per-operation options. */
export interface OperationOptions {
  readonly keyspace?: string;
}

/** Options of a get. */
export interface GetOptions extends OperationOptions {
  /**
   * linearizable (default): the partition leader. session: any replica that has what this
   * client wrote or read in the keyspace (read-your-writes, monotonic reads). stale: any
   * replica; `staleness` in the result says how stale.
   */
  readonly consistency?: Consistency;
  /** For stale reads: a replica staler than this (ms since it caught up with its leader) refuses, and the leader answers. */
  readonly maxStalenessMs?: number;
}

/** Options of a conditional write. */
export interface WriteOptions extends OperationOptions {
  /** Apply only if the key's current version equals this (0 = only if absent). */
  readonly expectedVersion?: number;
  /**
   * The write's request id: at most 64 bytes naming this one logical write (a longer one fails
   * with INVALID_ARGUMENT); absent: the client makes a fresh one. Pass the same id to retry a
   * write that ended in AMBIGUOUS_RESULT — within the data nodes' dedup window, a retry of a
   * write that was applied gets its first result instead of being applied again. Repeat the
   * same operation with it: the id is not compared with the key or value. An empty id means
   * none (the write is then never resent after an unknown outcome).
   */
  readonly requestId?: Bytes;
}

/** Options of a scan. */
export interface ScanOptions extends OperationOptions {
  readonly prefix?: Bytes;
  /** Inclusive lower bound. */
  readonly start?: Bytes;
  /** Exclusive upper bound. */
  readonly end?: Bytes;
  /** Most keys to return; 0 or undefined = all. */
  readonly limit?: number;
  readonly keysOnly?: boolean;
}

/** One scanned key. */
export interface ScanEntry {
  readonly key: Buffer;
  readonly value: Buffer;
  readonly version: number;
}

const toBuffer = (b: Bytes | undefined): Buffer =>
  b === undefined ? Buffer.alloc(0) : typeof b === 'string' ? Buffer.from(b, 'utf8') : Buffer.from(b.buffer, b.byteOffset, b.byteLength);

/** Bytes of the random client id at the start of every request id a client makes. */
const clientIdBytes = 8;

/** How long a router that failed is passed over while another is READY. */
const routerSuspectMs = 1_000;

type OperationCase = NonNullable<Operation['op']>['$case'];
type ResultOf<C extends OperationCase> = Extract<NonNullable<OperationResult['result']>, { $case: C }>['value'];

/** Whether a gRPC failure carries an error the router decided (quire-error-bin), rather than coming from the transport. */
function carriesQuireError(err: unknown): boolean {
  const metadata = (err as Partial<ServiceError> | undefined)?.metadata;
  return metadata instanceof Metadata && metadata.get(errorInfoMetadataKey).length > 0;
}

/** An AMBIGUOUS_RESULT that says what happened after the first ambiguous attempt, too. */
function stillAmbiguous(first: QuireError, last: QuireError | undefined): QuireError {
  if (last === undefined || last === first) return first;
  return new AmbiguousResultError(`${first.message}; sending it again with its request id did not settle it: ${last.message}`, first.details, { cause: last });
}

/** A connection to a Quire cluster through one or more routers. */
export class QuireClient {
  private readonly routers: RouterSet;
  private readonly keyspace: string;
  private readonly requestTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly opsInFlightMax: number;
  private readonly attemptsMax: number;
  /** Gets, puts and deletes not yet answered. */
  private operationsInFlight = 0;
  private closed = false;
  /** Random, chosen once per client: the first half of every request id it makes. */
  private readonly clientId: Buffer = randomBytes(clientIdBytes);
  /** The sequence number of the last request id made (the second half). */
  private requestSequence = 0n;
  /** This client's session: the positions its answers reflected (SESSION reads). */
  private readonly session = new SessionToken();

  /** Throws INVALID_ARGUMENT (field `routers` or `router`) when the routers are not given right. */
  constructor(options: QuireClientOptions) {
    const targets = routerTargetsOf(options);
    this.keyspace = options.keyspace ?? '';
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 3_000;
    this.opsInFlightMax = options.opsInFlightMax ?? 16_384;
    this.attemptsMax = attemptsMaxFor(targets.length);
    this.routers = new RouterSet(
      targets,
      {
        connectTimeoutMs: this.connectTimeoutMs,
        opsInFlightMax: this.opsInFlightMax,
        batchOpsMax: 1024,
        deadlineCheckIntervalMs: 100,
        routerSuspectMs,
      },
      systemClock,
      // Clients start on different routers, so load spreads and one router's death moves only its share.
      randomInt(targets.length),
    );
  }

  /** The router entries this client was given, in order. */
  get routerTargets(): string[] {
    return this.routers.targets;
  }

  /** The router entry operations go to now (it changes when that router fails). */
  get activeRouter(): string {
    return this.routers.preferredTarget;
  }

  /**
   * Returns a new request id (16 bytes: this client's random id, then a sequence number), for
   * a caller that wants to retry a write itself: pass it as `requestId` on every attempt.
   */
  newRequestId(): Buffer {
    this.requestSequence++;
    const id = Buffer.allocUnsafe(clientIdBytes + 8);
    this.clientId.copy(id, 0);
    id.writeBigUInt64BE(this.requestSequence, clientIdBytes);
    return id;
  }

  /** The caller's request id (validated), or a new one. */
  private requestIdOf(options: WriteOptions): Buffer {
    if (options.requestId === undefined) return this.newRequestId();
    const id = toBuffer(options.requestId);
    validateRequestId(id);
    return id;
  }

  /**
   * A READY router, waiting at most the connect timeout and never past `deadlineMs`; when none
   * becomes READY, the error to fail with (nothing was sent): UNAVAILABLE when every router's
   * connection attempts failed or the connect timeout ran out, DEADLINE_EXCEEDED when the
   * deadline cut short a wait for a router still connecting.
   */
  private async readyRouter(deadlineMs: number): Promise<RouterConnection | QuireError> {
    const connectDeadlineMs = systemClock.monotonicMs() + this.connectTimeoutMs;
    const router = await this.routers.ready(Math.min(deadlineMs, connectDeadlineMs));
    if (router !== undefined) return router;
    if (this.closed) return new UnavailableError('The client is closed');
    // ready() returns nothing before its bound unless the client closed: the smaller bound ended the wait.
    if (deadlineMs < connectDeadlineMs && !this.routers.everyRouterFailing()) {
      return new DeadlineExceededError(`No router was ready before the deadline (${this.routers.describe()})`);
    }
    const targets = this.routers.targets;
    if (targets.length === 1) return new UnavailableError(`Cannot reach router at ${targets[0] ?? ''}: not connected within ${Math.min(this.connectTimeoutMs, this.requestTimeoutMs)} ms (channel ${this.routers.describe(false)}; is it running?)`);
    return new UnavailableError(`Cannot reach any router: none connected within ${Math.min(this.connectTimeoutMs, this.requestTimeoutMs)} ms (${this.routers.describe()}; is one running?)`);
  }

  /**
   * Sends a get, put or delete to a READY router and resolves with its result, moving to
   * another router after a failure that allows it (attempts.ts) until the deadline.
   */
  private async run<C extends OperationCase>(op: Extract<NonNullable<Operation['op']>, { $case: C }>, hasRequestId: boolean): Promise<ResultOf<C>> {
    if (this.operationsInFlight >= this.opsInFlightMax) {
      throw new OverloadedError(`${this.operationsInFlight} operations are in flight`, { retryAfterMs: 10, limit: this.opsInFlightMax });
    }
    this.operationsInFlight++;
    // A span per operation, recorded only when the application registered an OpenTelemetry SDK;
    // its W3C traceparent goes with the operation so the router's and data nodes' spans join it.
    const span = clientTracer.startSpan(`quire.${op.$case}`, { kind: SpanKind.CLIENT, attributes: { 'quire.keyspace': op.value.keyspace } });
    let traceparent = '';
    if (span.isRecording()) {
      const carrier: { traceparent?: string } = {};
      propagation.inject(trace.setSpan(otelContext.active(), span), carrier);
      traceparent = carrier.traceparent ?? '';
    }
    try {
      const result = await this.attempt(op, op.$case !== 'get', hasRequestId, systemClock.monotonicMs() + this.requestTimeoutMs, traceparent);
      span.setAttribute('quire.code', 'OK');
      return result;
    } catch (err) {
      const code = isQuireError(err) ? err.code : 'INTERNAL';
      span.setAttribute('quire.code', code);
      span.setStatus({ code: SpanStatusCode.ERROR, message: code });
      throw err;
    } finally {
      span.end();
      this.operationsInFlight--;
    }
  }

  private async attempt<C extends OperationCase>(
    op: Extract<NonNullable<Operation['op']>, { $case: C }>,
    write: boolean,
    hasRequestId: boolean,
    deadlineMs: number,
    traceparent: string,
  ): Promise<ResultOf<C>> {
    /** The first attempt of this write whose outcome is unknown. */
    let ambiguous: QuireError | undefined;
    for (let attempts = 1; ; attempts++) {
      const router = await this.readyRouter(deadlineMs);
      if (isQuireError(router)) throw ambiguous === undefined ? router : stillAmbiguous(ambiguous, router);
      const r = await router.stream.send({ op, traceparent }, write, deadlineMs);
      if (r.local === undefined) return this.answer(op.$case, r.result, ambiguous, router.target);
      const failure = r.local;
      if (write && failure.code === 'AMBIGUOUS_RESULT') ambiguous ??= failure;
      const again = !this.closed && resendAfter({ code: failure.code, write, hasRequestId, attempts, attemptsMax: this.attemptsMax, remainingMs: deadlineMs - systemClock.monotonicMs() });
      if (!again) throw ambiguous === undefined ? failure : stillAmbiguous(ambiguous, failure);
      this.routers.failed(router);
    }
  }

  /**
   * The value of a router's answer, or the error to throw: the router's error as it is, unless
   * an earlier attempt of this write was ambiguous and the answer does not settle it, or it is a
   * write answered with something that does not decode (an unknown code, another kind of
   * result): then AMBIGUOUS_RESULT.
   */
  private answer<C extends OperationCase>(expected: C, result: OperationResult['result'], ambiguous: QuireError | undefined, target: string): ResultOf<C> {
    const write = expected !== 'get';
    if (result?.$case === 'error') {
      const info = result.value;
      const code = isQuireErrorCode(info.code) ? info.code : undefined;
      const error = fromErrorInfo(info);
      if (ambiguous !== undefined && (code === undefined || !settlesAmbiguousWrite(code))) throw stillAmbiguous(ambiguous, error);
      if (write && code === undefined) {
        throw new AmbiguousResultError(`The router at ${target} answered the ${expected} with an unknown error code ${info.code} (${info.message}); it may or may not have been applied`, {}, { cause: error });
      }
      throw error;
    }
    if (result?.$case !== expected) {
      const what = `The router at ${target} answered a ${expected} with ${result === undefined ? 'no result' : `a ${result.$case} result`}`;
      throw write ? new AmbiguousResultError(`${what}; it may or may not have been applied`) : new InternalError(what);
    }
    return result.value as ResultOf<C>;
  }

  /** Reads a key. A missing key is not an error: `found` is false. */
  async get(key: Bytes, options: GetOptions = {}): Promise<GetResult> {
    const keyspace = options.keyspace ?? this.keyspace;
    const consistency = options.consistency ?? 'linearizable';
    const request: GetRequest = {
      keyspace,
      key: toBuffer(key),
      consistency: readConsistencyOf(consistency),
      session: consistency === 'session' ? this.session.positions(keyspace) : [],
      maxStalenessMs: consistency === 'stale' ? (options.maxStalenessMs ?? 0) : 0,
    };
    const r = await this.run({ $case: 'get', value: request }, false);
    this.session.merge(keyspace, r.position);
    return r;
  }

  /** This client's session positions in a keyspace (what its SESSION reads send). */
  sessionPositions(keyspace = this.keyspace): SessionPosition[] {
    return this.session.positions(keyspace);
  }

  /** Writes a key; resolves with its new version once the write is durable. */
  async put(key: Bytes, value: Bytes, options: WriteOptions = {}): Promise<{ version: number }> {
    const request: PutRequest = {
      keyspace: options.keyspace ?? this.keyspace,
      key: toBuffer(key),
      value: toBuffer(value),
      expectedVersion: options.expectedVersion,
      requestId: this.requestIdOf(options),
    };
    const r = await this.run({ $case: 'put', value: request }, request.requestId.length > 0);
    this.session.merge(request.keyspace, r.position);
    return { version: r.version };
  }

  /** Deletes a key; `found` says whether it existed. */
  async delete(key: Bytes, options: WriteOptions = {}): Promise<{ found: boolean; version: number }> {
    const request: DeleteRequest = {
      keyspace: options.keyspace ?? this.keyspace,
      key: toBuffer(key),
      expectedVersion: options.expectedVersion,
      requestId: this.requestIdOf(options),
    };
    const r = await this.run({ $case: 'delete', value: request }, request.requestId.length > 0);
    this.session.merge(request.keyspace, r.position);
    return { found: r.found, version: r.version };
  }

  /**
   * Streams the keys of a range in ascending order. When the router serving it fails (the call
   * breaks without an error the router decided), the scan resumes on another router after the
   * last key it yielded, at most attemptsMax times in a row without a new key; an error the
   * router answered, or the router sending nothing for the request timeout, ends it.
   */
  async *scan(options: ScanOptions = {}): AsyncGenerator<ScanEntry> {
    const request: ScanRequest = {
      keyspace: options.keyspace ?? this.keyspace,
      start: toBuffer(options.start),
      end: toBuffer(options.end),
      prefix: toBuffer(options.prefix),
      limit: options.limit ?? 0,
      consistency: 0,
      keysOnly: options.keysOnly ?? false,
    };
    let yielded = 0;
    let lastKey: Buffer | undefined;
    for (let failures = 0; ; ) {
      if (request.limit > 0 && yielded >= request.limit) return;
      const router = await this.readyRouter(Infinity);
      if (isQuireError(router)) throw router;
      // Resumed at the last key yielded (inclusive: its successor could exceed the key size
      // limit), which is skipped when it comes again.
      const call = router.kv.scan(lastKey === undefined ? request : { ...request, start: lastKey, limit: request.limit === 0 ? 0 : request.limit - yielded + 1 });
      try {
        // A scan may run long, but a router that sends nothing for a request timeout is stalled.
        const chunks = withIdleTimeout(call as AsyncIterable<{ items: ScanEntry[] }>, { idleMs: this.requestTimeoutMs, clock: systemClock, what: `the router at ${router.target}`, cancel: () => call.cancel() });
        for await (const chunk of chunks) {
          for (const item of chunk.items) {
            if (lastKey !== undefined && Buffer.compare(item.key, lastKey) <= 0) continue;
            lastKey = item.key;
            yielded++;
            failures = 0;
            yield item;
            if (request.limit > 0 && yielded >= request.limit) return;
          }
        }
        return;
      } catch (err) {
        if (isQuireError(err) || carriesQuireError(err) || this.closed) throw isQuireError(err) ? err : fromGrpcError(err, `the router at ${router.target}`);
        failures++;
        if (failures >= this.attemptsMax) throw fromGrpcError(err, `the router at ${router.target}`);
        this.routers.failed(router);
      } finally {
        call.cancel();
      }
    }
  }

  /**
   * Calls a unary Admin method on a READY router. A read whose call fails without an error the
   * router decided is sent to another router (at most attemptsMax attempts, within the request
   * timeout); a write (`write`) is never sent twice, and such a failure after it was sent is
   * AMBIGUOUS_RESULT.
   */
  private async unaryAdmin<Res>(write: boolean, invoke: (router: RouterConnection, metadata: Metadata, deadline: Date, cb: (err: ServiceError | null, res: Res) => void) => void): Promise<Res> {
    const deadlineMs = systemClock.monotonicMs() + this.requestTimeoutMs;
    for (let attempts = 1; ; attempts++) {
      const router = await this.readyRouter(deadlineMs);
      if (isQuireError(router)) throw router;
      const remainingMs = deadlineMs - systemClock.monotonicMs();
      try {
        return await new Promise<Res>((resolve, reject) => invoke(router, new Metadata(), new Date(Date.now() + remainingMs), (err, res) => (err ? reject(err) : resolve(res))));
      } catch (err) {
        const target = `the router at ${router.target}`;
        if (write || carriesQuireError(err) || this.closed) throw fromGrpcError(err, target, write);
        const e = fromGrpcError(err, target);
        if (e.code === 'DEADLINE_EXCEEDED' || attempts >= this.attemptsMax || deadlineMs <= systemClock.monotonicMs()) throw e;
        this.routers.failed(router);
      }
    }
  }

  /** Returns the nodes, the coordinator leader and every keyspace's partitions. */
  async clusterStatus(): Promise<ClusterStatusResponse> {
    return this.unaryAdmin(false, (router, md, deadline, cb) => router.admin.clusterStatus({}, md, { deadline }, cb));
  }

  /** Returns one keyspace's partition map. */
  async partitionMap(keyspace = ''): Promise<PartitionMap> {
    const res = await this.unaryAdmin<{ map: PartitionMap | undefined }>(false, (router, md, deadline, cb) => router.admin.getPartitionMap({ keyspace }, md, { deadline }, cb));
    if (res.map === undefined) throw new InternalError('GetPartitionMap returned no map');
    return res.map;
  }

  /**
   * Moves a partition's leadership to another in-sync replica (`to`: a node id; absent: the
   * coordinator picks the live ISR member leading the fewest partitions). Resolves with the
   * new leader and epoch once the change is in etcd. Writes to the partition pause briefly
   * meanwhile; the router retries them, so they do not fail. Never sent twice: when the call
   * fails after it was sent without an answer, it is AMBIGUOUS_RESULT.
   */
  async transferLeader(partitionId: number, options: { readonly keyspace?: string; readonly to?: string } = {}): Promise<TransferLeaderResponse> {
    const request = { keyspace: options.keyspace ?? this.keyspace, partitionId, targetNodeId: options.to ?? '' };
    return this.unaryAdmin<TransferLeaderResponse>(true, (router, md, deadline, cb) => router.admin.transferLeader(request, md, { deadline }, cb));
  }

  /**
   * Creates a keyspace — hash (the default: `{ partitions }`) or range (`{ scheme: 'range',
   * splitKeys }`) — and resolves with its partition map once its partitions have
   * leaders (the coordinator waits up to 5 s; a partition still unled then is retried by the
   * routers like any failover). Unset settings take the coordinator's defaults (its
   * --replication-factor and --ack-policy; min ISR 2 from two replicas on). Fails
   * ALREADY_EXISTS when the name is taken, INVALID_ARGUMENT naming the field for a bad setting
   * (split keys not strictly ascending, say); never sent twice: a call that fails after it was
   * sent without an answer is AMBIGUOUS_RESULT (listKeyspaces tells whether it was created).
   */
  async createKeyspace(name: string, settings: KeyspaceSettings): Promise<PartitionMap> {
    const range = settings.scheme === 'range';
    const request: CreateKeyspaceRequest = {
      keyspace: name,
      scheme: range ? PartitionScheme.PARTITION_SCHEME_RANGE : PartitionScheme.PARTITION_SCHEME_HASH,
      // A range keyspace's count follows from its split keys (0: the coordinator counts them).
      partitionCount: range ? 0 : settings.partitions,
      replicationFactor: settings.replicationFactor ?? 0,
      ackPolicy: settings.ackPolicy === undefined ? AckPolicy.ACK_POLICY_UNSPECIFIED : ackPolicyFromName(settings.ackPolicy),
      minIsr: settings.minIsr ?? 0,
      splitKeys: range ? (settings.splitKeys ?? []).map((k) => toBuffer(k)) : [],
    };
    const res = await this.unaryAdmin<CreateKeyspaceResponse>(true, (router, md, deadline, cb) => router.admin.createKeyspace(request, md, { deadline }, cb));
    if (res.map === undefined) throw new InternalError('CreateKeyspace returned no map');
    return res.map;
  }

  /**
   * Splits the partition of a range keyspace that holds `at` in two: it keeps its id and
   * [start, at), a new partition (the keyspace's next id) takes [at, end), on the same replicas
   * with the same leader; resolves once the map change is in etcd, with both ids, their epoch
   * and the change's map revision. Requests keep working meanwhile: the routers send them to
   * the partition that holds each key. Fails INVALID_ARGUMENT for a hash keyspace or a bad
   * `at` (empty, already a boundary, outside `partitionId`'s range), KEYSPACE_NOT_FOUND,
   * PARTITION_UNAVAILABLE (no live leader), FAILED_PRECONDITION (a move or an earlier split of
   * the partition is still under way; nothing changed); never sent twice: a call that fails
   * after it was sent without an answer is AMBIGUOUS_RESULT (partitionMap tells).
   */
  async splitPartition(options: SplitPartitionOptions): Promise<SplitPartitionResponse> {
    const request: SplitPartitionRequest = {
      keyspace: options.keyspace ?? this.keyspace,
      at: toBuffer(options.at),
      ...(options.partitionId === undefined ? {} : { partitionId: options.partitionId }),
    };
    return this.unaryAdmin<SplitPartitionResponse>(true, (router, md, deadline, cb) => router.admin.splitPartition(request, md, { deadline }, cb));
  }

  /**
   * Drops a keyspace and deletes all its data; resolves with the partition count it had. Fails
   * INVALID_ARGUMENT for `default`, KEYSPACE_NOT_FOUND for an unknown one; never sent twice (a
   * call that fails after it was sent without an answer is AMBIGUOUS_RESULT: listKeyspaces tells).
   */
  async dropKeyspace(name: string): Promise<number> {
    const res = await this.unaryAdmin<DropKeyspaceResponse>(true, (router, md, deadline, cb) => router.admin.dropKeyspace({ keyspace: name }, md, { deadline }, cb));
    return res.partitionCount;
  }

  /** Lists every keyspace with its settings and how many of its partitions have a live leader, sorted by name. */
  async listKeyspaces(): Promise<KeyspaceInfo[]> {
    const res = await this.unaryAdmin<ListKeyspacesResponse>(false, (router, md, deadline, cb) => router.admin.listKeyspaces({}, md, { deadline }, cb));
    return res.keyspaces;
  }

  /**
   * Drains a data node (DecommissionNode): the coordinator moves every replica it holds to
   * other nodes, add before remove; once it holds none (its replicaCount in clusterStatus is 0)
   * it may be stopped. Resolves once the drain is recorded, with the replicas it held then.
   * Fails NODE_NOT_FOUND for an unknown node and FAILED_PRECONDITION when too few nodes would
   * remain for a keyspace's replication factor (nothing changed either way).
   */
  async decommissionNode(nodeId: string): Promise<DecommissionNodeResponse> {
    return this.unaryAdmin<DecommissionNodeResponse>(true, (router, md, deadline, cb) => router.admin.decommissionNode({ nodeId }, md, { deadline }, cb));
  }

  /**
   * Removes a stopped data node that holds no replica from the cluster's records (quire status no
   * longer lists it). Fails FAILED_PRECONDITION while it runs or holds replicas, NODE_NOT_FOUND
   * for an unknown node.
   */
  async forgetNode(nodeId: string): Promise<void> {
    await this.unaryAdmin<ForgetNodeResponse>(true, (router, md, deadline, cb) => router.admin.forgetNode({ nodeId }, md, { deadline }, cb));
  }

  /** Ends a node's drain (moves under way finish or roll back); resolves with whether it was draining. */
  async cancelDecommission(nodeId: string): Promise<boolean> {
    const res = await this.unaryAdmin<CancelDecommissionResponse>(true, (router, md, deadline, cb) => router.admin.cancelDecommission({ nodeId }, md, { deadline }, cb));
    return res.wasDraining;
  }

  /**
   * Plans the replica moves that bring the cluster to its target (dead and draining nodes'
   * replicas away, replica counts within one per node, zones distinct) and starts them, unless
   * `dryRun`; resolves with the moves started (or planned) and how many were already in flight.
   */
  async rebalance(options: { readonly dryRun?: boolean } = {}): Promise<RebalanceResponse> {
    const dryRun = options.dryRun ?? false;
    return this.unaryAdmin<RebalanceResponse>(!dryRun, (router, md, deadline, cb) => router.admin.rebalance({ dryRun }, md, { deadline }, cb));
  }

  /** Lists the replica moves in flight and the most recent finished ones (newest first). */
  async listMoves(): Promise<ListMovesResponse> {
    return this.unaryAdmin<ListMovesResponse>(false, (router, md, deadline, cb) => router.admin.listMoves({}, md, { deadline }, cb));
  }

  /** Closes every router connection; operations in flight fail. */
  close(): void {
    this.closed = true;
    this.routers.close();
  }
}

/** Re-exported so callers can classify errors without importing @quire/common. */
export type { QuireError };
