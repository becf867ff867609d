import type { Meter } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import {
  Failpoints,
  loadHashPartitioner,
  nodeKey,
  partitionKey,
  toErrorInfo,
  errorClasses,
  recordOwnsKey,
  type HashPartitioner,
  type LogFields,
  type Logger,
  type MetadataView,
  type QuireErrorCode,
} from '@quire/common';
import { PartitionRecord, type DataNodeScanRequest, type KeyValue, type NodeOperation, type Operation, type OperationResult } from '@quire/proto';
import { ManualClock } from '../../common/src/testing/manual-clock.js';
import { viewOf } from '../../common/src/testing/metadata-fixtures.js';
import { Router, type MapSource, type NodeConnections, type RouterSettings } from './router.js';
import { rangeViewOf, splitInView } from './testing/range-view.js';

// Nodes n1, n2, n3 register in this order, so viewOf gives them ports 7100, 7101, 7102.
const address: Readonly<Record<string, string>> = { n1: '127.0.0.1:7100', n2: '127.0.0.1:7101', n3: '127.0.0.1:7102' };
const nodeOf = (a: string): string => Object.keys(address).find((n) => address[n] === a) ?? a;

type Answer = OperationResult['result'];

/** Data nodes in memory: records what is sent and answers from per-node scripts. */
class FakeNodes implements NodeConnections {
  readonly sent: { node: string; op: Omit<NodeOperation, 'id'>; write: boolean }[] = [];
  /** Answers by node id, taken in order; the last one repeats. */
  readonly answers = new Map<string, Answer[]>();
  /** Keys each node's scan delivers, or the error it fails with. */
  readonly scans = new Map<string, KeyValue[] | QuireErrorCode>();
  readonly scanned: string[] = [];
  /** Nodes that take operations and never answer (paused). */
  readonly paused = new Set<string>();
  /** Every scan request, by node, in the order they were opened. */
  readonly scanRequests: { node: string; request: DataNodeScanRequest }[] = [];
  /** When set, serves every scan (a data node that looks at the request) instead of `scans`. */
  scanWith: ((node: string, request: DataNodeScanRequest) => AsyncGenerator<{ items: KeyValue[] }>) | undefined;

  get(a: string): ReturnType<NodeConnections['get']> {
    const node = nodeOf(a);
    return {
      send: (op, write) => {
        this.sent.push({ node, op, write });
        if (this.paused.has(node)) return new Promise<OperationResult>(() => undefined);
        const script = this.answers.get(node) ?? [];
        const answer = script.length > 1 ? script.shift() : script[0];
        return Promise.resolve({ id: 0, result: answer ?? errorAnswer('INTERNAL', `no answer scripted for ${node}`) });
      },
      client: {
        scan: (request: DataNodeScanRequest) => {
          this.scanned.push(node);
          this.scanRequests.push({ node, request });
          if (this.scanWith !== undefined) return Object.assign(this.scanWith(node, request), { cancel: () => undefined });
          const script = this.scans.get(node) ?? [];
          async function* chunks(): AsyncGenerator<{ items: KeyValue[] }> {
            await Promise.resolve();
            if (typeof script === 'string') throw new errorClasses[script](`${node} failed the scan`);
            yield { items: script };
          }
          return Object.assign(chunks(), { cancel: () => undefined });
        },
      } as unknown as ReturnType<NodeConnections['get']>['client'],
    };
  }
}

function errorAnswer(code: QuireErrorCode, message: string = code, mapRevision = 0): Answer {
  return { $case: 'error', value: toErrorInfo(new errorClasses[code](message, mapRevision === 0 ? {} : { mapRevision })) };
}

const putOk: Answer = { $case: 'put', value: { version: 7, position: { partitionId: 0, index: 7 } } };
const getOk: Answer = { $case: 'get', value: { found: true, value: Buffer.from('v'), version: 7, position: { partitionId: 0, index: 7 }, staleness: undefined } };

/** A MapSource over a view the test mutates; waitForRevision times out on the test's clock. */
function mapOf(view: MetadataView, clock: ManualClock): MapSource {
  return {
    view,
    waitForRevision: (revision, timeoutMs) =>
      new Promise((resolve) => {
        if (view.revision >= revision) return resolve(true);
        const timer = clock.after(timeoutMs, () => {
          unsubscribe();
          resolve(false);
        });
        const unsubscribe = view.subscribe((v) => {
          if (v.revision < revision) return;
          timer.cancel();
          unsubscribe();
          resolve(true);
        });
      }),
  };
}

/** Counters and histograms by name and attributes. */
function recordingMeter(): { meter: Meter; sum(name: string, attributes?: Record<string, string>): number; count(name: string): number } {
  const sums = new Map<string, number>();
  const counts = new Map<string, number>();
  const add = (name: string, value: number, attributes: object = {}): void => {
    const key = `${name} ${JSON.stringify(attributes)}`;
    sums.set(key, (sums.get(key) ?? 0) + value);
    counts.set(name, (counts.get(name) ?? 0) + 1);
  };
  const meter = {
    createCounter: (name: string) => ({ add: (v: number, a?: object) => add(name, v, a) }),
    createHistogram: (name: string) => ({ record: (v: number, a?: object) => add(name, v, a) }),
  } as unknown as Meter;
  return { meter, sum: (name, attributes = {}) => sums.get(`${name} ${JSON.stringify(attributes)}`) ?? 0, count: (name) => counts.get(name) ?? 0 };
}

function recordingLogger(lines: { level: string; message: string; fields: LogFields }[]): Logger {
  const at =
    (level: string) =>
    (message: string, fields: LogFields = {}): void => {
      lines.push({ level, message, fields });
    };
  const log: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), mark: at('info'), child: () => log };
  return log;
}

let partitioner: HashPartitioner | undefined;

