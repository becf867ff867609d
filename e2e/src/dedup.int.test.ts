/**
 * Request ids and deduplication (RFC 0001 "Request ids and router buffering", invariant 8: a
 * write with a request id is applied at most once per partition), on real processes: three
 * data nodes with replication factor 3, one coordinator, a router, real etcd.
 *  - a put or delete retried with the same request id gets the first result and creates no
 *    new version, conditional writes included;
 *  - a write the data node answers AMBIGUOUS_RESULT although it stored it (failpoint) is
 *    resent by the router when it carries a request id, and answered with its one version;
 *    without a request id the client gets AMBIGUOUS_RESULT;
 *  - after the leader is killed (-9) and a follower promoted, a retry with the same request id
 *    gets the same version: the new leader recorded the id when it appended the entry.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isQuireError, loadHashPartitioner, type HashPartitioner } from '@quire/common';
import type { PartitionInfo } from '@quire/proto';
import { armFailpoints } from './harness/failpoints.js';
import { fullyInSync, partitionInfos } from './harness/partitions.js';
import { eventually, rejection, startTestCluster, type TestCluster } from './harness/test-cluster.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const partitions = 4;

async function scrape(address: string): Promise<string> {
  const res = await fetch(`http://${address}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

describe('request ids: a retried write is applied once', () => {
  let t: TestCluster;
  let partitioner: HashPartitioner;
  beforeAll(async () => {
    t = await startTestCluster('dedup', { replicationFactor: 3, partitions, coordinators: 1, nodeLeaseTtlSeconds: 1, extraArgs: { datanode: ['--failpoints-admin'] } });
    partitioner = await loadHashPartitioner();
    await eventually('every partition in sync', 30_000, () => fullyInSync(t, partitions));
  });
  afterAll(async () => {
    await t?.stop();
  });

  /** Fresh keys of `prefix` that land in `partitionId`. */
  const keysIn = (partitionId: number, prefix: string, count: number): string[] => {
    const keys: string[] = [];
    for (let i = 0; keys.length < count; i++) {
      const key = `${prefix}-${i}`;
      if (partitioner.partitionOf(Buffer.from(key), partitions) === partitionId) keys.push(key);
    }
    return keys;
  };

  it('a put or delete retried with the same request id gets the first result and creates no new version', async () => {
    const c = t.client;
    const id = c.newRequestId();
    const first = await c.put('dedup/a', 'one', { requestId: id });
    expect(await c.put('dedup/a', 'one', { requestId: id })).toEqual(first);
    expect(await c.get('dedup/a')).toMatchObject({ found: true, value: Buffer.from('one'), version: first.version });
    // A new id is a new write.
    const second = await c.put('dedup/a', 'two', { requestId: c.newRequestId() });
    expect(second.version).toBeGreaterThan(first.version);
    // A retry of the first, after the second: still its own result, and the second stays.
    expect(await c.put('dedup/a', 'one', { requestId: id })).toEqual(first);
    expect(await c.get('dedup/a')).toMatchObject({ found: true, value: Buffer.from('two'), version: second.version });

    // Conditional writes: the retry gets the result, not a refusal against the version it produced.
    const casId = c.newRequestId();
    const created = await c.put('dedup/cas', 'v', { expectedVersion: 0, requestId: casId });
    expect(await c.put('dedup/cas', 'v', { expectedVersion: 0, requestId: casId })).toEqual(created);
    expect(isQuireError(await rejection(c.put('dedup/cas', 'v', { expectedVersion: 0 })), 'CONDITION_FAILED')).toBe(true);

    const deleteId = c.newRequestId();
    const deleted = await c.delete('dedup/a', { requestId: deleteId });
    expect(deleted.found).toBe(true);
    expect(await c.delete('dedup/a', { requestId: deleteId })).toEqual(deleted);
    expect((await c.get('dedup/a')).found).toBe(false);
    // A new delete of the absent key takes no version.
    expect(await c.delete('dedup/a')).toEqual({ found: false, version: 0 });
  });

  it('the router resends a write with a request id answered AMBIGUOUS_RESULT and answers its one version; without an id the client gets AMBIGUOUS_RESULT', async () => {
    const [info] = (await partitionInfos(t)).filter((p) => p.partitionId === 1);
    const leader = t.cluster.process(info?.leader as string).spec.address;
    const [probe, target, plain] = keysIn(1, 'ambiguous', 3) as [string, string, string];
    const routerMetrics = t.cluster.process('router-1').spec.metricsAddress ?? '';
    const resends = async (): Promise<number> => Number(/quire_router_ambiguous_write_resends_total(?:\{[^}]*\})? (\d+)/.exec(await scrape(routerMetrics))?.[1] ?? 0);

    // Arms one injected AMBIGUOUS_RESULT after the leader's next commit of client writes, once
    // earlier writes have settled, and runs `write`. Transactions without client writes (this
    // node's follower appends and heartbeats of other partitions, applies) do not use it up.
    const withOneAmbiguousCommit = async <T>(write: () => Promise<T>): Promise<T> => {
      await sleep(500);
      await armFailpoints(leader, 'datanode.groupCommit.afterCommit=1*error(AMBIGUOUS_RESULT)');
      try {
        return await write();
      } finally {
        await armFailpoints(leader, 'datanode.groupCommit.afterCommit=off');
      }
    };

    // No request id: the outcome stays unknown, and the client is told so.
    const err = await withOneAmbiguousCommit(() => rejection(t.client.put(plain, 'x', { requestId: '' })));
    expect(isQuireError(err, 'AMBIGUOUS_RESULT')).toBe(true);
    expect((await t.client.get(plain)).value.toString()).toBe('x'); // it was stored: the failpoint lies after the commit

    // With a request id: resent, recognised, answered with the version it got, applied once.
    const before = await t.client.put(probe, 'before');
    const resendsBefore = await resends();
    const written = await withOneAmbiguousCommit(() => t.client.put(target, 'once'));
    // The injected AMBIGUOUS_RESULT hit this write (nothing else committed there) and the router resent it.
    expect(await resends()).toBeGreaterThan(resendsBefore);
    expect(written.version).toBe(before.version + 1);
    expect(await t.client.get(target)).toMatchObject({ found: true, value: Buffer.from('once'), version: written.version });
    // Nothing else took an index in the partition: the next write follows directly.
    expect((await t.client.put(probe, 'after')).version).toBe(written.version + 1);
  });

  it('after the leader is killed (-9) and a follower promoted, a retry with the same request id gets the same version', async () => {
    const before = await partitionInfos(t);
    const info = before.find((p) => p.partitionId === 2) as PartitionInfo;
    const victimId = info.leader;
    const [key] = keysIn(2, 'failover', 1) as [string];
    const id = t.client.newRequestId();
    const first = await t.client.put(key, 'survives', { requestId: id });

    const victim = t.cluster.process(victimId);
    victim.kill('SIGKILL');
    await victim.exited;
    const promoted = await eventually('a new leader of partition 2', 30_000, async () => {
      const now = (await partitionInfos(t)).find((p) => p.partitionId === 2);
      return now !== undefined && now.leader !== victimId && now.leaderLive && now.epoch > info.epoch ? now : undefined;
    });
    expect(promoted.leader).not.toBe(victimId);

    expect(await t.client.put(key, 'survives', { requestId: id })).toEqual(first);
    expect(await t.client.get(key)).toMatchObject({ found: true, value: Buffer.from('survives'), version: first.version });
    // A new write to the key is a new version.
    expect((await t.client.put(key, 'next')).version).toBeGreaterThan(first.version);

    victim.start();
    await eventually(`${victimId} to rejoin every ISR`, 60_000, () => fullyInSync(t, partitions));
  });
});
