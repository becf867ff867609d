/**
 * A fake router for the client's tests: a real grpc-js server on 127.0.0.1 serving KV.Stream,
 * KV.Scan and the Admin methods, answering each request as the test says — a result, an
 * ErrorInfo of any code, a raw gRPC status without Quire metadata, bytes that do not decode, or
 * nothing. It records what it received (request ids included), so tests can check what was
 * resent where. Tests only (package.json `files` keeps testing/ out of the package).
 */
import { Server, ServerCredentials, status, type ServerDuplexStream, type ServerUnaryCall, type ServerWritableStream, type sendUnaryData } from '@grpc/grpc-js';
import {
  AckPolicy,
  AdminService,
  ErrorInfo,
  PartitionScheme,
  KVService,
  StreamResponse,
  type ClusterStatusResponse,
  type CreateKeyspaceRequest,
  type CreateKeyspaceResponse,
  type GetPartitionMapResponse,
  type Operation,
  type OperationResult,
  type ScanRequest,
  type ScanResponse,
  type SplitPartitionRequest,
  type SplitPartitionResponse,
  type StreamRequest,
  type TransferLeaderResponse,
} from '@quire/proto';
import { errorClasses, isQuireErrorCode, toErrorInfo, toGrpcStatus } from '@quire/common';

/** How the fake router answers one request. */
export type FakeAnswer =
  /** A successful result (a get finds the key with value "v", version 1; a write gets version 1). */
  | { readonly kind: 'ok' }
  /** An ErrorInfo (stream) or a status with Quire metadata (unary, scan) of this code; an unknown code is sent as it is. */
  | { readonly kind: 'error'; readonly code: string }
  /** The stream, call or scan ends with this gRPC status and no Quire metadata (OK: the stream just ends). */
  | { readonly kind: 'status'; readonly status: status }
  /** A result of another kind than the operation asked for (stream only). */
  | { readonly kind: 'wrong-result' }
  /** A response message whose bytes do not decode (stream only). */
  | { readonly kind: 'garbage' }
  /** No answer at all. */
  | { readonly kind: 'hang' };

/** What a request looked like, as the fake router received it. */
export interface ReceivedRequest {
  readonly method: 'get' | 'put' | 'delete' | 'scan' | 'clusterStatus' | 'getPartitionMap' | 'transferLeader' | 'createKeyspace' | 'splitPartition';
  /** Request id of a put or delete, hex ('' for none or another method). */
  readonly requestId: string;
  /** The scan request, for scans. */
  readonly scan?: ScanRequest;
  /** The request of an Admin call that changes state (createKeyspace, splitPartition). */
  readonly admin?: CreateKeyspaceRequest | SplitPartitionRequest;
}

/** Decides the answer to each request; `scanKeys` are the keys a successful scan yields (values "v"). */
export interface FakeRouterBehaviour {
  answer(request: ReceivedRequest): FakeAnswer;
  /** Keys a scan returns, in order, before its answer applies (default: none). */
  readonly scanKeys?: (request: ScanRequest) => string[];
}

const garbage = Buffer.from([0x0a, 0xff, 0xff, 0xff]);

function okResult(op: Operation): OperationResult['result'] {
  switch (op.op?.$case) {
    case 'get':
      return { $case: 'get', value: { found: true, value: Buffer.from('v'), version: 1, position: undefined, staleness: undefined } };
    case 'put':
      return { $case: 'put', value: { version: 1, position: undefined } };
    default:
      return { $case: 'delete', value: { found: true, version: 1, position: undefined } };
  }
}

function wrongResult(op: Operation): OperationResult['result'] {
  return op.op?.$case === 'get' ? { $case: 'put', value: { version: 1, position: undefined } } : { $case: 'get', value: { found: false, value: Buffer.alloc(0), version: 0, position: undefined, staleness: undefined } };
}

function errorInfoOf(code: string): ErrorInfo {
  return isQuireErrorCode(code) ? toErrorInfo(new errorClasses[code](`fake router says ${code}`)) : { ...toErrorInfo(new errorClasses.INTERNAL('x')), code, message: `fake router says ${code}` };
}

/** The status a unary call or scan fails with for an answer (undefined: succeed). */
function statusOf(answer: FakeAnswer): { code: status; details: string; metadata?: ReturnType<typeof toGrpcStatus>['metadata'] } | undefined {
  switch (answer.kind) {
    case 'error': {
      if (isQuireErrorCode(answer.code)) return toGrpcStatus(new errorClasses[answer.code](`fake router says ${answer.code}`));
      const s = toGrpcStatus(new errorClasses.INTERNAL('x'));
      s.metadata.set('quire-error-bin', Buffer.from(ErrorInfo.encode(errorInfoOf(answer.code)).finish()));
      return s;
    }
    case 'status':
      return { code: answer.status, details: `fake router ends with status ${status[answer.status]}` };
    default:
      return undefined;
  }
}

/** A fake router listening on 127.0.0.1. */
export class FakeRouter {
  readonly received: ReceivedRequest[] = [];
  private readonly streams = new Set<ServerDuplexStream<StreamRequest, StreamResponse>>();

