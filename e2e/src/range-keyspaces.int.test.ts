/**
 * RANGE keyspaces and splits (issue 16 item 5, RFC 0004) on a real cluster: three data nodes,
 * one coordinator, a router, etcd. Keys route by range; a scan reads only the partitions its
 * bounds touch and streams every key in order; a split by hand and splits past
 * --split-size-bytes happen under a write load with no client request failing, and every
 * acknowledged write is found afterwards; bad requests are refused with the field and change
 * nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PartitionScheme, type PartitionMap } from '@quire/proto';
import { isQuireError } from '@quire/common';
import type { QuireClient } from '@quire/client';
import { eventually, failure, startTestCluster, type TestCluster } from './harness/test-cluster.js';
import { runCli } from './harness/cli.js';

async function scanKeys(client: QuireClient, keyspace: string, start = '', end = ''): Promise<string[]> {
  const keys: string[] = [];
  for await (const e of client.scan({ keyspace, start, end, keysOnly: true })) keys.push(e.key.toString());
  return keys;
}

/** The partitions of a map as [id, start, end], in key order. */
function ranges(map: PartitionMap): [number, string, string][] {
  return [...map.partitions].sort((a, b) => Buffer.compare(Buffer.from(a.startKey), Buffer.from(b.startKey))).map((p) => [p.partitionId, Buffer.from(p.startKey).toString(), Buffer.from(p.endKey).toString()]);
}

/**
 * Writes keys `${prefix}${i}` (i zero-padded, in order) one at a time until stopped; every
 * acknowledged key is recorded, every failure kept.
 */
function sequentialWriter(client: QuireClient, keyspace: string, prefix: string, valueBytes: number): { stop(): Promise<{ acked: Map<string, string>; failures: string[] }>; count(): number } {
  const acked = new Map<string, string>();
  const failures: string[] = [];
  let stopped = false;
  const run = (async () => {
    for (let i = 0; !stopped; i++) {
      const key = `${prefix}${String(i).padStart(6, '0')}`;
      const value = `${key}:`.padEnd(valueBytes, 'v');
      try {
        await client.put(key, value, { keyspace });
        acked.set(key, value);
      } catch (err) {
        failures.push(`${key}: ${isQuireError(err) ? `${err.code} ${err.message}` : String(err)}`);
      }
    }
  })();
  return {
    count: () => acked.size,
    async stop() {
      stopped = true;
      await run;
      return { acked, failures };
    },
  };
}