/** A router over one partition (or `partitions`) of `default`, led by n1 at epoch 1 with `replicas`. */
async function setup(options: { replicas?: string[]; isr?: string[]; partitions?: number; settings?: Partial<RouterSettings>; view?: MetadataView } = {}) {
  partitioner ??= await loadHashPartitioner();
  const replicas = options.replicas ?? ['n1', 'n2', 'n3'];
  const count = options.partitions ?? 1;
  const view =
    options.view ??
    viewOf({
      keyspaces: { default: count },
      replicationFactors: { default: replicas.length },
      partitions: Array.from({ length: count }, (_, id) => ({ id, leader: 'n1', epoch: 1, replicas, isr: options.isr ?? replicas })),
      live: ['n1', 'n2', 'n3'],
    });
  const clock = new ManualClock();
  const nodes = new FakeNodes();
  const metrics = recordingMeter();
  const lines: { level: string; message: string; fields: LogFields }[] = [];
  const settings: RouterSettings = {
    limits: { keyBytesMax: 1024, valueBytesMax: 1024, streamBatchOpsMax: 4096, streamBatchBytesMax: 4 * 1024 * 1024 } as RouterSettings['limits'],
    requestTimeoutMs: 10_000,
    staleMapWaitMs: 2_000,
    failoverWaitMs: 5_000,
    followerReadTimeoutMs: 500,
    ...options.settings,
  };
  const router = new Router(settings, {
    map: mapOf(view, clock),
    partitioner,
    pool: nodes,
    clock,
    log: recordingLogger(lines),
    meter: metrics.meter,
    failpoints: Failpoints.disabled(),
  });

  /** Lets promises and immediates run (the router awaits between steps). */
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
  };
  /** Advances the clock in 10 ms steps, letting the router run between them. */
  const advance = async (ms: number): Promise<void> => {
    await settle();
    for (let left = ms; left > 0; left -= 10) {
      clock.advance(Math.min(10, left));
      await settle();
    }
  };
  const bump = (): number => view.revision + 1;
  const nodeDown = (nodeId: string): void => view.apply([{ type: 'delete', key: nodeKey(nodeId), modRevision: bump() }], bump());
  const promote = (leader: string, epoch: number, partitionId = 0): void => {
    const rev = bump();
    const value = PartitionRecord.encode({ startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), splitFrom: undefined, keyspace: 'default', partitionId, replicas, leader, epoch, isr: replicas }).finish();
    view.apply([{ type: 'put', kv: { key: partitionKey('default', partitionId), value, createRevision: 2, modRevision: rev } }], rev);
  };
  /** Starts an operation and tracks whether it has finished. */
  const start = (op: Operation['op']) => {
    const state: { result?: OperationResult } = {};
    const done = router.execute({ id: 1, op , traceparent: '' }).then((r) => (state.result = r));
    return { state, done };
  };
  return { view, clock, nodes, metrics, lines, router, settle, advance, nodeDown, promote, start };
}

const put = (key = 'k'): Operation['op'] => ({ $case: 'put', value: { keyspace: 'default', key: Buffer.from(key), value: Buffer.from('v'), requestId: Buffer.alloc(0) } });
const get = (key = 'k'): Operation['op'] => ({ $case: 'get', value: { keyspace: 'default', key: Buffer.from(key), consistency: 0, session: [], maxStalenessMs: 0 } });
const codeOf = (r: OperationResult | undefined): string => (r?.result?.$case === 'error' ? r.result.value.code : (r?.result?.$case ?? 'pending'));
const messageOf = (r: OperationResult | undefined): string => (r?.result?.$case === 'error' ? r.result.value.message : '');

