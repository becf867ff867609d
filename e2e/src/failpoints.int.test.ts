import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status, type ServiceError } from '@grpc/grpc-js';
import { isQuireError, loadHashPartitioner, type HashPartitioner } from '@quire/common';
import type { PartitionMap } from '@quire/proto';
import type { ManagedProcess } from '@quire/cli';
import { armFailpoints, listFailpoints, restartWithFailpointsEnv } from './harness/failpoints.js';
import { testStorageEngine } from './harness/storage-engine.js';
import { logLines } from './harness/log-lines.js';
import { eventually, rejection, startTestCluster, type TestCluster } from './harness/test-cluster.js';

/** The gRPC status a Debug call failed with. */
async function grpcCodeOf(p: Promise<unknown>): Promise<status | undefined> {
  const err: unknown = await rejection(p);
  return (err as Partial<ServiceError>).code;
}

describe('failpoints: armed by environment and by the Debug RPC, they open crash windows', () => {
  let t: TestCluster;
  let partitioner: HashPartitioner;
  let map: PartitionMap;
  /** A replacement process the env test owns while it runs. */
  let replacement: ManagedProcess | undefined;

  beforeAll(async () => {
    // Data nodes serve the Debug service; the router and coordinator do not.
    t = await startTestCluster('failpoints', { extraArgs: { datanode: ['--failpoints-admin'] } });
    partitioner = await loadHashPartitioner();
    map = await t.client.partitionMap();
  });
  afterAll(async () => {
    await replacement?.stop(10_000);
    await t?.stop();
  });

  /** A fresh key whose partition `nodeId` leads. */
  const keyOn = (nodeId: string, prefix: string): string => {
    for (let i = 0; i < 100_000; i++) {
      const key = `${prefix}-${i}`;
      if (map.partitions[partitioner.partitionOf(Buffer.from(key), map.partitionCount)]?.leader === nodeId) return key;
    }
    throw new Error(`No key of ${prefix} lands on ${nodeId}`);
  };
  const address = (id: string): string => t.cluster.process(id).spec.address;

  it('QUIRE_FAILPOINTS=datanode.groupCommit.beforeCommit=error(CODE) fails puts with CODE and stores nothing', async () => {
    const node1 = t.cluster.process('node-1');
    replacement = await restartWithFailpointsEnv(node1, 'datanode.groupCommit.beforeCommit=error(PARTITION_UNAVAILABLE)');
    const failing = keyOn('node-1', 'env');
    // The first answer from the restarted node is the injected error (reads are not affected).
    const err = await eventually('node-1 back with the failpoint armed', 60_000, async () => {
      const e = await t.client.put(failing, 'never-stored').then(
        () => new Error('The put succeeded'),
        (x: unknown) => x,
      );
      if (e instanceof Error && e.message === 'The put succeeded') throw e;
      return isQuireError(e, 'PARTITION_UNAVAILABLE') && e.message.includes('Failpoint') ? e : undefined;
    });
    expect(err.message).toContain('Failpoint datanode.groupCommit.beforeCommit injected PARTITION_UNAVAILABLE');
    expect((await t.client.get(failing)).found).toBe(false);
    // Other nodes are untouched.
    await t.client.put(keyOn('node-2', 'env'), 'stored');

    // The env-armed failpoint is visible (with its counters) and can be disarmed through Debug.
    const armed = await listFailpoints(address('node-1'));
    expect(armed).toHaveLength(1);
    expect(armed[0]).toMatchObject({ name: 'datanode.groupCommit.beforeCommit', term: 'error(PARTITION_UNAVAILABLE)' });
    expect(armed[0]?.fired).toBeGreaterThanOrEqual(1);
    expect(await armFailpoints(address('node-1'), 'datanode.groupCommit.beforeCommit=off')).toEqual([]);
    await t.client.put(failing, 'stored-after-disarm');
    expect((await t.client.get(failing)).value.toString()).toBe('stored-after-disarm');

    // Hand node-1 back to the cluster, unarmed.
    await replacement.stop(10_000);
    replacement = undefined;
    node1.start();
    await t.cluster.waitReady(60_000);
  });

  it('the Debug RPC arms failpoints only in processes started with --failpoints-admin', async () => {
    const key = keyOn('node-2', 'rpc');
    const armed = await armFailpoints(address('node-2'), 'datanode.groupCommit.beforeCommit=1*error(OVERLOADED)');
    expect(armed).toEqual([{ name: 'datanode.groupCommit.beforeCommit', term: '1*error(OVERLOADED)', hits: 0, fired: 0 }]);
    const first = await rejection(t.client.put(key, 'first'));
    expect(first.code).toBe('OVERLOADED');
    expect((await t.client.get(key)).found).toBe(false);
    // 1* fires once: the next put is stored.
    await t.client.put(key, 'second');
    expect((await t.client.get(key)).value.toString()).toBe('second');
    expect((await listFailpoints(address('node-2')))[0]).toMatchObject({ fired: 1 });

    // A bad spec is refused and names what is known.
    const bad: unknown = await rejection(armFailpoints(address('node-2'), 'datanode.groupCommit.beforeComit=crash'));
    expect((bad as Partial<ServiceError>).code).toBe(status.INVALID_ARGUMENT);
    expect((bad as Error).message).toContain('Unknown failpoint "datanode.groupCommit.beforeComit"; the datanode knows datanode.groupCommit.beforeCommit');

    // The router and the coordinator were started without --failpoints-admin.
    expect(await grpcCodeOf(armFailpoints(t.cluster.routerAddress, 'router.forward.beforeSend=crash'))).toBe(status.UNIMPLEMENTED);
    expect(await grpcCodeOf(listFailpoints(t.cluster.routerAddress))).toBe(status.UNIMPLEMENTED);
    expect(await grpcCodeOf(armFailpoints(address('coordinator-1'), 'coordinator.placement.beforePublish=crash'))).toBe(status.UNIMPLEMENTED);
    // And they still serve: the router was not armed.
    await t.client.put(keyOn('node-3', 'rpc'), 'still-served');
  });

  it('router.forward.beforeSend armed by env fails an operation in the router, before it reaches a data node', async () => {
    const router = t.cluster.process('router-1');
    replacement = await restartWithFailpointsEnv(router, 'router.forward.beforeSend=1*error(OVERLOADED)');
    const key = keyOn('node-1', 'router');
    const err = await eventually('the router back with the failpoint armed', 60_000, async () => {
      const e: unknown = await t.client.put(key, 'refused').then(
        () => undefined,
        (x: unknown) => x,
      );
      return isQuireError(e, 'OVERLOADED') ? e : undefined;
    });
    expect(err.message).toBe('Failpoint router.forward.beforeSend injected OVERLOADED');
    expect((await t.client.get(key)).found).toBe(false);
    // 1*: the failpoint is used up, operations flow again.
    await t.client.put(key, 'accepted');
    expect((await t.client.get(key)).value.toString()).toBe('accepted');
    await replacement.stop(10_000);
    replacement = undefined;
    router.start();
    await t.cluster.waitReady(60_000);
  });

  it('crash at datanode.groupCommit.afterCommit kills the data node (kill -9) with the write durable but unacknowledged', async () => {
    const node3 = t.cluster.process('node-3');
    const key = keyOn('node-3', 'crash');
    await armFailpoints(address('node-3'), 'datanode.groupCommit.afterCommit=crash');
    const err = await rejection(t.client.put(key, 'durable-unacknowledged'));
    expect(['AMBIGUOUS_RESULT', 'UNAVAILABLE', 'PARTITION_UNAVAILABLE']).toContain(err.code);
    const exit = await node3.exited;
    expect(exit.signal).toBe('SIGKILL');
    expect(node3.running).toBe(false);
    node3.start();
    await t.cluster.waitReady(60_000);
    // The restart arms nothing (no failpoint survives the process), and the write was durable.
    expect(await listFailpoints(address('node-3'))).toEqual([]);
    const got = await t.client.get(key);
    expect(got.found).toBe(true);
    expect(got.value.toString()).toBe('durable-unacknowledged');
  });

  it.skipIf(testStorageEngine(process.env) !== 'wal')(
    'error at datanode.wal.beforeSync (a failed WAL fdatasync) stops the data node at once (SIGKILL to itself, after logging why); restarted, it serves and nothing acknowledged is lost',
    async () => {
      const node2 = t.cluster.process('node-2');
      const before = keyOn('node-2', 'wal-acknowledged');
      await t.client.put(before, 'acknowledged');
      const key = keyOn('node-2', 'wal-failed-sync');
      await armFailpoints(address('node-2'), 'datanode.wal.beforeSync=error(UNAVAILABLE)');
      // node-2 leads the key's partition: its next WAL batch fails to sync and it stops. The put is
      // then retried by the router on the new leader (it may succeed there: the entry was sent
      // ahead of node-2's sync) or fails; either way node-2 never acknowledges it.
      const outcome = await t.client.put(key, 'written-before-the-failed-sync').then(
        () => 'ok',
        (err: unknown) => (isQuireError(err) ? err.code : String(err)),
      );
      const exit = await node2.exited;
      console.log(`datanode.wal.beforeSync=error(UNAVAILABLE) on node-2: it exited ${JSON.stringify(exit)}; the put it held ended ${outcome}`);
      expect(exit).toEqual({ code: null, signal: 'SIGKILL' });
      // Its last line says why; the log file gets it once quire dev's pipe is drained.
      const why = await eventually('node-2 to log why it stopped', 5_000, async () => logLines(t, 'node-2', 'A storage apply transaction failed; stopping so no unsynced state is served').at(-1));
      expect(why['stopping']).toBe('SIGKILL to itself (no exit handlers run)');
      expect(node2.running).toBe(false);
      node2.start();
      await t.cluster.waitReady(60_000);
      expect(await listFailpoints(address('node-2'))).toEqual([]);
      expect((await t.client.get(before)).value.toString()).toBe('acknowledged');
      if (outcome === 'ok') expect((await t.client.get(key)).value.toString()).toBe('written-before-the-failed-sync');
      else expect(['AMBIGUOUS_RESULT', 'UNAVAILABLE', 'PARTITION_UNAVAILABLE', 'DEADLINE_EXCEEDED']).toContain(outcome);
      await t.client.put(key, 'after-restart');
      expect((await t.client.get(key)).value.toString()).toBe('after-restart');
    },
  );
});
