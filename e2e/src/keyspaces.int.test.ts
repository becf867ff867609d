/**
 * Keyspaces created and listed through the Admin API (issue 16, item 4), on a real cluster:
 * three data nodes, one coordinator, a router, etcd. A created keyspace is usable as soon as
 * CreateKeyspace answers, holds its own keys, and is placed like `default` (a large one in
 * several etcd transactions); bad requests are refused with the field and the limit, and
 * change nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AckPolicy } from '@quire/proto';
import { failure, startTestCluster, type TestCluster } from './harness/test-cluster.js';
import { runCli } from './harness/cli.js';

describe('keyspaces', () => {
  let t: TestCluster;
  let env: Record<string, string>;
  beforeAll(async () => {
    t = await startTestCluster('keyspaces', { replicationFactor: 3, partitions: 4 });
    env = { QUIRE_ROUTER: t.cluster.routerAddress };
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('quire keyspace create makes a keyspace that takes writes at once and keeps its keys apart from default', async () => {
    const created = await runCli(['keyspace', 'create', 'orders', '--partitions', '6', '--replication', '2', '--ack-policy', 'semi-sync'], env);
    expect(created).toMatchObject({ code: 0, stderr: '', stdout: 'OK keyspace orders: 6 partitions, replication 2, semi-sync, min ISR 2; 6 of 6 partitions led\n' });
    expect(await runCli(['put', 'k', 'in-orders', '--keyspace', 'orders'], env)).toMatchObject({ code: 0, stdout: 'OK version 1\n' });
    expect(await runCli(['put', 'k', 'in-default'], env)).toMatchObject({ code: 0 });
    expect(await runCli(['get', 'k', '--keyspace', 'orders'], env)).toMatchObject({ code: 0, stdout: 'in-orders\n' });
    expect(await runCli(['get', 'k'], env)).toMatchObject({ code: 0, stdout: 'in-default\n' });
    const scan = await runCli(['scan', '--keyspace', 'orders', '--keys-only'], env);
    expect(scan).toMatchObject({ code: 0, stdout: 'k\n' });

    const map = await t.client.partitionMap('orders');
    expect(map).toMatchObject({ partitionCount: 6, replicationFactor: 2, ackPolicy: AckPolicy.ACK_POLICY_SEMI_SYNC, minIsr: 2 });
    for (const p of map.partitions) {
      expect(p.replicas).toHaveLength(2);
      expect(new Set(p.replicas).size).toBe(2);
      expect(p.leaderLive).toBe(true);
    }
    const status = await runCli(['status'], env);
    expect(status.stdout).toMatch(/orders/);
  });

  it('quire keyspace list shows every keyspace with its settings and led partitions', async () => {
    const list = await runCli(['keyspace', 'list', '--json'], env);
    expect(list.code).toBe(0);
    const parsed = JSON.parse(list.stdout) as { keyspace: string }[];
    expect(parsed).toEqual([
      { keyspace: 'default', partitions: 4, replication: 3, ackPolicy: 'sync', minIsr: 2, assigned: 4, led: 4 },
      { keyspace: 'orders', partitions: 6, replication: 2, ackPolicy: 'semi-sync', minIsr: 2, assigned: 6, led: 6 },
    ]);
    const table = await runCli(['keyspace', 'list'], env);
    expect(table.stdout.split('\n')[0]).toMatch(/^KEYSPACE\s+PARTITIONS\s+REPLICATION\s+ACK POLICY\s+MIN ISR\s+LED$/);
    expect(table.stdout).toMatch(/^orders\s+6\s+2\s+semi-sync\s+2\s+6\/6$/m);
  });

  it('places a keyspace of 300 partitions (more than one etcd transaction holds) with every partition led and leaderships over the cluster still within one per node', async () => {
    const map = await t.client.createKeyspace('large', { partitions: 300 });
    expect(map.partitions.filter((p) => p.leaderLive)).toHaveLength(300);
    expect(map).toMatchObject({ replicationFactor: 3, ackPolicy: AckPolicy.ACK_POLICY_SYNC, minIsr: 2 });
    // Placement balances over every keyspace: 4 + 6 + 300 leaderships on three nodes.
    const counts = (await t.client.clusterStatus()).nodes.map((n) => n.leaderCount);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(310);
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
    const writes = await Promise.all(Array.from({ length: 600 }, (_, i) => t.client.put(`large/${i}`, `v${i}`, { keyspace: 'large' })));
    expect(writes.every((w) => w.version >= 1)).toBe(true);
    let scanned = 0;
    for await (const e of t.client.scan({ keyspace: 'large' })) {
      expect(e.value.toString()).toBe(`v${e.key.toString().slice('large/'.length)}`);
      scanned++;
    }
    expect(scanned).toBe(600);
  });

  it('refuses bad requests with the field and the limit, and changes nothing', async () => {
    // What a refusal must not change: the keyspaces and their settings (how many partitions are
    // led at a moment is not a setting).
    const settings = async (): Promise<unknown[]> => (await t.client.listKeyspaces()).map(({ partitionsLed: _led, ...rest }) => rest);
    const before = await settings();
    const cases: [string, Promise<unknown>, string, string, number | undefined][] = [
      ['a name in use', t.client.createKeyspace('orders', { partitions: 6 }), 'ALREADY_EXISTS', 'keyspace', undefined],
      ['zero partitions', t.client.createKeyspace('zero', { partitions: 0 }), 'INVALID_ARGUMENT', 'partition_count', 4096],
      ['4097 partitions', t.client.createKeyspace('many', { partitions: 4097 }), 'INVALID_ARGUMENT', 'partition_count', 4096],
      ['replication above the live node count', t.client.createKeyspace('wide', { partitions: 2, replicationFactor: 4 }), 'INVALID_ARGUMENT', 'replication_factor', 3],
      ['min ISR above the replication factor', t.client.createKeyspace('strict', { partitions: 2, replicationFactor: 2, minIsr: 3 }), 'INVALID_ARGUMENT', 'min_isr', 2],
      ['a name with a slash', t.client.createKeyspace('a/b', { partitions: 2 }), 'INVALID_ARGUMENT', 'keyspace', 64],
      ['no name', t.client.createKeyspace('', { partitions: 2 }), 'INVALID_ARGUMENT', 'keyspace', undefined],
    ];
    for (const [name, call, code, field, limit] of cases) {
      const err = await failure(call);
      expect({ name, code: err.code, field: err.details.field, limit: err.details.limit }).toEqual({ name, code, field, limit });
      expect(err.message).toMatch(field);
    }
    // The data nodes hold 4 × 3 + 6 × 2 + 300 × 3 = 924 replicas of their 3 × 1024
    // (--partitions-max): room for 2148, 716 partitions of 3 replicas.
    const full = await failure(t.client.createKeyspace('huge', { partitions: 4096 }));
    expect(full).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'partition_count', limit: 716, actual: 4096 } });
    expect(full.message).toMatch(/--partitions-max/);
    expect(await settings()).toEqual(before);

    const exists = await runCli(['keyspace', 'create', 'orders', '--partitions', '6'], env);
    expect(exists.code).toBe(1);
    expect(exists.stderr).toMatch(/keyspace "orders" already exists; nothing changed.*ALREADY_EXISTS/);
    const usage = await runCli(['keyspace', 'create', 'x'], env);
    expect(usage).toMatchObject({ code: 64, stderr: 'quire: quire keyspace create needs --partitions N\n' });
    const policy = await runCli(['keyspace', 'create', 'x', '--partitions', '2', '--ack-policy', 'quorum'], env);
    expect(policy).toMatchObject({ code: 64, stderr: 'quire: --ack-policy must be sync, semi-sync, async, got "quorum"\n' });
    const unknown = await runCli(['get', 'k', '--keyspace', 'nope'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/keyspace "nope" does not exist.*KEYSPACE_NOT_FOUND/);
  });

  it('quire keyspace drop --yes deletes a keyspace: the router refuses it at once, default cannot be dropped, and the name is not reused', async () => {
    expect(await runCli(['keyspace', 'create', 'scratch', '--partitions', '3'], env)).toMatchObject({ code: 0 });
    expect(await runCli(['put', 'k', 'v', '--keyspace', 'scratch'], env)).toMatchObject({ code: 0 });
    const unconfirmed = await runCli(['keyspace', 'drop', 'scratch'], env);
    expect(unconfirmed).toMatchObject({ code: 64, stderr: 'quire: quire keyspace drop deletes keyspace "scratch" and all its data; add --yes to do it\n' });
    expect(await runCli(['get', 'k', '--keyspace', 'scratch'], env)).toMatchObject({ code: 0, stdout: 'v\n' });
    const dropped = await runCli(['keyspace', 'drop', 'scratch', '--yes'], env);
    expect(dropped).toMatchObject({ code: 0, stdout: 'OK keyspace scratch dropped: its 3 partitions and their data are being deleted\n' });
    // The router that answered already knows: the next request through it is refused.
    const gone = await runCli(['get', 'k', '--keyspace', 'scratch'], env);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/keyspace "scratch" does not exist.*KEYSPACE_NOT_FOUND/);
    expect((await t.client.listKeyspaces()).map((k) => k.keyspace)).not.toContain('scratch');
    const again = await failure(t.client.createKeyspace('scratch', { partitions: 3 }));
    expect(again.code).toBe('FAILED_PRECONDITION');
    expect(again.message).toMatch(/the name of a dropped keyspace is not used again/);
    for (const [name, code, message] of [
      ['default', 'INVALID_ARGUMENT', /"default" cannot be dropped/],
      ['scratch', 'KEYSPACE_NOT_FOUND', /keyspace "scratch" does not exist; nothing changed/],
    ] as const) {
      const err = await failure(t.client.dropKeyspace(name));
      expect(err.code).toBe(code);
      expect(err.message).toMatch(message);
    }
  });
});
