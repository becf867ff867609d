/**
 * Router: the request logic of a router, independent of gRPC. It validates each operation
 * against the limits (so nothing invalid reaches a data node), routes it by
 * xxhash64(key) mod P to the partition leader in its metadata view, and forwards it over the
 * node's multiplexed stream. On a routing error (WRONG_PARTITION, STALE_EPOCH, NOT_LEADER:
 * the operation definitely did not happen) it brings its map up to the responder's revision
 * and retries exactly once. Scans merge every partition's ordered stream.
 *
 * Retries live here and nowhere else: data nodes never retry, the client library retries
 * nothing on its own.
 */
import type { Counter, Meter } from '@opentelemetry/api';
import type { KeyValue, Operation, OperationResult, ScanRequest } from '@quire/proto';
import {
  InvalidArgumentError,
  RpcMetrics,
  fromGrpcError,
  isQuireError,
  resolveKeyspaceName,
  scanRange,
  toErrorInfo,
  validateKey,
  validateScanBound,
  validateValue,
  withIdleTimeout,
  type Clock,
  type Failpoints,
  type HashPartitioner,
  type Limits,
  type Logger,
  type MetadataView,
} from '@quire/common';
import type { NodePool } from './node-connection.js';
import { keyspaceOf, routeKey, routePartition } from './routing/route.js';
import { mergeOrdered } from './routing/merge.js';

/** Router settings. */
export interface RouterSettings {
  readonly limits: Limits;
  /** Deadline of one operation, from arrival at the router. */
  readonly requestTimeoutMs: number;
  /** How long a retry waits for the map to reach a responder's newer revision. */
  readonly staleMapWaitMs: number;
}

/** What the router needs from its metadata source. */
export interface MapSource {
  readonly view: MetadataView;
  /** Resolves true once the view has reached `revision` (refreshing from etcd if needed). */
  waitForRevision(revision: number, timeoutMs: number): Promise<boolean>;
}

/** Dependencies of the router. */
export interface RouterDeps {
  readonly map: MapSource;
  readonly partitioner: HashPartitioner;
  readonly pool: NodePool;
  readonly clock: Clock;
  readonly log: Logger;
  readonly meter: Meter;
  /** The process's failpoints (router.forward.beforeSend). */
  readonly failpoints: Failpoints;
}

const routingCodes = new Set(['WRONG_PARTITION', 'STALE_EPOCH', 'NOT_LEADER']);

/** How long to give a data node whose map is behind ours before retrying. */
const nodeCatchUpWaitMs = 100;

/** The router's request logic. */
export class Router {
  private readonly rpc: RpcMetrics;
  private readonly staleRetries: Counter;

  constructor(
    private readonly settings: RouterSettings,
    private readonly deps: RouterDeps,
  ) {
    this.rpc = new RpcMetrics(deps.meter, 'router', 'kv');
    this.staleRetries = deps.meter.createCounter('quire_router_stale_map_retries', {
      description: 'Operations retried once after a data node reported a stale or wrong route',
    });
  }

  /** Executes one Get/Put/Delete and resolves with its result; never rejects. */
  async execute(op: Operation): Promise<OperationResult> {
    const startedMs = this.deps.clock.monotonicMs();
    const method = op.op?.$case ?? 'none';
    let result: OperationResult;
    try {
      result = await this.route(op, startedMs + this.settings.requestTimeoutMs);
    } catch (err) {
      result = { id: op.id, result: { $case: 'error', value: toErrorInfo(err) } };
    }
    const code = result.result?.$case === 'error' ? result.result.value.code : 'OK';
    this.rpc.record(method, code, this.deps.clock.monotonicMs() - startedMs);
    return result;
  }

