/**
 * A client given two routers (fake routers on 127.0.0.1, real grpc-js sockets) when the one it
 * uses dies: in-flight and new operations move to the other within their deadline, writes with
 * the same request id; a scan resumes after its last key; Admin reads move too. And a target
 * that names two addresses (what a DNS name with two A records resolves to) behaves the same.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import type { ScanRequest } from '@quire/proto';
import { QuireClient } from './client.js';
import { FakeRouter, type FakeAnswer, type ReceivedRequest } from './testing/fake-router.js';

const ok: FakeAnswer = { kind: 'ok' };
const hang: FakeAnswer = { kind: 'hang' };

async function until(what: string, condition: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('a client with two routers', () => {
  const cleanup: (() => void)[] = [];
  afterEach(() => {
    for (const f of cleanup.splice(0)) f();
  });

  /** Two fake routers: `dying` answers `dyingAnswer`, the other answers ok; which is which is decided by the client's choice. */
  async function twoRouters(options: {
    dyingAnswer: (r: ReceivedRequest) => FakeAnswer;
    otherAnswer?: (r: ReceivedRequest) => FakeAnswer;
    scanKeys?: (address: string, request: ScanRequest) => string[];
  }) {
    let dying = '';
    const behaviour = (address: () => string) => ({
      answer: (r: ReceivedRequest) => (address() === dying ? options.dyingAnswer(r) : (options.otherAnswer?.(r) ?? ok)),
      scanKeys: (request: ScanRequest) => options.scanKeys?.(address(), request) ?? [],
    });
    let aAddress = '';
    let bAddress = '';
    const a = await FakeRouter.start(behaviour(() => aAddress));
    const b = await FakeRouter.start(behaviour(() => bAddress));
    aAddress = a.address;
    bAddress = b.address;
    const client = new QuireClient({ routers: [a.address, b.address], requestTimeoutMs: 5_000, connectTimeoutMs: 2_000 });
    cleanup.push(() => client.close(), () => a.kill(), () => b.kill());
    // Connected to both before anything dies (the client connects to every router at once).
    await client.clusterStatus();
    dying = client.activeRouter;
    const [active, other] = dying === a.address ? [a, b] : [b, a];
    return { client, active, other, dying };
  }

  it('moves in-flight gets, puts and deletes to the other router when the one in use dies, writes with the same request id', async () => {
    const { client, active, other } = await twoRouters({ dyingAnswer: () => hang });
    const get = client.get('k');
    const put = client.put('k', 'v');
    const del = client.delete('k');
    await until('the operations to reach the router in use', () => active.received.filter((r) => r.method !== 'clusterStatus').length === 3);
    const killedAt = performance.now();
    active.kill();
    expect((await get).value.toString()).toBe('v');
    expect(await put).toEqual({ version: 1 });
    expect(await del).toEqual({ found: true, version: 1 });
    const movedMs = performance.now() - killedAt;
    expect(other.writeIds).toEqual(active.writeIds);
    expect(other.writeIds).toHaveLength(2);
    expect(client.activeRouter).toBe(other.address);
    // The other router was connected already: moving takes milliseconds, not a connect timeout.
    expect(movedMs).toBeLessThan(1_000);
    // New operations go there at once too.
    const startedAt = performance.now();
    await client.put('k2', 'v');
    expect(performance.now() - startedAt).toBeLessThan(500);
  });

  it('sends a write without a request id nowhere else: AMBIGUOUS_RESULT', async () => {
    const { client, active, other } = await twoRouters({ dyingAnswer: () => hang });
    const put = client.put('k', 'v', { requestId: '' }).catch((e: unknown) => e);
    await until('the put to reach the router in use', () => active.writeIds.length === 1);
    active.kill();
    expect((await put) as { code: string }).toMatchObject({ code: 'AMBIGUOUS_RESULT' });
    expect(other.writeIds).toEqual([]);
  });

  it.each<[string, FakeAnswer, object]>([
    ['a code that does not settle it stays AMBIGUOUS_RESULT', { kind: 'error', code: 'PARTITION_UNAVAILABLE' }, { code: 'AMBIGUOUS_RESULT' }],
    ['CONDITION_FAILED settles it', { kind: 'error', code: 'CONDITION_FAILED' }, { code: 'CONDITION_FAILED' }],
  ])('after a write was lost with its router, %s', async (_name, otherAnswer, expected) => {
    const { client, active, other } = await twoRouters({ dyingAnswer: () => hang, otherAnswer: (r) => (r.method === 'put' ? otherAnswer : ok) });
    const put = client.put('k', 'v', { expectedVersion: 3 }).catch((e: unknown) => e);
    await until('the put to reach the router in use', () => active.writeIds.length === 1);
    active.kill();
    expect(await put).toMatchObject(expected);
    expect(other.writeIds).toEqual(active.writeIds);
  });

  it('resumes a scan on the other router after the last key it yielded, yielding every key once', async () => {
    const keys = ['a', 'b', 'c', 'd', 'e'];
    let dyingAddress = '';
    const { client, active, other, dying } = await twoRouters({
      dyingAnswer: (r) => (r.method === 'scan' ? { kind: 'status', status: status.UNAVAILABLE } : ok),
      scanKeys: (address, request) => {
        const from = keys.filter((k) => Buffer.compare(Buffer.from(k), request.start) >= 0);
        return address === dyingAddress ? from.slice(0, 3) : from;
      },
    });
    dyingAddress = dying;
    const seen: string[] = [];
    for await (const e of client.scan({ limit: 4 })) seen.push(e.key.toString());
    expect(seen).toEqual(['a', 'b', 'c', 'd']);
    expect(active.received.filter((r) => r.method === 'scan')).toHaveLength(1);
    const resumed = other.received.filter((r) => r.method === 'scan');
    expect(resumed).toHaveLength(1);
    // Resumed at the last key yielded (skipped when it comes again), with the rest of the limit and one more.
    expect(resumed[0]?.scan?.start.toString()).toBe('c');
    expect(resumed[0]?.scan?.limit).toBe(2);
  });

  it('sends an Admin read to the other router when the call fails without an answer', async () => {
    const { client, active, other } = await twoRouters({ dyingAnswer: (r) => (r.method === 'getPartitionMap' ? { kind: 'status', status: status.INTERNAL } : ok) });
    await expect(client.partitionMap()).rejects.toMatchObject({ code: 'INTERNAL', message: 'GetPartitionMap returned no map' });
    expect(active.received.filter((r) => r.method === 'getPartitionMap')).toHaveLength(1);
    expect(other.received.filter((r) => r.method === 'getPartitionMap')).toHaveLength(1);
  });

  it('starts on a router that is up when another is down, without waiting for the connect timeout', async () => {
    const down = await FakeRouter.start({ answer: () => ok });
    down.kill();
    const up = await FakeRouter.start({ answer: () => ok });
    cleanup.push(() => up.kill());
    for (let i = 0; i < 4; i++) {
      const client = new QuireClient({ routers: [down.address, up.address], connectTimeoutMs: 3_000 });
      cleanup.push(() => client.close());
      const startedAt = performance.now();
      expect(await client.put('k', 'v')).toEqual({ version: 1 });
      expect(performance.now() - startedAt).toBeLessThan(1_000);
      expect(client.activeRouter).toBe(up.address);
    }
  });
});

