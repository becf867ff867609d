/**
 * Range keyspaces through the client, against a fake router on 127.0.0.1: what createKeyspace
 * and splitPartition send, and that a split whose answer is lost is AMBIGUOUS_RESULT, sent once.
 */
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PartitionScheme } from '@quire/proto';
import { isQuireError } from '@quire/common';
import { QuireClient } from './client.js';
import { FakeRouter, type FakeAnswer } from './testing/fake-router.js';

describe('QuireClient range keyspaces', () => {
  let answer: FakeAnswer = { kind: 'ok' };
  let router: FakeRouter;
  let client: QuireClient;
  beforeAll(async () => {
    router = await FakeRouter.start({ answer: () => answer });
    client = new QuireClient({ router: router.address, keyspace: 'events', requestTimeoutMs: 2_000, connectTimeoutMs: 1_000 });
  });
  afterAll(() => {
    client.close();
    router.kill();
  });
  const lastAdmin = () => router.received.at(-1)?.admin;

  it('creates a range keyspace with its split keys as bytes, and a hash keyspace as before', async () => {
    answer = { kind: 'ok' };
    await client.createKeyspace('events', { scheme: 'range', splitKeys: ['g', Buffer.from([0x70, 0xff])], replicationFactor: 3 });
    expect(lastAdmin()).toEqual({
      keyspace: 'events',
      scheme: PartitionScheme.PARTITION_SCHEME_RANGE,
      partitionCount: 0,
      replicationFactor: 3,
      ackPolicy: 0,
      minIsr: 0,
      splitKeys: [Buffer.from('g'), Buffer.from([0x70, 0xff])],
    });
    await client.createKeyspace('orders', { partitions: 8, ackPolicy: 'async' });
    expect(lastAdmin()).toMatchObject({ keyspace: 'orders', scheme: PartitionScheme.PARTITION_SCHEME_HASH, partitionCount: 8, splitKeys: [] });
  });

  it('splits the partition holding a key, in the client\'s keyspace unless another is named, and answers the response', async () => {
    answer = { kind: 'ok' };
    expect(await client.splitPartition({ at: 'm' })).toEqual({ leftPartitionId: 3, rightPartitionId: 7, epoch: 5, revision: 42 });
    expect(lastAdmin()).toEqual({ keyspace: 'events', at: Buffer.from('m') });
    await client.splitPartition({ keyspace: 'other', at: Buffer.from([0]), partitionId: 0 });
    expect(lastAdmin()).toEqual({ keyspace: 'other', at: Buffer.from([0]), partitionId: 0 });
  });

  it('passes a refusal through with its code, and never sends a split twice when its answer is lost', async () => {
    answer = { kind: 'error', code: 'FAILED_PRECONDITION' };
    const refused: unknown = await client.splitPartition({ at: 'm' }).catch((e: unknown) => e);
    expect(isQuireError(refused, 'FAILED_PRECONDITION')).toBe(true);
    answer = { kind: 'status', status: status.UNAVAILABLE };
    const from = router.received.length;
    const lost: unknown = await client.splitPartition({ at: 'm' }).catch((e: unknown) => e);
    expect(isQuireError(lost, 'AMBIGUOUS_RESULT')).toBe(true);
    expect(router.received.slice(from).filter((r) => r.method === 'splitPartition')).toHaveLength(1);
  });
});