describe('Router failover buffering', () => {
  it('holds a put while the leader is down and sends it to the new leader once the view names it', async () => {
    const t = await setup();
    t.nodes.answers.set('n2', [putOk]);
    t.nodeDown('n1');
    const a = t.start(put('a'));
    const b = t.start(get('b'));
    await t.advance(600);
    expect(t.nodes.sent).toHaveLength(0);
    expect(codeOf(a.state.result)).toBe('pending');

    t.nodes.answers.set('n2', [putOk, getOk]);
    t.promote('n2', 2);
    await Promise.all([a.done, b.done]);
    expect(codeOf(a.state.result)).toBe('put');
    expect(codeOf(b.state.result)).toBe('get');
    expect(t.nodes.sent.map((s) => [s.node, s.op.epoch, s.write])).toEqual([
      ['n2', 2, true],
      ['n2', 2, false],
    ]);
    expect(t.metrics.sum('quire_router_failover_waits', { outcome: 'routed' })).toBe(2);
    expect(t.metrics.sum('quire_router_failover_wait_ms', { outcome: 'routed' })).toBe(1_200);
    expect(t.metrics.sum('quire_router_partition_held_requests', { keyspace: 'default', partition: '0' })).toBe(2);
    // One line when the partition's requests start being held, one when they go out: not one per request.
    expect(t.lines.filter((l) => l.level === 'info').map((l) => [l.message, l.fields.epoch])).toEqual([
      ['Holding requests for a partition without a usable leader', 1],
      ['Sending held requests to the partition leader', 2],
    ]);
  });

  it('answers PARTITION_UNAVAILABLE saying how long it waited when no leader comes within the failover wait', async () => {
    const t = await setup({ settings: { failoverWaitMs: 1_000 } });
    t.nodeDown('n1');
    const a = t.start(put());
    await t.advance(990);
    expect(codeOf(a.state.result)).toBe('pending');
    await t.advance(20);
    await a.done;
    expect(codeOf(a.state.result)).toBe('PARTITION_UNAVAILABLE');
    expect(messageOf(a.state.result)).toBe('Partition default/0 is on node n1, which is down; waited 1000 ms for a new leader');
    expect(t.nodes.sent).toHaveLength(0);
    expect(t.metrics.sum('quire_router_failover_waits', { outcome: 'timed_out' })).toBe(1);
    expect(t.lines.filter((l) => l.level === 'warn').map((l) => l.message)).toEqual(['Held requests ran out of failover wait without a usable partition leader']);
  });

  it('never holds a request past its own deadline', async () => {
    const t = await setup({ settings: { failoverWaitMs: 60_000, requestTimeoutMs: 500 } });
    t.nodeDown('n1');
    const a = t.start(get());
    await t.advance(520);
    await a.done;
    expect(messageOf(a.state.result)).toMatch(/waited 500 ms for a new leader$/);
  });

  it('retries NOT_LEADER as often as the view moves within the wait, catching the map up each time', async () => {
    const t = await setup();
    const rev = t.view.revision;
    // n1 knows a newer map; n2 is then named but still behind, and finally points at n3.
    t.nodes.answers.set('n1', [errorAnswer('NOT_LEADER', 'n1 stepped down', rev + 1)]);
    t.nodes.answers.set('n2', [errorAnswer('NOT_LEADER', 'n2 not ready', rev + 1), errorAnswer('NOT_LEADER', 'n2 handed over', rev + 2)]);
    t.nodes.answers.set('n3', [putOk]);
    const a = t.start(put());
    await t.settle();
    expect(t.nodes.sent.map((s) => s.node)).toEqual(['n1']);
    t.promote('n2', 2);
    await t.settle();
    expect(t.nodes.sent.map((s) => s.node)).toEqual(['n1', 'n2']);
    // n2 is behind the router's map: it gets 100 ms before the operation is sent again.
    await t.advance(100);
    expect(t.nodes.sent.map((s) => s.node)).toEqual(['n1', 'n2', 'n2']);
    t.promote('n3', 3);
    await a.done;
    expect(codeOf(a.state.result)).toBe('put');
    expect(t.nodes.sent.map((s) => [s.node, s.op.epoch])).toEqual([
      ['n1', 1],
      ['n2', 2],
      ['n2', 2],
      ['n3', 3],
    ]);
    expect(t.metrics.sum('quire_router_stale_map_retries')).toBe(3);
    expect(t.metrics.sum('quire_router_failover_waits', { outcome: 'routed' })).toBe(1);
  });

  it('answers the routing error once the wait runs out with the view still stale', async () => {
    const t = await setup({ settings: { failoverWaitMs: 300 } });
    t.nodes.answers.set('n1', [errorAnswer('NOT_LEADER')]);
    const a = t.start(put());
    await t.advance(400);
    await a.done;
    expect(codeOf(a.state.result)).toBe('NOT_LEADER');
    // The node is not ahead of the router, so each retry waits 100 ms: three retries within 300 ms.
    expect(t.nodes.sent).toHaveLength(4);
    expect(t.metrics.sum('quire_router_failover_waits', { outcome: 'timed_out' })).toBe(1);
  });

  it('still retries one routing error with a failover wait of 0, and holds nothing', async () => {
    const t = await setup({ settings: { failoverWaitMs: 0 } });
    t.nodes.answers.set('n1', [errorAnswer('STALE_EPOCH')]);
    const a = t.start(put());
    await t.advance(300);
    await a.done;
    expect(codeOf(a.state.result)).toBe('STALE_EPOCH');
    expect(t.nodes.sent).toHaveLength(2);
    expect(t.metrics.count('quire_router_failover_waits')).toBe(0);

    t.nodeDown('n1');
    const b = t.start(put());
    await b.done;
    expect(messageOf(b.state.result)).toBe('Partition default/0 is on node n1, which is down');
  });

  // The map's ISR is the leader alone: a PARTITION_UNAVAILABLE for want of in-sync followers is not momentary.
  it.each(['AMBIGUOUS_RESULT', 'DEADLINE_EXCEEDED', 'OVERLOADED', 'PARTITION_UNAVAILABLE'] as const)('passes %s on a put through unchanged, without retrying', async (code) => {
    const t = await setup({ isr: ['n1'] });
    t.nodes.answers.set('n1', [errorAnswer(code, `the node said ${code}`)]);
    const a = t.start(put());
    await t.advance(1_000);
    await a.done;
    expect(codeOf(a.state.result)).toBe(code);
    expect(messageOf(a.state.result)).toBe(`the node said ${code}`);
    expect(t.nodes.sent).toHaveLength(1);
    expect(t.metrics.count('quire_router_failover_waits')).toBe(0);
  });

  it('sends a put refused PARTITION_UNAVAILABLE again while the map shows an ISR of min_isr that the leader has not confirmed yet', async () => {
    const t = await setup();
    t.nodes.answers.set('n1', [errorAnswer('PARTITION_UNAVAILABLE', 'Partition 0 has 1 in-sync replicas [n1], fewer than min_isr 2'), putOk]);
    const a = t.start(put());
    await t.advance(300);
    await a.done;
    expect(codeOf(a.state.result)).toBe('put');
    expect(t.nodes.sent).toHaveLength(2);
  });

  it('sends a put again after UNAVAILABLE (it was never sent) and a get after its node was lost', async () => {
    const t = await setup();
    t.nodes.answers.set('n1', [errorAnswer('UNAVAILABLE'), putOk]);
    const a = t.start(put());
    await t.advance(50);
    await a.done;
    expect(codeOf(a.state.result)).toBe('put');
    expect(t.nodes.sent.map((s) => s.node)).toEqual(['n1', 'n1']);

    t.nodes.answers.set('n1', [errorAnswer('AMBIGUOUS_RESULT')]);
    t.nodes.answers.set('n2', [getOk]);
    const b = t.start(get());
    await t.settle();
    t.nodeDown('n1');
    t.promote('n2', 2);
    await b.done;
    expect(codeOf(b.state.result)).toBe('get');
    expect(t.nodes.sent.map((s) => s.node)).toEqual(['n1', 'n1', 'n1', 'n2']);
  });

  it('fails at once when the node of a single-replica partition is down (no failover will come)', async () => {
    const t = await setup({ replicas: ['n1'] });
    t.nodeDown('n1');
    const a = t.start(put());
    await a.done;
    expect(codeOf(a.state.result)).toBe('PARTITION_UNAVAILABLE');
    expect(messageOf(a.state.result)).toBe('Partition default/0 is on node n1, which is down');
    expect(t.clock.monotonicMs()).toBe(0);
    expect(t.metrics.count('quire_router_failover_waits')).toBe(0);
  });
});

