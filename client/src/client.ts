/**
 * QuireClient: the TypeScript client library. Get, Put and Delete are multiplexed over one
 * KV.Stream to the router (batched per event-loop turn, matched by id); Scan is a server
 * stream consumed as an async iterator; Admin calls go to the router's proxy.
 *
 * Every failure is a typed QuireError (decoded from the router's ErrorInfo or classified from
 * the transport), so callers branch on `err.code`. A write whose outcome is unknown fails with
 * AMBIGUOUS_RESULT, never with a plain failure. The client does not retry: the router retries
 * routing errors, and the caller decides about everything else.
 *
 * Every put and delete carries a request id (RFC 0001 "Request ids and router buffering"):
 * the caller's, or one made here from this client's random 8-byte id and an 8-byte sequence
 * number (big-endian) that never repeats within the client. Data nodes remember recent ids per
 * partition (--dedup-window-ms), so the router may resend a write after an unknown outcome,
 * and a caller may retry one that ended in AMBIGUOUS_RESULT by passing the same id
 * (`newRequestId()`, then `{ requestId }` on every attempt): it is applied at most once.
 *
 * Every client keeps a session (session.ts, RFC 0001 "Follower reads"): it merges the position
 * every get, put and delete answer reflects, and sends the keyspace's positions with SESSION
 * reads, so those — served by followers when they can — see this client's own writes and never
 * go back behind what it read before.
 */
import { randomBytes } from 'node:crypto';
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import {
  AdminClient,
  KVClient,
  type ClusterStatusResponse,
  type DeleteRequest,
  type GetRequest,
  type Operation,
  type OperationResult,
  type PartitionMap,
  type PutRequest,
  type SessionPosition,
  type Staleness,
  type StreamRequest,
  type StreamResponse,
  type TransferLeaderResponse,
} from '@quire/proto';
import {
  InternalError,
  clientCredentials,
  createOperationStream,
  fromErrorInfo,
  fromGrpcError,
  grpcClientOptions,
  isQuireError,
  readConsistencyOf,
  systemClock,
  validateRequestId,
  withIdleTimeout,
  type Consistency,
  type MultiplexedStream,
  type QuireError,
} from '@quire/common';
import { SessionToken } from './session.js';

/** Keys and values: bytes, or strings (encoded as UTF-8). */
export type Bytes = Uint8Array | string;

/** Options of a QuireClient. */
export interface QuireClientOptions {
  /** host:port of a router. */
  readonly router: string;
  /** Keyspace used when an operation names none; defaults to "default". */
  readonly keyspace?: string;
  /** Deadline of each operation. Default 10 000 ms. */
  readonly requestTimeoutMs?: number;
  /** How long an operation waits for the router connection. Default 3 000 ms. */
  readonly connectTimeoutMs?: number;
  /** Most operations in flight on the stream. Default 16 384. */
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

/** A connection to a Quire cluster through one router. */
export class QuireClient {
  private readonly kv: KVClient;
  private readonly admin: AdminClient;
  private readonly mux: MultiplexedStream<Operation, OperationResult, StreamRequest, StreamResponse>;
  private readonly keyspace: string;
  private readonly requestTimeoutMs: number;
  /** Random, chosen once per client: the first half of every request id it makes. */
  private readonly clientId: Buffer = randomBytes(clientIdBytes);
  /** The sequence number of the last request id made (the second half). */
  private requestSequence = 0n;
  /** This client's session: the positions its answers reflected (SESSION reads). */
  private readonly session = new SessionToken();

