import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metadata, makeGenericClientConstructor, status, type ServiceError } from '@grpc/grpc-js';
import { DataNodeClient, KVClient, type NodeOperation, type OperationResult } from '@quire/proto';
import { clientCredentials, fromGrpcError, type QuireError, loadHashPartitioner } from '@quire/common';
import { startTestCluster, type TestCluster } from './harness/test-cluster.js';

/** Every key, value and version in the keyspace, in order. */
async function snapshot(t: TestCluster): Promise<string[]> {
  const out: string[] = [];
  for await (const e of t.client.scan()) out.push(`${e.key.toString('hex')}=${e.value.toString('hex')}@${e.version}`);
  return out;
}

async function unary<Req, Res>(call: (req: Req, md: Metadata, cb: (err: ServiceError | null, res: Res) => void) => void, req: Req): Promise<ServiceError> {
  return new Promise((resolve, reject) =>
    call(req, new Metadata(), (err) => (err === null ? reject(new Error('Expected an error status')) : resolve(err))),
  );
}

describe('bad input is refused with a precise error and changes nothing', () => {
  let t: TestCluster;
  let kv: KVClient;
  let before: string[];
  beforeAll(async () => {
    t = await startTestCluster('bad-input');
    kv = new KVClient(t.cluster.routerAddress, clientCredentials());
    for (let i = 0; i < 50; i++) await t.client.put(`k${i}`, `v${i}`);
    before = await snapshot(t);
  });
  afterAll(async () => {
    kv?.close();
    await t?.stop();
  });

  const cases: {
    name: string;
    request: { keyspace?: string; key: Buffer; value?: Buffer; requestId?: Buffer; consistency?: number; session?: { partitionId: number; index: number }[] };
    op: 'put' | 'get' | 'delete';
    grpc: status;
    code: string;
    field: string;
    limit?: number;
    message: RegExp;
  }[] = [
    { name: 'empty key', op: 'put', request: { key: Buffer.alloc(0), value: Buffer.from('x') }, grpc: status.INVALID_ARGUMENT, code: 'INVALID_ARGUMENT', field: 'key', message: /key must not be empty.*4096/ },
    { name: 'key of 4097 bytes', op: 'put', request: { key: Buffer.alloc(4097, 1), value: Buffer.from('x') }, grpc: status.INVALID_ARGUMENT, code: 'KEY_TOO_LARGE', field: 'key', limit: 4096, message: /4097 bytes; the limit is 4096/ },
    { name: 'get with a key of 4097 bytes', op: 'get', request: { key: Buffer.alloc(4097, 1) }, grpc: status.INVALID_ARGUMENT, code: 'KEY_TOO_LARGE', field: 'key', limit: 4096, message: /limit is 4096/ },
    { name: 'value of 1 MiB + 1 byte', op: 'put', request: { key: Buffer.from('k1'), value: Buffer.alloc(1024 * 1024 + 1) }, grpc: status.INVALID_ARGUMENT, code: 'VALUE_TOO_LARGE', field: 'value', limit: 1024 * 1024, message: /1048577 bytes; the limit is 1048576/ },
    { name: 'unknown keyspace', op: 'put', request: { keyspace: 'nope', key: Buffer.from('k1'), value: Buffer.from('x') }, grpc: status.NOT_FOUND, code: 'KEYSPACE_NOT_FOUND', field: 'keyspace', message: /keyspace "nope" does not exist/ },
    { name: 'invalid keyspace name', op: 'delete', request: { keyspace: 'Bad Name!', key: Buffer.from('k1') }, grpc: status.INVALID_ARGUMENT, code: 'INVALID_ARGUMENT', field: 'keyspace', message: /keyspace "Bad Name!" is invalid/ },
    { name: 'put with a request id of 65 bytes', op: 'put', request: { key: Buffer.from('k1'), value: Buffer.from('x'), requestId: Buffer.alloc(65, 7) }, grpc: status.INVALID_ARGUMENT, code: 'INVALID_ARGUMENT', field: 'request_id', limit: 64, message: /request_id is 65 bytes; the limit is 64 bytes/ },
    { name: 'get with an unknown consistency', op: 'get', request: { key: Buffer.from('k1'), consistency: 7 }, grpc: status.INVALID_ARGUMENT, code: 'INVALID_ARGUMENT', field: 'consistency', limit: 3, message: /consistency 7 is not a known read consistency/ },
    { name: 'SESSION get with 4097 session positions', op: 'get', request: { key: Buffer.from('k1'), consistency: 2, session: Array.from({ length: 4097 }, () => ({ partitionId: 0, index: 1 })) }, grpc: status.INVALID_ARGUMENT, code: 'INVALID_ARGUMENT', field: 'session', limit: 4096, message: /session has 4097 positions; the limit is 4096/ },
    { name: 'SESSION get with a position for a partition the keyspace lacks', op: 'get', request: { key: Buffer.from('k1'), consistency: 2, session: [{ partitionId: 16, index: 1 }] }, grpc: status.INVALID_ARGUMENT, code: 'INVALID_ARGUMENT', field: 'session.partition_id', limit: 15, message: /session.partition_id 16 is out of range/ },
    { name: 'SESSION get with an index no answer gave', op: 'get', request: { key: Buffer.from('k1'), consistency: 2, session: Array.from({ length: 16 }, (_, partitionId) => ({ partitionId, index: 2 ** 50 })) }, grpc: status.INVALID_ARGUMENT, code: 'INVALID_ARGUMENT', field: 'session.index', message: /session.index 1125899906842624 is above every index the partition acknowledged/ },
    { name: 'delete with a request id of 100 bytes', op: 'delete', request: { key: Buffer.from('k1'), requestId: Buffer.alloc(100, 7) }, grpc: status.INVALID_ARGUMENT, code: 'INVALID_ARGUMENT', field: 'request_id', limit: 64, message: /request_id is 100 bytes; the limit is 64 bytes/ },
  ];

  for (const c of cases) {
    it(`answers ${c.name} with ${status[c.grpc]}/${c.code} naming the field and limit (unary RPC)`, async () => {
      const req = {
        keyspace: c.request.keyspace ?? '',
        key: c.request.key,
        value: c.request.value ?? Buffer.alloc(0),
        consistency: c.request.consistency ?? 0,
        session: c.request.session ?? [],
        maxStalenessMs: 0,
        requestId: c.request.requestId ?? Buffer.alloc(0),
      };
      const err = await unary<typeof req, unknown>(
        (r, md, cb) => (c.op === 'put' ? kv.put(r, md, cb) : c.op === 'get' ? kv.get(r, md, cb) : kv.delete(r, md, cb)),
        req,
      );
      expect(err.code).toBe(c.grpc);
      expect(err.metadata.get('quire-error-code')[0]?.toString()).toBe(c.code);
      const typed = fromGrpcError(err, 'router');
      expect(typed.code).toBe(c.code);
      expect(typed.message).toMatch(c.message);
      expect(typed.details.field).toBe(c.field);
      if (c.limit !== undefined) expect(typed.details.limit).toBe(c.limit);
    });
  }

  it('answers the same errors through the multiplexed stream of the client library', async () => {
    const e1 = (await t.client.put(Buffer.alloc(5000, 2), 'x').catch((e: unknown) => e)) as QuireError;
    expect(e1.code).toBe('KEY_TOO_LARGE');
    expect(e1.details).toMatchObject({ field: 'key', limit: 4096, actual: 5000 });
    const e2 = (await t.client.get('k1', { keyspace: 'missing' }).catch((e: unknown) => e)) as QuireError;
    expect(e2.code).toBe('KEYSPACE_NOT_FOUND');
  });

  it('answers an undecodable request with INVALID_ARGUMENT, not INTERNAL', async () => {
    const Raw = makeGenericClientConstructor(
      {
        put: {
          path: '/quire.v1.KV/Put',
          requestStream: false,
          responseStream: false,
          requestSerialize: (b: Buffer) => b,
          requestDeserialize: (b: Buffer) => b,
          responseSerialize: (b: Buffer) => b,
          responseDeserialize: (b: Buffer) => b,
        },
      },
      'RawKV',
    );
    const raw = new Raw(t.cluster.routerAddress, clientCredentials()) as unknown as {
      put(req: Buffer, md: Metadata, cb: (err: ServiceError | null, res: unknown) => void): void;
      close(): void;
    };
    try {
      // Field 2 (key) claims 100 bytes but the message ends after 3.
      const err = await unary<Buffer, unknown>((r, md, cb) => raw.put(r, md, cb), Buffer.from([0x12, 100, 1, 2, 3]));
      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(fromGrpcError(err, 'router').message).toMatch(/Put request is not a valid protobuf message/);
    } finally {
      raw.close();
    }
  });

  it('answers a scan bound over the key limit with KEY_TOO_LARGE naming the bound', async () => {
    const err = (await (async () => {
      for await (const _ of t.client.scan({ start: Buffer.alloc(4097, 7) })) void _;
    })().catch((e: unknown) => e)) as QuireError;
    expect(err.code).toBe('KEY_TOO_LARGE');
    expect(err.details.field).toBe('start');
  });

  it('answers a stale compare-and-set with FAILED_PRECONDITION carrying the current version', async () => {
    const current = (await t.client.get('k7')).version;
    const err = await unary<{ keyspace: string; key: Buffer; value: Buffer; expectedVersion: number; requestId: Buffer }, unknown>(
      (r, md, cb) => kv.put(r, md, cb),
      { keyspace: '', key: Buffer.from('k7'), value: Buffer.from('changed'), expectedVersion: current + 100, requestId: Buffer.alloc(0) },
    );
    expect(err.code).toBe(status.FAILED_PRECONDITION);
    const typed = fromGrpcError(err, 'router');
    expect(typed.code).toBe('CONDITION_FAILED');
    expect(typed.details.currentVersion).toBe(current);
    expect(typed.message).toContain(`current version is ${current}`);
  });

  it('makes a data node refuse partitions it does not lead with WRONG_PARTITION and its map revision, and recheck limits', async () => {
    const status_ = await t.client.clusterStatus();
    const map = status_.keyspaces[0];
    const node1 = status_.nodes.find((n) => n.nodeId === 'node-1');
    expect(map).toBeDefined();
    expect(node1).toBeDefined();
    const foreign = map!.partitions.find((p) => p.leader !== 'node-1')!;
    const own = map!.partitions.find((p) => p.leader === 'node-1')!;
    const partitioner = await loadHashPartitioner();
    let keyOwn = '';
    for (let i = 0; keyOwn === ''; i++) if (partitioner.partitionOf(Buffer.from(`own${i}`), 16) === own.partitionId) keyOwn = `own${i}`;
    const node = new DataNodeClient(node1!.address, clientCredentials());
    const send = (ops: Omit<NodeOperation, 'id'>[]): Promise<OperationResult[]> =>
      new Promise((resolve, reject) => {
        const call = node.stream();
        const results: OperationResult[] = [];
        call.on('data', (res: { results: OperationResult[] }) => {
          results.push(...res.results);
          if (results.length === ops.length) {
            call.end();
            resolve(results.sort((a, b) => a.id - b.id));
          }
        });
        call.on('error', reject);
        call.write({ operations: ops.map((op, i) => ({ ...op, id: i + 1 })) });
      });
    try {
      const put = (partitionId: number, epoch: number, key: Buffer, requestId = Buffer.alloc(0)) => ({
        partitionId,
        epoch,
        mapRevision: 0,
        op: { $case: 'put' as const, value: { keyspace: '', key, value: Buffer.from('x'), expectedVersion: undefined, requestId } },
        minIndex: 0,
        traceparent: '',
      });
      const [wrong, stale, tooLong, longId] = await send([
        put(foreign.partitionId, foreign.epoch, Buffer.from('k1')),
        put(own.partitionId, own.epoch + 5, Buffer.from(keyOwn)),
        put(own.partitionId, own.epoch, Buffer.alloc(4097, 3)),
        put(own.partitionId, own.epoch, Buffer.from(keyOwn), Buffer.alloc(65, 1)),
      ]);
      const errorOf = (r: OperationResult | undefined) => (r?.result?.$case === 'error' ? r.result.value : undefined);
      expect(errorOf(wrong)?.code).toBe('WRONG_PARTITION');
      expect(errorOf(wrong)?.mapRevision).toBeGreaterThan(0);
      expect(errorOf(wrong)?.leaderHint).toBe(foreign.leader);
      expect(errorOf(stale)?.code).toBe('STALE_EPOCH');
      expect(errorOf(stale)?.epoch).toBe(own.epoch);
      expect(errorOf(tooLong)?.code).toBe('KEY_TOO_LARGE');
      // The data node checks the request id limit again (a router of another version may not).
      expect(errorOf(longId)?.code).toBe('INVALID_ARGUMENT');
      expect(errorOf(longId)?.message).toBe('request_id is 65 bytes; the limit is 64 bytes');
    } finally {
      node.close();
    }
  });

  it('left the store exactly as it was', async () => {
    // k7 was not changed by the failed compare-and-set; nothing else was written.
    expect(await snapshot(t)).toEqual(before);
  });
});
