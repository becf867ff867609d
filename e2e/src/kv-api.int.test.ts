import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AckPolicy } from '@quire/proto';
import { isQuireError } from '@quire/common';
import { startTestCluster, type TestCluster } from './harness/test-cluster.js';

describe('KV API through the router on a 3-node cluster', () => {
  let t: TestCluster;
  beforeAll(async () => {
    t = await startTestCluster('kv-api');
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('puts, gets and deletes a key, with the version set to the partition log index of each write', async () => {
    const first = await t.client.put('alpha', 'one');
    expect(first.version).toBeGreaterThan(0);
    const read = await t.client.get('alpha');
    expect(read).toMatchObject({ found: true, value: Buffer.from('one'), version: first.version, staleness: undefined });
    // The position a linearizable read reflects: the key's partition, at least the write it returned.
    expect(read.position?.index).toBeGreaterThanOrEqual(first.version);
    const second = await t.client.put('alpha', 'two');
    expect(second.version).toBe(first.version + 1);
    const del = await t.client.delete('alpha');
    expect(del).toEqual({ found: true, version: second.version + 1 });
    expect(await t.client.get('alpha')).toMatchObject({ found: false, value: Buffer.alloc(0), version: 0 });
    expect(await t.client.delete('alpha')).toEqual({ found: false, version: 0 });
  });

  it('applies compare-and-set only at the expected version and reports the current one otherwise', async () => {
    const created = await t.client.put('cas', 'a', { expectedVersion: 0 });
    const dup = await t.client.put('cas', 'b', { expectedVersion: 0 }).catch((e: unknown) => e);
    expect(isQuireError(dup, 'CONDITION_FAILED')).toBe(true);
    expect((dup as { details: { currentVersion: number } }).details.currentVersion).toBe(created.version);
    const updated = await t.client.put('cas', 'b', { expectedVersion: created.version });
    expect(updated.version).toBeGreaterThan(created.version);
    const staleDelete = await t.client.delete('cas', { expectedVersion: created.version }).catch((e: unknown) => e);
    expect(isQuireError(staleDelete, 'CONDITION_FAILED')).toBe(true);
    expect((await t.client.get('cas')).value.toString()).toBe('b');
  });

  it('carries many concurrent 1 MiB values at once: stream messages stay under the gRPC size limit', async () => {
    const big = (i: number): Buffer => Buffer.alloc(1024 * 1024, i);
    const keys = Array.from({ length: 24 }, (_, i) => `big/${i}`);
    const puts = await Promise.all(keys.map((k, i) => t.client.put(k, big(i))));
    expect(puts.every((p) => p.version > 0)).toBe(true);
    const gets = await Promise.all(keys.map((k) => t.client.get(k)));
    gets.forEach((g, i) => expect(g.value.equals(big(i))).toBe(true));
  });

  it('stores binary keys and values byte for byte, including a 4096-byte key and a 1 MiB value', async () => {
    const key = Buffer.alloc(4096, 0xfe);
    key[0] = 0;
    const value = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < value.length; i++) value[i] = (i * 31) & 0xff;
    const { version } = await t.client.put(key, value);
    const got = await t.client.get(key);
    expect(got.found).toBe(true);
    expect(got.version).toBe(version);
    expect(got.value.equals(value)).toBe(true);
  });

  it('scans every partition merged in key order, with prefix, bounds and limit', async () => {
    const keys: string[] = [];
    for (let i = 0; i < 300; i++) keys.push(`scan/${String(i).padStart(4, '0')}`);
    await Promise.all(keys.map((k) => t.client.put(k, `v-${k}`)));
    const all: string[] = [];
    for await (const e of t.client.scan({ prefix: 'scan/' })) {
      all.push(e.key.toString());
      expect(e.value.toString()).toBe(`v-${e.key.toString()}`);
    }
    expect(all).toEqual(keys);
    const bounded: string[] = [];
    for await (const e of t.client.scan({ start: 'scan/0100', end: 'scan/0110' })) bounded.push(e.key.toString());
    expect(bounded).toEqual(keys.slice(100, 110));
    const limited: string[] = [];
    for await (const e of t.client.scan({ prefix: 'scan/', limit: 7, keysOnly: true })) {
      limited.push(e.key.toString());
      expect(e.value.length).toBe(0);
    }
    expect(limited).toEqual(keys.slice(0, 7));
  });

  it('orders long keys that share their first 1900 bytes correctly in scans', async () => {
    const base = 'L'.repeat(1950);
    const suffixes = ['b', 'a', 'c', 'a0', ''];
    await Promise.all(suffixes.map((s) => t.client.put(`${base}${s}`, s || 'base')));
    const seen: string[] = [];
    for await (const e of t.client.scan({ prefix: base })) seen.push(e.key.toString().slice(base.length));
    expect(seen).toEqual(['', 'a', 'a0', 'b', 'c']);
  });

  it('reports the partition map and cluster status through the router', async () => {
    const map = await t.client.partitionMap();
    expect(map.keyspace).toBe('default');
    expect(map.partitionCount).toBe(16);
    expect(map.partitions).toHaveLength(16);
    // Bootstrap: SYNC with min_isr 1 (one replica), and each partition's ISR is its leader alone.
    expect([map.ackPolicy, map.minIsr]).toEqual([AckPolicy.ACK_POLICY_SYNC, 1]);
    for (const p of map.partitions) expect(p.isr).toEqual([p.leader]);
    const status = await t.client.clusterStatus();
    expect(status.nodes.filter((n) => n.live)).toHaveLength(3);
    const leaders = status.nodes.map((n) => n.leaderCount).sort();
    expect(leaders).toEqual([5, 5, 6]);
    expect(status.coordinator?.coordinatorId).toBe('coordinator-1');
  });
});