  constructor(options: QuireClientOptions) {
    this.keyspace = options.keyspace ?? '';
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    const kv = new KVClient(options.router, clientCredentials(), grpcClientOptions);
    this.kv = kv;
    // The admin client shares the KV client's channel.
    this.admin = new AdminClient(options.router, clientCredentials(), { ...grpcClientOptions, channelOverride: kv.getChannel() });
    this.mux = createOperationStream(
      kv,
      {
        peer: `router at ${options.router}`,
        connectTimeoutMs: options.connectTimeoutMs ?? 3_000,
        opsInFlightMax: options.opsInFlightMax ?? 16_384,
        batchOpsMax: 1024,
        deadlineCheckIntervalMs: 100,
      },
      systemClock,
    );
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

  private async run(op: Operation['op'], write: boolean): Promise<OperationResult['result']> {
    const result = await this.mux.send({ op, traceparent: '' }, write, systemClock.monotonicMs() + this.requestTimeoutMs);
    if (result.result?.$case === 'error') throw fromErrorInfo(result.result.value);
    return result.result;
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
    if (r?.$case !== 'get') throw new InternalError('The router answered a get with another result');
    this.session.merge(keyspace, r.value.position);
    return r.value;
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
    const r = await this.run({ $case: 'put', value: request }, true);
    if (r?.$case !== 'put') throw new InternalError('The router answered a put with another result');
    this.session.merge(request.keyspace, r.value.position);
    return { version: r.value.version };
  }

  /** Deletes a key; `found` says whether it existed. */
  async delete(key: Bytes, options: WriteOptions = {}): Promise<{ found: boolean; version: number }> {
    const request: DeleteRequest = {
      keyspace: options.keyspace ?? this.keyspace,
      key: toBuffer(key),
      expectedVersion: options.expectedVersion,
      requestId: this.requestIdOf(options),
    };
    const r = await this.run({ $case: 'delete', value: request }, true);
    if (r?.$case !== 'delete') throw new InternalError('The router answered a delete with another result');
    this.session.merge(request.keyspace, r.value.position);
    return { found: r.value.found, version: r.value.version };
  }

  /** Streams the keys of a range in ascending order. */
  async *scan(options: ScanOptions = {}): AsyncGenerator<ScanEntry> {
    const call = this.kv.scan({
      keyspace: options.keyspace ?? this.keyspace,
      start: toBuffer(options.start),
      end: toBuffer(options.end),
      prefix: toBuffer(options.prefix),
      limit: options.limit ?? 0,
      consistency: 0,
      keysOnly: options.keysOnly ?? false,
    });
    try {
      // A scan may run long, but a router that sends nothing for a request timeout is stalled.
      const chunks = withIdleTimeout(call as AsyncIterable<{ items: ScanEntry[] }>, { idleMs: this.requestTimeoutMs, clock: systemClock, what: 'the router', cancel: () => call.cancel() });
      for await (const chunk of chunks) yield* chunk.items;
    } catch (err) {
      throw isQuireError(err) ? err : fromGrpcError(err, 'the router');
    } finally {
      call.cancel();
    }
  }

  private async unaryAdmin<Res>(invoke: (metadata: Metadata, deadline: Date, cb: (err: ServiceError | null, res: Res) => void) => void): Promise<Res> {
    try {
      return await new Promise<Res>((resolve, reject) =>
        invoke(new Metadata(), new Date(Date.now() + this.requestTimeoutMs), (err, res) => (err ? reject(err) : resolve(res))),
      );
    } catch (err) {
      throw fromGrpcError(err, 'the router');
    }
  }

  /** Returns the nodes, the coordinator leader and every keyspace's partitions. */
  async clusterStatus(): Promise<ClusterStatusResponse> {
    return this.unaryAdmin((md, deadline, cb) => this.admin.clusterStatus({}, md, { deadline }, cb));
  }

  /** Returns one keyspace's partition map. */
  async partitionMap(keyspace = ''): Promise<PartitionMap> {
    const res = await this.unaryAdmin<{ map: PartitionMap | undefined }>((md, deadline, cb) => this.admin.getPartitionMap({ keyspace }, md, { deadline }, cb));
    if (res.map === undefined) throw new InternalError('GetPartitionMap returned no map');
    return res.map;
  }

  /**
   * Moves a partition's leadership to another in-sync replica (`to`: a node id; absent: the
   * coordinator picks the live ISR member leading the fewest partitions). Resolves with the
   * new leader and epoch once the change is in etcd. Writes to the partition pause briefly
   * meanwhile; the router retries them, so they do not fail.
   */
  async transferLeader(partitionId: number, options: { readonly keyspace?: string; readonly to?: string } = {}): Promise<TransferLeaderResponse> {
    const request = { keyspace: options.keyspace ?? this.keyspace, partitionId, targetNodeId: options.to ?? '' };
    return this.unaryAdmin<TransferLeaderResponse>((md, deadline, cb) => this.admin.transferLeader(request, md, { deadline }, cb));
  }

  /** Closes the connection; operations in flight fail. */
  close(): void {
    this.mux.close();
    this.kv.close();
  }
}

/** Re-exported so callers can classify errors without importing @quire/common. */
export type { QuireError };