describe('Router resending writes with a request id', () => {
  const requestId = Buffer.from('0123456789abcdef');
  const putWithId = (key = 'k', id: Buffer = requestId): Operation['op'] => ({
    $case: 'put',
    value: { keyspace: 'default', key: Buffer.from(key), value: Buffer.from('v'), requestId: id },
  });
  const deleteWithId = (key = 'k'): Operation['op'] => ({ $case: 'delete', value: { keyspace: 'default', key: Buffer.from(key), requestId } });

  it('resends a put answered AMBIGUOUS_RESULT to the new leader, with the same request id, and answers its result', async () => {
    const t = await setup();
    t.nodes.answers.set('n1', [errorAnswer('AMBIGUOUS_RESULT', 'lost the stream to n1')]);
    t.nodes.answers.set('n2', [putOk]);
    const a = t.start(putWithId());
    await t.advance(200);
    expect(codeOf(a.state.result)).toBe('pending');
    t.nodeDown('n1');
    t.promote('n2', 2);
    await a.done;
    expect(codeOf(a.state.result)).toBe('put');
    const sent = t.nodes.sent.map((s) => [s.node, s.op.epoch, s.op.op?.$case === 'put' ? s.op.op.value.requestId.toString() : '']);
    expect(sent[0]).toEqual(['n1', 1, requestId.toString()]);
    expect(sent.at(-1)).toEqual(['n2', 2, requestId.toString()]);
    expect(t.metrics.sum('quire_router_ambiguous_write_resends')).toBe(sent.length - 1);
    expect(t.metrics.sum('quire_router_failover_waits', { outcome: 'routed' })).toBe(1);
  });

  it('resends a delete too, and a put whose first resend was lost again', async () => {
    const t = await setup();
    t.nodes.answers.set('n1', [errorAnswer('AMBIGUOUS_RESULT'), errorAnswer('AMBIGUOUS_RESULT'), { $case: 'delete', value: { found: true, version: 9, position: { partitionId: 0, index: 9 } } }]);
    const a = t.start(deleteWithId());
    await t.advance(200);
    await a.done;
    expect(codeOf(a.state.result)).toBe('delete');
    expect(t.nodes.sent).toHaveLength(3);
  });

  it('answers AMBIGUOUS_RESULT, not the last resend error, when the failover wait runs out', async () => {
    const t = await setup({ settings: { failoverWaitMs: 1_000 } });
    t.nodes.answers.set('n1', [errorAnswer('AMBIGUOUS_RESULT', 'lost the stream to n1'), errorAnswer('UNAVAILABLE', 'n1 is unreachable')]);
    const a = t.start(putWithId());
    await t.advance(1_100);
    await a.done;
    expect(codeOf(a.state.result)).toBe('AMBIGUOUS_RESULT');
    expect(messageOf(a.state.result)).toBe('lost the stream to n1');
    expect(t.nodes.sent.length).toBeGreaterThan(2);
    expect(t.metrics.sum('quire_router_failover_waits', { outcome: 'timed_out' })).toBe(1);
  });

  it('answers AMBIGUOUS_RESULT when no leader comes within the wait after an ambiguous attempt', async () => {
    const t = await setup({ settings: { failoverWaitMs: 1_000 } });
    t.nodes.answers.set('n1', [errorAnswer('AMBIGUOUS_RESULT', 'n1 changed leader before acknowledging')]);
    const a = t.start(putWithId());
    await t.settle();
    t.nodeDown('n1');
    await t.advance(1_100);
    await a.done;
    expect(codeOf(a.state.result)).toBe('AMBIGUOUS_RESULT');
    expect(messageOf(a.state.result)).toBe('n1 changed leader before acknowledging');
    expect(t.nodes.sent).toHaveLength(1);
  });

  it.each([
    ['OVERLOADED', 'AMBIGUOUS_RESULT'],
    ['PARTITION_UNAVAILABLE', 'AMBIGUOUS_RESULT'],
    ['CONDITION_FAILED', 'CONDITION_FAILED'],
  ] as const)('after an ambiguous attempt, a resend answered %s answers %s', async (code, answered) => {
    const t = await setup({ isr: ['n1'] });
    t.nodes.answers.set('n1', [errorAnswer('AMBIGUOUS_RESULT'), errorAnswer(code)]);
    const a = t.start(putWithId());
    await t.advance(100);
    await a.done;
    expect(codeOf(a.state.result)).toBe(answered);
    expect(t.nodes.sent).toHaveLength(2);
  });

  it('with a failover wait of 0, answers AMBIGUOUS_RESULT at once even with a request id', async () => {
    const t = await setup({ settings: { failoverWaitMs: 0 } });
    t.nodes.answers.set('n1', [errorAnswer('AMBIGUOUS_RESULT'), putOk]);
    const a = t.start(putWithId());
    await a.done;
    expect(codeOf(a.state.result)).toBe('AMBIGUOUS_RESULT');
    expect(t.nodes.sent).toHaveLength(1);
  });

  it('refuses a request id longer than 64 bytes before sending anything', async () => {
    const t = await setup();
    const a = t.start(putWithId('k', Buffer.alloc(65)));
    await a.done;
    expect(codeOf(a.state.result)).toBe('INVALID_ARGUMENT');
    expect(messageOf(a.state.result)).toBe('request_id is 65 bytes; the limit is 64 bytes');
    expect(t.nodes.sent).toHaveLength(0);
  });
});