  private async route(op: Operation, deadlineMs: number): Promise<OperationResult> {
    const limits = this.settings.limits;
    const body = op.op;
    if (body === undefined) throw new InvalidArgumentError('operation has no get, put or delete', { field: 'op' });
    const keyspace = resolveKeyspaceName(body.value.keyspace, limits);
    validateKey(body.value.key, limits);
    if (body.$case === 'put') validateValue(body.value.value, limits);
    const write = body.$case !== 'get';
    for (let attempt = 0; ; attempt++) {
      const view = this.deps.map.view;
      const route = routeKey(view, this.deps.partitioner, keyspace, body.value.key);
      // Checked first so an unarmed failpoint costs no await on the hot path.
      if (this.deps.failpoints.isArmed('router.forward.beforeSend')) await this.deps.failpoints.hitAsync('router.forward.beforeSend');
      const result = await this.deps.pool
        .get(route.address)
        .send({ partitionId: route.partitionId, epoch: route.epoch, mapRevision: route.mapRevision, op: body }, write, deadlineMs);
      const error = result.result?.$case === 'error' ? result.result.value : undefined;
      if (error === undefined || attempt > 0 || !routingCodes.has(error.code)) return { id: op.id, result: result.result };
      this.staleRetries.add(1);
      this.deps.log.debug('Retrying after a routing error', { code: error.code, partitionId: route.partitionId, nodeRevision: error.mapRevision });
      await this.catchUp(error.mapRevision);
    }
  }

  /** Brings the map up to a responder's revision, or gives a lagging responder a moment. */
  private async catchUp(responderRevision: number): Promise<void> {
    if (responderRevision > this.deps.map.view.revision) {
      await this.deps.map.waitForRevision(responderRevision, this.settings.staleMapWaitMs);
    } else {
      await new Promise((resolve) => setTimeout(resolve, nodeCatchUpWaitMs));
    }
  }

  /** Streams the keys of a scan in order; throws a QuireError on failure. */
  async *scan(request: ScanRequest): AsyncGenerator<KeyValue> {
    const startedMs = this.deps.clock.monotonicMs();
    let code = 'OK';
    try {
      const limits = this.settings.limits;
      const keyspace = resolveKeyspaceName(request.keyspace, limits);
      validateScanBound(request.start, limits, 'start');
      validateScanBound(request.end, limits, 'end');
      validateScanBound(request.prefix, limits, 'prefix');
      const range = scanRange(request.start, request.end, request.prefix);
      if (range === undefined) return;
      const ks = keyspaceOf(this.deps.map.view, keyspace);
      const sources: AsyncIterable<KeyValue>[] = [];
      for (let id = 0; id < ks.record.partitionCount; id++) {
        sources.push(this.scanPartition(keyspace, id, range.start, range.end, request.limit, request.keysOnly));
      }
      let count = 0;
      for await (const kv of mergeOrdered(sources)) {
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
   * One partition's keys in [start, end), resuming after the last key delivered if a routing
   * error makes the router refresh its map (once).
   */
  private async *scanPartition(keyspace: string, partitionId: number, start: Buffer, end: Buffer, limit: number, keysOnly: boolean): AsyncGenerator<KeyValue> {
    let from = start;
    let remaining = limit;
    for (let attempt = 0; ; attempt++) {
      if (limit !== 0 && remaining <= 0) return;
      const view = this.deps.map.view;
      const route = routePartition(view, keyspaceOf(view, keyspace), partitionId);
      const call = this.deps.pool.get(route.address).client.scan({
        keyspace,
        partitionId,
        epoch: route.epoch,
        mapRevision: route.mapRevision,
        start: from,
        end,
        limit: remaining,
        keysOnly,
      });
      try {
        // A node that sends nothing for a request timeout is stalled; the scan fails rather than hangs.
        const chunks = withIdleTimeout(call as AsyncIterable<{ items: KeyValue[] }>, {
          idleMs: this.settings.requestTimeoutMs,
          clock: this.deps.clock,
          what: `data node ${route.nodeId} at ${route.address}`,
          cancel: () => call.cancel(),
        });
        for await (const chunk of chunks) {
          for (const kv of chunk.items) {
            from = Buffer.concat([kv.key, Buffer.from([0])]);
            if (limit !== 0) remaining--;
            yield kv;
          }
        }
        return;
      } catch (err) {
        const e = isQuireError(err) ? err : fromGrpcError(err, `data node ${route.nodeId} at ${route.address}`);
        if (attempt > 0 || e.retry !== 'refresh-route') throw e;
        this.staleRetries.add(1);
        await this.catchUp(e.details.mapRevision ?? 0);
      } finally {
        call.cancel();
      }
    }
  }
}