  private constructor(
    private readonly server: Server,
    readonly address: string,
  ) {}

  /** Starts a fake router on `host:port` (port 0: any free one). */
  static async start(behaviour: FakeRouterBehaviour, listen = '127.0.0.1:0'): Promise<FakeRouter> {
    const server = new Server();
    const port = await new Promise<number>((resolve, reject) => server.bindAsync(listen, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    const host = listen.slice(0, listen.lastIndexOf(':'));
    const router = new FakeRouter(server, `${host}:${port}`);
    router.serve(behaviour);
    return router;
  }

  private serve(behaviour: FakeRouterBehaviour): void {
    // The Stream's responses go through our own serializer, so a test can send bytes that do not decode.
    const kvService = { ...KVService, stream: { ...KVService.stream, responseSerialize: (r: StreamResponse & { garbage?: boolean }) => (r.garbage === true ? garbage : Buffer.from(StreamResponse.encode(r).finish())) } };
    this.server.addService(kvService, {
      stream: (call: ServerDuplexStream<StreamRequest, StreamResponse & { garbage?: boolean }>) => {
        this.streams.add(call);
        call.on('close', () => this.streams.delete(call));
        call.on('error', () => this.streams.delete(call));
        call.on('data', (request: StreamRequest) => {
          for (const op of request.operations) {
            const method = op.op?.$case ?? 'get';
            const requestId = op.op?.$case === 'put' || op.op?.$case === 'delete' ? Buffer.from(op.op.value.requestId).toString('hex') : '';
            const received: ReceivedRequest = { method, requestId };
            this.received.push(received);
            const answer = behaviour.answer(received);
            switch (answer.kind) {
              case 'ok':
                call.write({ results: [{ id: op.id, result: okResult(op) }] });
                break;
              case 'error':
                call.write({ results: [{ id: op.id, result: { $case: 'error', value: errorInfoOf(answer.code) } }] });
                break;
              case 'wrong-result':
                call.write({ results: [{ id: op.id, result: wrongResult(op) }] });
                break;
              case 'garbage':
                call.write({ results: [], garbage: true });
                break;
              case 'status':
                if (answer.status === status.OK) call.end();
                else call.emit('error', { code: answer.status, details: `fake router ends the stream with ${status[answer.status]}` });
                break;
              case 'hang':
                break;
            }
          }
        });
      },
      scan: (call: ServerWritableStream<ScanRequest, ScanResponse>) => {
        const received: ReceivedRequest = { method: 'scan', requestId: '', scan: call.request };
        this.received.push(received);
        const keys = behaviour.scanKeys?.(call.request) ?? [];
        if (keys.length > 0) call.write({ items: keys.map((k) => ({ key: Buffer.from(k), value: Buffer.from('v'), version: 1 })) });
        const answer = behaviour.answer(received);
        if (answer.kind === 'hang') return;
        const s = statusOf(answer);
        if (s === undefined || s.code === status.OK) call.end();
        else call.emit('error', s);
      },
    });
    const unary =
      <Req, Res>(method: ReceivedRequest['method'], ok: Res) =>
      (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
        const answer = behaviour.answer({ method, requestId: '' });
        const admin = method === 'createKeyspace' || method === 'splitPartition' ? (call.request as CreateKeyspaceRequest | SplitPartitionRequest) : undefined;
        this.received.push({ method, requestId: '', ...(admin === undefined ? {} : { admin }) });
        if (answer.kind === 'hang') return;
        const s = statusOf(answer);
        if (s === undefined) callback(null, ok);
        else callback(s);
      };
    this.server.addService(AdminService, {
      clusterStatus: unary<unknown, ClusterStatusResponse>('clusterStatus', { clusterId: 'fake', mapRevision: 1, coordinator: undefined, nodes: [], keyspaces: [], moves: [] }),
      getPartitionMap: unary<unknown, GetPartitionMapResponse>('getPartitionMap', { map: undefined }),
      transferLeader: unary<unknown, TransferLeaderResponse>('transferLeader', { leader: 'node-1', epoch: 2 }),
      createKeyspace: unary<unknown, CreateKeyspaceResponse>('createKeyspace', {
        map: { keyspace: 'fake', scheme: PartitionScheme.PARTITION_SCHEME_RANGE, partitionCount: 1, replicationFactor: 1, revision: 2, partitions: [], ackPolicy: AckPolicy.ACK_POLICY_SYNC, minIsr: 1 },
      }),
      splitPartition: unary<unknown, SplitPartitionResponse>('splitPartition', { leftPartitionId: 3, rightPartitionId: 7, epoch: 5, revision: 42 }),
    });
  }

  /** Request ids of the puts and deletes received, in order. */
  get writeIds(): string[] {
    return this.received.filter((r) => r.method === 'put' || r.method === 'delete').map((r) => r.requestId);
  }

  /** Stops at once: every connection and stream breaks, as when the process dies. */
  kill(): void {
    this.server.forceShutdown();
  }
}