describe('Router: a leader that stops answering (paused, cut off) does not hold requests past its replacement', () => {
  const requestId = Buffer.from('0123456789abcdef');
  const putWithId = (key = 'k'): Operation['op'] => ({ $case: 'put', value: { keyspace: 'default', key: Buffer.from(key), value: Buffer.from('v'), requestId } });

  it('resends a write with a request id to the new leader once the view names another leader, and answers its result', async () => {
    const t = await setup();
    t.nodes.paused.add('n1');
    t.nodes.answers.set('n2', [putOk]);
    const a = t.start(putWithId());
    await t.advance(2_000);
    expect(codeOf(a.state.result)).toBe('pending');
    t.promote('n2', 2);
    await a.done;
    expect(codeOf(a.state.result)).toBe('put');
    expect(t.nodes.sent.map((s) => [s.node, s.op.epoch])).toEqual([
      ['n1', 1],
      ['n2', 2],
    ]);
    expect(t.metrics.sum('quire_router_abandoned_attempts')).toBe(1);
    expect(t.metrics.sum('quire_router_partition_resent_requests', { keyspace: 'default', partition: '0', code: 'AMBIGUOUS_RESULT' })).toBe(1);
    expect(t.lines.some((l) => l.message.startsWith('Stopped waiting for a partition leader') && l.fields.nodeId === 'n1')).toBe(true);
  });

  it('stops waiting as soon as the leader loses its registration, and holds the write until a new leader is named', async () => {
    const t = await setup();
    t.nodes.paused.add('n1');
    t.nodes.answers.set('n2', [putOk]);
    const a = t.start(putWithId());
    await t.advance(100);
    t.nodeDown('n1');
    await t.advance(300);
    expect(codeOf(a.state.result)).toBe('pending');
    expect(t.metrics.sum('quire_router_abandoned_attempts')).toBe(1);
    t.promote('n2', 2);
    await a.done;
    expect(codeOf(a.state.result)).toBe('put');
    expect(t.nodes.sent.map((s) => s.node)).toEqual(['n1', 'n2']);
  });

  it('answers AMBIGUOUS_RESULT at once for a write without a request id (it may have been applied; it cannot be resent)', async () => {
    const t = await setup();
    t.nodes.paused.add('n1');
    const a = t.start(put());
    await t.advance(100);
    t.promote('n2', 2);
    await a.done;
    expect(codeOf(a.state.result)).toBe('AMBIGUOUS_RESULT');
    expect(messageOf(a.state.result)).toBe('Stopped waiting for n1: partition default/0 is led by n2 at epoch 2 now, not by n1; the write may have been applied');
    expect(t.nodes.sent).toHaveLength(1);
  });

  it('sends a read to the new leader', async () => {
    const t = await setup();
    t.nodes.paused.add('n1');
    t.nodes.answers.set('n2', [getOk]);
    const a = t.start(get());
    await t.advance(100);
    t.promote('n2', 2);
    await a.done;
    expect(codeOf(a.state.result)).toBe('get');
    expect(t.nodes.sent.map((s) => s.node)).toEqual(['n1', 'n2']);
  });

  it('keeps waiting through a tenure renewal (a new epoch with the same leader) and through unrelated view changes', async () => {
    const t = await setup();
    t.nodes.paused.add('n1');
    const a = t.start(putWithId());
    await t.advance(100);
    t.promote('n1', 2);
    t.nodeDown('n3');
    await t.advance(100);
    expect(codeOf(a.state.result)).toBe('pending');
    expect(t.metrics.sum('quire_router_abandoned_attempts')).toBe(0);
    expect(t.nodes.sent).toHaveLength(1);
  });
});

describe('Router failover buffering in scans', () => {
  const kv = (key: string): KeyValue => ({ key: Buffer.from(key), value: Buffer.from('v'), version: 1 });
  const collect = async (it: AsyncIterable<KeyValue>): Promise<string[]> => {
    const keys: string[] = [];
    for await (const item of it) keys.push(item.key.toString());
    return keys;
  };
  const scanAll = { keyspace: 'default', start: Buffer.alloc(0), end: Buffer.alloc(0), prefix: Buffer.alloc(0), limit: 0, consistency: 0, keysOnly: false };

  it('holds a partition without a leader and scans it on the new leader', async () => {
    const t = await setup();
    t.nodes.scans.set('n2', [kv('a'), kv('b')]);
    t.nodeDown('n1');
    const keys = collect(t.router.scan(scanAll));
    await t.advance(300);
    expect(t.nodes.scanned).toEqual([]);
    t.promote('n2', 2);
    expect(await keys).toEqual(['a', 'b']);
    expect(t.nodes.scanned).toEqual(['n2']);
    expect(t.metrics.sum('quire_router_failover_waits', { outcome: 'routed' })).toBe(1);
  });

  it('fails at once when another partition fails for good, without waiting out the held one', async () => {
    const t = await setup({ partitions: 2 });
    // Partition 0 is held for a failover; partition 1's node answers an error nobody retries.
    t.nodeDown('n1');
    t.promote('n2', 2, 1);
    t.nodes.scans.set('n2', 'OVERLOADED');
    const failed = collect(t.router.scan(scanAll)).catch((err: unknown) => err);
    await t.settle();
    const err = await failed;
    expect(err).toMatchObject({ code: 'OVERLOADED' });
    expect(t.clock.monotonicMs()).toBe(0);
    expect(t.metrics.sum('quire_router_failover_waits', { outcome: 'abandoned' })).toBe(1);
  });
});