describe('a target that resolves to two addresses (as a DNS name with two A records does)', () => {
  it('connects to both, and moves to the other address when the one in use dies', async () => {
    let survivor = '';
    const behaviour = (address: () => string) => ({ answer: () => (address() === survivor ? ok : hang) });
    let firstAddress = '';
    let secondAddress = '';
    const first = await FakeRouter.start(behaviour(() => firstAddress), '127.0.0.1:0');
    firstAddress = first.address;
    const port = first.address.split(':')[1] ?? '';
    let second: FakeRouter;
    try {
      second = await FakeRouter.start(behaviour(() => secondAddress), `127.0.0.2:${port}`);
      secondAddress = second.address;
    } catch {
      first.kill();
      return; // 127.0.0.2 unusable here (not Linux loopback): nothing to test.
    }
    const client = new QuireClient({ router: `ipv4:127.0.0.1:${port},127.0.0.2:${port}`, requestTimeoutMs: 5_000 });
    try {
      const puts = Array.from({ length: 20 }, (_, i) => client.put(`k${i}`, 'v'));
      await until('the puts to reach a router', () => first.writeIds.length + second.writeIds.length >= 20);
      // Kill whichever address the stream went to; the other answers from now on.
      const [used, other] = first.writeIds.length > 0 ? [first, second] : [second, first];
      expect(used.writeIds).toHaveLength(20);
      survivor = other.address;
      used.kill();
      for (const put of puts) expect(await put).toEqual({ version: 1 });
      expect(other.writeIds).toEqual(used.writeIds);
    } finally {
      client.close();
      first.kill();
      second.kill();
    }
  });
});