describe('range keyspaces', () => {
  let t: TestCluster;
  let env: Record<string, string>;
  beforeAll(async () => {
    t = await startTestCluster('range-keyspaces', {
      replicationFactor: 3,
      partitions: 4,
      // Splits by size at 256 KiB, checked every 300 ms; never by load (the loads here are short).
      extraArgs: { datanode: ['--split-size-bytes', String(256 * 1024), '--split-check-interval-ms', '300', '--split-load-ops-per-second', '0'] },
    });
    env = { QUIRE_ROUTER: t.cluster.routerAddress };
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('routes keys by range, and a scan streams every key in order from only the partitions its bounds touch', async () => {
    const map = await t.client.createKeyspace('events', { scheme: 'range', splitKeys: ['d', 'h', 'm', 'r', 'w'], replicationFactor: 1 });
    expect(map.scheme).toBe(PartitionScheme.PARTITION_SCHEME_RANGE);
    expect(ranges(map)).toEqual([
      [0, '', 'd'],
      [1, 'd', 'h'],
      [2, 'h', 'm'],
      [3, 'm', 'r'],
      [4, 'r', 'w'],
      [5, 'w', ''],
    ]);
    const written: string[] = [];
    for (const c of 'abcdefghijklmnopqrstuvwxyz') {
      for (let i = 0; i < 4; i++) written.push(`${c}${i}`);
    }
    for (const key of [...written].reverse()) await t.client.put(key, `v-${key}`, { keyspace: 'events' });
    expect(await scanKeys(t.client, 'events')).toEqual(written);
    expect(await scanKeys(t.client, 'events', 'e', 'k')).toEqual(written.filter((k) => k >= 'e' && k < 'k'));
    expect((await t.client.get('q2', { keyspace: 'events' })).value?.toString()).toBe('v-q2');

    // Stop the node leading the partition of "x…": a scan of another node's partition still
    // completes at once, so it never asked the stopped node.
    const byId = new Map(map.partitions.map((p) => [p.partitionId, p.leader]));
    const victim = byId.get(5) ?? '';
    const other = [0, 1, 2, 3, 4].find((id) => byId.get(id) !== victim);
    expect(other).toBeDefined();
    const [start, end] = [['', 'd'], ['d', 'h'], ['h', 'm'], ['m', 'r'], ['r', 'w']][other ?? 0] as [string, string];
    const node = t.cluster.process(victim);
    node.kill('SIGSTOP');
    try {
      const scanned = await Promise.race([scanKeys(t.client, 'events', start, end), new Promise<'stalled'>((resolve) => setTimeout(() => resolve('stalled'), 2_000))]);
      expect(scanned).toEqual(written.filter((k) => k >= start && k < end));
    } finally {
      node.kill('SIGCONT');
    }
  });

  it('quire split cuts a partition in two under a write load: no request fails, every acknowledged write is there, scans stay complete', async () => {
    await t.client.createKeyspace('ledger', { scheme: 'range', replicationFactor: 3 });
    const writer = sequentialWriter(t.client, 'ledger', 'k', 64);
    await eventually('writes before the split', 20_000, async () => writer.count() >= 300);
    const split = await runCli(['split', '--keyspace', 'ledger', '--at', 'k000150'], env);
    expect(split.code, split.stderr).toBe(0);
    expect(split.stdout).toMatch(/new partition 1/);
    await eventually('writes after the split', 20_000, async () => writer.count() >= 600);
    // The new partition can be split again once its followers carved their copies.
    await eventually('a second split, of the new partition', 20_000, async () => {
      const again = await t.client.splitPartition({ keyspace: 'ledger', at: 'k000450' }).then(
        () => true,
        (err: unknown) => (isQuireError(err) && err.code === 'FAILED_PRECONDITION' ? false : Promise.reject(err as Error)),
      );
      return again;
    });
    await eventually('writes after the second split', 20_000, async () => writer.count() >= 800);
    const { acked, failures } = await writer.stop();
    expect(failures).toEqual([]);

    const map = await t.client.partitionMap('ledger');
    expect(ranges(map)).toEqual([
      [0, '', 'k000150'],
      [1, 'k000150', 'k000450'],
      [2, 'k000450', ''],
    ]);
    for (const p of map.partitions) expect(p.replicas).toHaveLength(3);
    // Every acknowledged write, read back and scanned in order.
    expect(await scanKeys(t.client, 'ledger')).toEqual([...acked.keys()].sort());
    for (const key of ['k000000', 'k000149', 'k000150', 'k000449', 'k000450', [...acked.keys()].at(-1) ?? '']) {
      expect((await t.client.get(key, { keyspace: 'ledger' })).value?.toString()).toBe(acked.get(key));
    }
    // Versions continue across the split: a compare-and-set on a key carved out still matches.
    const before = await t.client.get('k000200', { keyspace: 'ledger' });
    const cas = await t.client.put('k000200', 'cas', { keyspace: 'ledger', expectedVersion: before.version });
    expect(cas.version).toBeGreaterThan(before.version);
  });

  it('a range partition past --split-size-bytes splits by itself under a sequential insert load, with no request failing', async () => {
    await t.client.createKeyspace('seq', { scheme: 'range', replicationFactor: 3 });
    const writer = sequentialWriter(t.client, 'seq', 's', 1024);
    const split = await eventually('the keyspace split by size at least twice', 90_000, async () => {
      const map = await t.client.partitionMap('seq');
      return map.partitions.length >= 3 ? map : undefined;
    });
    await eventually('writes after the splits', 20_000, async () => writer.count() >= 100);
    const { acked, failures } = await writer.stop();
    expect(failures).toEqual([]);
    // The ranges cover every key exactly once, each split at a key that was written.
    const r = ranges(await t.client.partitionMap('seq'));
    expect(r[0]?.[1]).toBe('');
    expect(r.at(-1)?.[2]).toBe('');
    for (let i = 1; i < r.length; i++) expect(r[i]?.[1]).toBe(r[i - 1]?.[2]);
    expect(split.partitions.length).toBeGreaterThanOrEqual(3);
    expect(await scanKeys(t.client, 'seq')).toEqual([...acked.keys()].sort());
    const status = await runCli(['status', '--json'], env);
    expect(status.code).toBe(0);
  });

  it('refuses bad range requests with the field at fault, changing nothing', async () => {
    await t.client.createKeyspace('bounds', { scheme: 'range', splitKeys: ['g', 'p'], replicationFactor: 1 });
    const before = await t.client.partitionMap('bounds');
    const cases: [string, Promise<unknown>, string, string][] = [
      ['unsorted split keys', t.client.createKeyspace('bad1', { scheme: 'range', splitKeys: ['b', 'a'] }), 'INVALID_ARGUMENT', 'split_keys'],
      ['duplicate split keys', t.client.createKeyspace('bad2', { scheme: 'range', splitKeys: ['a', 'a'] }), 'INVALID_ARGUMENT', 'split_keys'],
      ['a split of a hash keyspace', t.client.splitPartition({ keyspace: 'default', at: 'x' }), 'INVALID_ARGUMENT', 'keyspace'],
      ['a split at a boundary', t.client.splitPartition({ keyspace: 'bounds', at: 'g' }), 'INVALID_ARGUMENT', 'at'],
      ['a split key outside the partition named', t.client.splitPartition({ keyspace: 'bounds', at: 'z', partitionId: 0 }), 'INVALID_ARGUMENT', 'at'],
      ['an empty split key', t.client.splitPartition({ keyspace: 'bounds', at: '' }), 'INVALID_ARGUMENT', 'at'],
      ['an unknown keyspace', t.client.splitPartition({ keyspace: 'nope', at: 'a' }), 'KEYSPACE_NOT_FOUND', 'keyspace'],
    ];
    for (const [what, call, code, field] of cases) {
      const err = await failure(call);
      expect({ what, code: err.code, field: err.details.field ?? '' }).toEqual({ what, code, field });
    }
    const after = await t.client.partitionMap('bounds');
    expect(ranges(after)).toEqual(ranges(before));
    expect(after.partitions.map((p) => p.epoch)).toEqual(before.partitions.map((p) => p.epoch));
    const names = (await t.client.listKeyspaces()).map((k) => k.keyspace);
    expect(names).not.toContain('bad1');
    expect(names).not.toContain('bad2');
  });
});