describe('router: SESSION and STALE gets', () => {
  const read = (consistency: number, session: { partitionId: number; index: number }[] = [], key = 'k'): Operation['op'] => ({
    $case: 'get',
    value: { keyspace: 'default', key: Buffer.from(key), consistency, session, maxStalenessMs: 0 },
  });
  const sentGet = (t: Awaited<ReturnType<typeof setup>>, i: number) => {
    const s = t.nodes.sent[i];
    return { node: s?.node, minIndex: s?.op.minIndex, session: s?.op.op?.$case === 'get' ? s.op.op.value.session : undefined };
  };

  it('sends SESSION reads to the in-sync followers in turn with the session index for the key partition, never the token', async () => {
    const t = await setup();
    t.nodes.answers.set('n2', [getOk]);
    t.nodes.answers.set('n3', [getOk]);
    for (let i = 0; i < 4; i++) {
      const r = await t.router.execute({ id: 1, op: read(2, [{ partitionId: 0, index: 5 + i }]), traceparent: '' });
      expect(codeOf(r)).toBe('get');
    }
    expect([0, 1, 2, 3].map((i) => sentGet(t, i))).toEqual([
      { node: 'n2', minIndex: 5, session: [] },
      { node: 'n3', minIndex: 6, session: [] },
      { node: 'n2', minIndex: 7, session: [] },
      { node: 'n3', minIndex: 8, session: [] },
    ]);
    expect(t.metrics.sum('quire_router_follower_reads', { outcome: 'served' })).toBe(4);
  });

  it('asks the next follower and then the leader when followers refuse or cannot be reached', async () => {
    const t = await setup();
    t.nodes.answers.set('n2', [errorAnswer('REPLICA_BEHIND')]);
    t.nodes.answers.set('n3', [errorAnswer('UNAVAILABLE')]);
    t.nodes.answers.set('n1', [getOk]);
    const r = await t.router.execute({ id: 1, op: read(3) , traceparent: '' });
    expect(codeOf(r)).toBe('get');
    expect(t.nodes.sent.map((s) => s.node).sort()).toEqual(['n1', 'n2', 'n3']);
    expect(t.nodes.sent.at(-1)?.node).toBe('n1');
    expect(t.metrics.sum('quire_router_follower_reads', { outcome: 'fallback' })).toBe(2);
  });

  it('ends a read on an argument error from a follower, and linearizable reads go to the leader only', async () => {
    const t = await setup();
    t.nodes.answers.set('n2', [errorAnswer('INVALID_ARGUMENT')]);
    t.nodes.answers.set('n3', [errorAnswer('INVALID_ARGUMENT')]);
    t.nodes.answers.set('n1', [getOk]);
    expect(codeOf(await t.router.execute({ id: 1, op: read(3) , traceparent: '' }))).toBe('INVALID_ARGUMENT');
    expect(t.nodes.sent).toHaveLength(1);
    expect(codeOf(await t.router.execute({ id: 1, op: read(1) , traceparent: '' }))).toBe('get');
    expect(t.nodes.sent.at(-1)?.node).toBe('n1');
  });

  it('refuses an unknown consistency, a bad session and SESSION or STALE scans with INVALID_ARGUMENT naming the field', async () => {
    const t = await setup({ partitions: 4 });
    const refusal = async (op: Operation['op']) => {
      const r = await t.router.execute({ id: 1, op , traceparent: '' });
      return r.result?.$case === 'error' ? [r.result.value.code, r.result.value.field] : ['ok'];
    };
    expect(await refusal(read(9))).toEqual(['INVALID_ARGUMENT', 'consistency']);
    expect(await refusal(read(2, [{ partitionId: 4, index: 1 }]))).toEqual(['INVALID_ARGUMENT', 'session.partition_id']);
    expect(await refusal(read(2, Array.from({ length: 4097 }, () => ({ partitionId: 0, index: 1 }))))).toEqual(['INVALID_ARGUMENT', 'session']);
    expect(t.nodes.sent).toEqual([]);
    const scan = { keyspace: 'default', start: Buffer.alloc(0), end: Buffer.alloc(0), prefix: Buffer.alloc(0), limit: 0, consistency: 3, keysOnly: false };
    const err = await (async () => {
      try {
        for await (const kv of t.router.scan(scan)) void kv;
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'consistency' } });
  });
});

describe('Router: RANGE keyspaces', () => {
  const requestId = Buffer.from('0123456789abcdef');
  const putIn = (key: string): Operation['op'] => ({ $case: 'put', value: { keyspace: 'r', key: Buffer.from(key), value: Buffer.from('v'), requestId } });
  const sessionGet = (key: string, session: { partitionId: number; index: number }[]): Operation['op'] => ({
    $case: 'get',
    value: { keyspace: 'r', key: Buffer.from(key), consistency: 2, session, maxStalenessMs: 0 },
  });
  const notCarved = (retryAfterMs: number): Answer => ({ $case: 'error', value: toErrorInfo(new errorClasses.PARTITION_UNAVAILABLE('partition not carved out of its parent yet', { retryAfterMs })) });
  /** r: 0 = ['', 'm') led by n1, 1 = ['m', '') led by n2; three replicas each. */
  const twoPartitions = (): MetadataView =>
    rangeViewOf(
      [
        {
          name: 'r',
          partitions: [
            { id: 0, start: '', end: 'm', leader: 'n1', replicas: ['n1', 'n2', 'n3'] },
            { id: 1, start: 'm', end: '', leader: 'n2', replicas: ['n2', 'n3', 'n1'] },
          ],
        },
      ],
      ['n1', 'n2', 'n3'],
    );
  const sentTo = (t: Awaited<ReturnType<typeof setup>>) => t.nodes.sent.map((s) => [s.node, s.op.partitionId, s.op.epoch]);

  it('routes by range, and sends a write refused STALE_EPOCH by a partition that split to the partition that holds its key now', async () => {
    const view = twoPartitions();
    const t = await setup({ view });
    t.nodes.answers.set('n1', [putOk]);
    expect(codeOf(await t.router.execute({ id: 1, op: putIn('c'), traceparent: '' }))).toBe('put');
    // n2 has applied the split (1 = ['m', 's'), 2 = ['s', '') at epoch 2) before the router's view shows it.
    t.nodes.answers.set('n2', [errorAnswer('STALE_EPOCH', 'partition r/1 is at epoch 2', view.revision + 1), putOk]);
    const a = t.start(putIn('t'));
    await t.settle();
    expect(sentTo(t)).toEqual([
      ['n1', 0, 1],
      ['n2', 1, 1],
    ]);
    splitInView(view, 'r', 1, 's');
    await a.done;
    expect(codeOf(a.state.result)).toBe('put');
    // The partition was computed from the key again with the new map: never the old id at the new epoch.
    expect(sentTo(t)).toEqual([
      ['n1', 0, 1],
      ['n2', 1, 1],
      ['n2', 2, 2],
    ]);
    expect(t.metrics.sum('quire_router_stale_map_retries')).toBe(1);
  });

  it('sends a write again while the new partition refuses it PARTITION_UNAVAILABLE until its data is carved out, pausing as its leader asks', async () => {
    const view = twoPartitions();
    splitInView(view, 'r', 1, 's');
    const t = await setup({ view });
    t.nodes.answers.set('n2', [notCarved(100), notCarved(100), putOk]);
    const a = t.start(putIn('t'));
    await t.advance(90);
    expect(t.nodes.sent).toHaveLength(1);
    await t.advance(300);
    await a.done;
    expect(codeOf(a.state.result)).toBe('put');
    expect(sentTo(t)).toEqual([
      ['n2', 2, 2],
      ['n2', 2, 2],
      ['n2', 2, 2],
    ]);
  });

  it('passes a write\'s PARTITION_UNAVAILABLE through as before when no split is under way and the map\'s ISR is the leader alone', async () => {
    const view = rangeViewOf(
      [
        {
          name: 'r',
          partitions: [
            { id: 0, start: '', end: 'm', leader: 'n1', replicas: ['n1', 'n2', 'n3'] },
            { id: 1, start: 'm', end: '', leader: 'n2', replicas: ['n2', 'n3', 'n1'], isr: ['n2'] },
          ],
        },
      ],
      ['n1', 'n2', 'n3'],
    );
    const t = await setup({ view });
    t.nodes.answers.set('n2', [notCarved(100), putOk]);
    const a = t.start(putIn('t'));
    await t.advance(300);
    await a.done;
    expect(codeOf(a.state.result)).toBe('PARTITION_UNAVAILABLE');
    expect(t.nodes.sent).toHaveLength(1);
  });

  it('forwards the session index of the partition that holds the key, ignoring positions of partitions this view does not show yet', async () => {
    const view = twoPartitions();
    const t = await setup({ view });
    t.nodes.answers.set('n3', [getOk]);
    t.nodes.answers.set('n1', [getOk]);
    const session = [
      { partitionId: 1, index: 5 },
      { partitionId: 2, index: 9 },
      { partitionId: 7, index: 11 },
    ];
    expect(codeOf(await t.router.execute({ id: 1, op: sessionGet('t', session), traceparent: '' }))).toBe('get');
    splitInView(view, 'r', 1, 's');
    expect(codeOf(await t.router.execute({ id: 1, op: sessionGet('t', session), traceparent: '' }))).toBe('get');
    expect(t.nodes.sent.map((s) => [s.op.partitionId, s.op.minIndex])).toEqual([
      [1, 5],
      [2, 9],
    ]);
  });
});

describe('Router: scans of RANGE keyspaces', () => {
  const kv = (key: string): KeyValue => ({ key: Buffer.from(key), value: Buffer.from(`v-${key}`), version: 1 });
  const scanOf = (start: string, end: string, limit = 0, keysOnly = false) => ({ keyspace: 'r', start: Buffer.from(start), end: Buffer.from(end), prefix: Buffer.alloc(0), limit, consistency: 0, keysOnly });
  const collect = async (it: AsyncIterable<KeyValue>): Promise<string[]> => {
    const keys: string[] = [];
    for await (const item of it) keys.push(item.key.toString());
    return keys;
  };
  const requests = (t: Awaited<ReturnType<typeof setup>>) =>
    t.nodes.scanRequests.map(({ node, request: r }) => [node, r.partitionId, r.epoch, r.start.toString(), r.end.toString(), r.limit]);

  /**
   * Data nodes over one set of keys that serve a scan as Quire's do: the epoch is checked before
   * every chunk (STALE_EPOCH with the node's map revision), chunks of two keys, only keys the
   * partition owns in the map (`view`) now. `beforeChunk` runs before each check, so a test can
   * change the map mid-scan; `uncarved` partitions answer PARTITION_UNAVAILABLE.
   */
  function dataNodes(view: MetadataView, keys: readonly string[], options: { checkEpoch?: boolean } = {}) {
    const state = {
      open: 0,
      openMax: 0,
      uncarved: new Set<number>(),
      beforeChunk: undefined as ((request: DataNodeScanRequest, chunk: number) => void) | undefined,
    };
    const serve = async function* (_node: string, request: DataNodeScanRequest): AsyncGenerator<{ items: KeyValue[] }> {
      state.open++;
      state.openMax = Math.max(state.openMax, state.open);
      try {
        await Promise.resolve();
        let from = request.start.toString();
        let remaining = request.limit === 0 ? Number.POSITIVE_INFINITY : request.limit;
        for (let chunk = 0; remaining > 0; chunk++) {
          state.beforeChunk?.(request, chunk);
          const record = view.keyspace(request.keyspace)?.partitions[request.partitionId]?.record;
          if (record === undefined) throw new errorClasses.WRONG_PARTITION('no such partition', { mapRevision: view.revision });
          if ((options.checkEpoch ?? true) && record.epoch !== request.epoch) throw new errorClasses.STALE_EPOCH(`partition at epoch ${record.epoch}`, { mapRevision: view.revision });
          if (state.uncarved.has(request.partitionId)) throw new errorClasses.PARTITION_UNAVAILABLE('not carved out of its parent yet', { retryAfterMs: 20 });
          const end = request.end.toString();
          const items = keys.filter((k) => k >= from && (end === '' || k < end) && recordOwnsKey(record, Buffer.from(k))).slice(0, Math.min(2, remaining));
          if (items.length === 0) return;
          remaining -= items.length;
          from = `${items[items.length - 1] ?? ''}\0`;
          yield { items: items.map(kv) };
          await Promise.resolve();
        }
      } finally {
        state.open--;
      }
    };
    return { state, serve };
  }

  /** r: 0 = ['', 'g') on n1, 1 = ['p', '') on n2, 2 = ['g', 'p') on n3: ids in creation order, not key order. */
  const threePartitions = (): MetadataView =>
    rangeViewOf(
      [
        {
          name: 'r',
          partitions: [
            { id: 0, start: '', end: 'g', leader: 'n1', replicas: ['n1', 'n2', 'n3'] },
            { id: 1, start: 'p', end: '', leader: 'n2', replicas: ['n2', 'n3', 'n1'] },
            { id: 2, start: 'g', end: 'p', leader: 'n3', replicas: ['n3', 'n1', 'n2'] },
          ],
        },
      ],
      ['n1', 'n2', 'n3'],
    );
  const keys = ['a', 'c', 'h', 'k', 'q', 'z'];

  it('reads only the partitions the bounds touch, one at a time, in key order', async () => {
    const view = threePartitions();
    const t = await setup({ view });
    const nodes = dataNodes(view, keys);
    t.nodes.scanWith = nodes.serve;
    expect(await collect(t.router.scan(scanOf('b', 'l')))).toEqual(['c', 'h', 'k']);
    expect(requests(t)).toEqual([
      ['n1', 0, 1, 'b', 'g', 0],
      ['n3', 2, 1, 'g', 'l', 0],
    ]);
    t.nodes.scanRequests.length = 0;
    expect(await collect(t.router.scan(scanOf('', '')))).toEqual(keys);
    expect(requests(t).map((r) => r.slice(0, 5))).toEqual([
      ['n1', 0, 1, '', 'g'],
      ['n3', 2, 1, 'g', 'p'],
      ['n2', 1, 1, 'p', ''],
    ]);
    expect(nodes.state.openMax).toBe(1);
  });

  it('honours the limit across partitions, asking each only for what is left, and passes keys_only on', async () => {
    const view = threePartitions();
    const t = await setup({ view });
    t.nodes.scanWith = dataNodes(view, keys).serve;
    expect(await collect(t.router.scan(scanOf('', '', 3, true)))).toEqual(['a', 'c', 'h']);
    expect(requests(t)).toEqual([
      ['n1', 0, 1, '', 'g', 3],
      ['n3', 2, 1, 'g', 'p', 1],
    ]);
    expect(t.nodes.scanRequests.every((s) => s.request.keysOnly)).toBe(true);
  });

  it('after STALE_EPOCH from a partition split mid-scan, reads the rest of its range from both partitions, in order, without repeating a key', async () => {
    const view = rangeViewOf([{ name: 'r', partitions: [{ id: 0, start: '', end: '', leader: 'n1', replicas: ['n1', 'n2', 'n3'] }] }], ['n1', 'n2', 'n3']);
    const t = await setup({ view });
    const nodes = dataNodes(view, ['a', 'b', 'c', 'd', 'e', 'f']);
    t.nodes.scanWith = nodes.serve;
    // After two keys, the split at 'd' (0 = ['', 'd'), 1 = ['d', '') at epoch 2) reaches the
    // node; the new partition's leader carves it out after refusing one request.
    nodes.state.beforeChunk = (request, chunk) => {
      if (request.partitionId === 0 && request.epoch === 1 && chunk === 1) {
        splitInView(view, 'r', 0, 'd');
        nodes.state.uncarved.add(1);
      } else if (request.partitionId === 1 && t.nodes.scanRequests.filter((s) => s.request.partitionId === 1).length > 1) {
        nodes.state.uncarved.delete(1);
      }
    };
    const keysScanned = collect(t.router.scan(scanOf('', '')));
    await t.advance(200);
    expect(await keysScanned).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(requests(t)).toEqual([
      ['n1', 0, 1, '', '', 0],
      ['n1', 0, 2, 'b\0', 'd', 0],
      ['n1', 1, 2, 'd', '', 0],
      ['n1', 1, 2, 'd', '', 0],
    ]);
    expect(t.metrics.sum('quire_router_stale_map_retries')).toBe(1);
  });

  it('does not trust a partition that ended normally while a split narrowed it: the rest comes from the current map', async () => {
    const view = rangeViewOf([{ name: 'r', partitions: [{ id: 0, start: '', end: '', leader: 'n1', replicas: ['n1', 'n2', 'n3'] }] }], ['n1', 'n2', 'n3']);
    const t = await setup({ view });
    // A node that stops at its partition's new end without an error.
    const nodes = dataNodes(view, ['a', 'b', 'c', 'd', 'e', 'f'], { checkEpoch: false });
    t.nodes.scanWith = nodes.serve;
    nodes.state.beforeChunk = (request, chunk) => {
      if (request.partitionId === 0 && request.epoch === 1 && chunk === 1) splitInView(view, 'r', 0, 'd');
    };
    expect(await collect(t.router.scan(scanOf('', '')))).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(requests(t).map((r) => r.slice(0, 5))).toEqual([
      ['n1', 0, 1, '', ''],
      ['n1', 0, 2, 'c\0', 'd'],
      ['n1', 1, 2, 'd', ''],
    ]);
  });

  it('fails a scan whose next key no placed partition holds, rather than skipping that range', async () => {
    const view = rangeViewOf([{ name: 'r', partitionCount: 2, partitions: [{ id: 0, start: '', end: 'g', leader: 'n1' }] }], ['n1']);
    const t = await setup({ view });
    t.nodes.scanWith = dataNodes(view, keys).serve;
    const keysSeen: string[] = [];
    const err = await (async () => {
      try {
        for await (const item of t.router.scan(scanOf('', ''))) keysSeen.push(item.key.toString());
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(keysSeen).toEqual(['a', 'c']);
    expect(err).toMatchObject({ code: 'PARTITION_UNAVAILABLE', message: 'No partition of keyspace "r" holding key "g" is placed yet' });
  });
});
