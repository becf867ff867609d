/**
 * Tests of the TCP fault proxy over real sockets on 127.0.0.1 (every listener on port 0).
 * Timing assertions are lower bounds only; waits poll for a condition rather than sleep,
 * except where a test must show that something does *not* happen (then it waits briefly and
 * asserts an invariant that holds whatever the timing).
 */
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { AssertionError, seededRng, type Rng } from '@quire/common';
import { afterEach, describe, expect, it } from 'vitest';
import { FaultProxy, ProxyMesh, swizzleClog, type FaultProxyOptions } from './tcp-proxy.js';

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** One end of a TCP connection, recording what it receives. */
class Peer {
  readonly chunks: Buffer[] = [];
  bytes = 0;
  ended = false;
  closed = false;
  error: NodeJS.ErrnoException | null = null;
  firstDataMs: number | null = null;

  constructor(readonly socket: net.Socket) {
    socket.on('data', (data: Buffer) => {
      this.firstDataMs ??= performance.now();
      this.chunks.push(data);
      this.bytes += data.length;
    });
    socket.on('end', () => (this.ended = true));
    socket.on('error', (err: NodeJS.ErrnoException) => (this.error = err));
    socket.on('close', () => (this.closed = true));
  }

  data(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** A target server: `echo` writes back what it reads; `sink` only records. */
interface Target {
  readonly port: number;
  readonly peers: Peer[];
}

async function startTarget(mode: 'echo' | 'sink'): Promise<Target> {
  const peers: Peer[] = [];
  const server = net.createServer({ noDelay: true }, (socket) => {
    peers.push(new Peer(socket));
    if (mode === 'echo') socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    for (const peer of peers) peer.socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('Target is not listening');
  return { port: address.port, peers };
}

async function startProxy(target: Target, options: Partial<FaultProxyOptions> = {}): Promise<FaultProxy> {
  const proxy = await FaultProxy.start({
    name: 'test',
    listenHost: '127.0.0.1',
    listenPort: 0,
    targetHost: '127.0.0.1',
    targetPort: target.port,
    rng: seededRng(1),
    ...options,
  });
  cleanups.push(() => proxy.close());
  return proxy;
}

function connect(port: number): Peer {
  const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
  cleanups.push(() => {
    socket.destroy();
  });
  return new Peer(socket);
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function settle(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Deterministic pseudo-random bytes. */
function payload(bytes: number, seed: number): Buffer {
  const rng = seededRng(seed);
  const out = Buffer.alloc(bytes);
  for (let i = 0; i + 4 <= bytes; i += 4) out.writeUInt32LE(Math.floor(rng.next() * 2 ** 32), i);
  for (let i = bytes - (bytes % 4); i < bytes; i++) out[i] = rng.below(256);
  return out;
}

function writeInSlices(socket: net.Socket, data: Buffer, sliceBytes: number): void {
  for (let offset = 0; offset < data.length; offset += sliceBytes) socket.write(data.subarray(offset, offset + sliceBytes));
}

/** Waits until the target has accepted `count` connections and returns the last. */
async function targetPeer(target: Target, count = 1): Promise<Peer> {
  await waitFor(() => target.peers.length >= count, 'the target to accept');
  const peer = target.peers[count - 1];
  if (peer === undefined) throw new Error('Target peer missing');
  return peer;
}

/** Sends a ping through an echo path and waits for it, so both legs are connected. */
async function roundTrip(client: Peer, text = 'ping'): Promise<void> {
  const before = client.bytes;
  client.socket.write(text);
  await waitFor(() => client.bytes >= before + text.length, 'the echo');
}

describe('FaultProxy', () => {
  it('passes data unchanged both ways, many chunks, and forwards FIN', async () => {
    const target = await startTarget('echo');
    const proxy = await startProxy(target);
    const client = connect(proxy.port);
    const sent = payload(8 * 1024 * 1024, 11);
    writeInSlices(client.socket, sent, 16 * 1024);
    await waitFor(() => client.bytes === sent.length, 'the echoed payload', 8_000);
    expect(client.data().equals(sent)).toBe(true);
    client.socket.end();
    await waitFor(() => client.ended, 'the FIN to come back');
    const stats = proxy.stats();
    expect(stats.connectionsAccepted).toBe(1);
    expect(stats.toTarget).toEqual({ received: sent.length, delivered: sent.length, dropped: 0 });
    expect(stats.toClient).toEqual({ received: sent.length, delivered: sent.length, dropped: 0 });
    await waitFor(() => proxy.stats().connectionsOpen === 0, 'the connection to close');
  });

  it('delays each chunk by about meanMs, keeps FIFO order, and draws jitter from the injected Rng', async () => {
    const target = await startTarget('sink');
    let draws = 0;
    const inner = seededRng(5);
    const rng: Rng = { next: () => (draws++, inner.next()), below: (b) => inner.below(b), id: (b) => inner.id(b) };
    const proxy = await startProxy(target, { rng });
    const client = connect(proxy.port);
    await waitFor(() => target.peers.length === 1, 'the target connection');
    proxy.delay({ meanMs: 60, jitterMs: 40 });
    const sent: Buffer[] = [];
    const startMs = performance.now();
    for (let i = 0; i < 40; i++) {
      const chunk = Buffer.from(`chunk-${String(i).padStart(3, '0')};`);
      sent.push(chunk);
      client.socket.write(chunk);
      // Separate event-loop turns, so the proxy reads several chunks with different jitter.
      await new Promise((resolve) => setImmediate(resolve));
    }
    const peer = await targetPeer(target);
    const expected = Buffer.concat(sent);
    await waitFor(() => peer.bytes === expected.length, 'the delayed chunks');
    expect(peer.data().toString()).toBe(expected.toString());
    // Nothing may arrive before meanMs - jitterMs (1 ms of slack for timer rounding).
    expect(peer.firstDataMs! - startMs).toBeGreaterThanOrEqual(19);
    expect(draws).toBeGreaterThan(0);
    expect(proxy.events.map((e) => e.fault)).toEqual(['delay']);
    expect(proxy.events[0]?.params).toEqual({ meanMs: 60, jitterMs: 40 });
  });

  it('stall holds data in both directions and unstall delivers it in order', async () => {
    const target = await startTarget('sink');
    const proxy = await startProxy(target);
    const client = connect(proxy.port);
    const server = await targetPeer(target);
    proxy.stall();
    const up = payload(256 * 1024, 21);
    const down = payload(256 * 1024, 22);
    writeInSlices(client.socket, up, 8 * 1024);
    writeInSlices(server.socket, down, 8 * 1024);
    await waitFor(() => proxy.stats().toTarget.received === up.length && proxy.stats().toClient.received === down.length, 'the proxy to buffer');
    expect(server.bytes).toBe(0);
    expect(client.bytes).toBe(0);
    expect(proxy.stats().bytesQueued).toBe(up.length + down.length);
    expect(proxy.faults().stalled).toBe(true);
    proxy.unstall();
    await waitFor(() => server.bytes === up.length && client.bytes === down.length, 'the buffered data');
    expect(server.data().equals(up)).toBe(true);
    expect(client.data().equals(down)).toBe(true);
    expect(proxy.stats().bytesQueued).toBe(0);
    expect(proxy.events.map((e) => e.fault)).toEqual(['stall', 'unstall']);
  });

  it('keeps memory bounded under stall and a slow consumer', async () => {
    const target = await startTarget('sink');
    const bufferedBytesMax = 64 * 1024;
    const chunkBytesMax = 64 * 1024; // one socket read
    const proxy = await startProxy(target, { bufferedBytesMax });
    const client = connect(proxy.port);
    const server = await targetPeer(target);
    server.socket.pause();
    proxy.stall();
    const sent = payload(16 * 1024 * 1024, 31);
    writeInSlices(client.socket, sent, 64 * 1024);
    await waitFor(() => proxy.stats().toTarget.received > bufferedBytesMax, 'the buffer to fill');
    // Give the proxy time to read more if it wrongly kept reading; the bound must hold anyway.
    await settle(50);
    expect(proxy.stats().toTarget.received).toBeLessThanOrEqual(bufferedBytesMax + chunkBytesMax);
    expect(client.socket.writableLength).toBeGreaterThan(0);
    const pausesWhileStalled = proxy.stats().sourcePauses;
    expect(pausesWhileStalled).toBe(1);

    // Slow consumer: the target reads one chunk, then pauses for a millisecond.
    proxy.unstall();
    server.socket.on('data', () => {
      server.socket.pause();
      setTimeout(() => server.socket.resume(), 1);
    });
    server.socket.resume();
    await waitFor(() => server.bytes === sent.length, 'the slow consumer to read everything', 9_000);
    expect(server.data().equals(sent)).toBe(true);
    expect(proxy.stats().bytesQueuedPeak).toBeLessThanOrEqual(bufferedBytesMax + chunkBytesMax);
    // The slow consumer pushed back on the proxy, and the proxy on the client, again.
    expect(proxy.stats().sourcePauses).toBeGreaterThan(pausesWhileStalled);
  });

  it('blackhole drops everything while the connection stays open; heal resets the holed connection', async () => {
    const target = await startTarget('echo');
    const proxy = await startProxy(target);
    const client = connect(proxy.port);
    await roundTrip(client);
    proxy.blackhole();
    const sent = payload(100 * 1024, 41);
    client.socket.write(sent);
    await waitFor(() => proxy.stats().toTarget.dropped === sent.length, 'the proxy to drop');
    const server = await targetPeer(target);
    expect(server.bytes).toBe(4);
    expect(client.bytes).toBe(4);
    expect(client.closed || client.ended || client.error !== null).toBe(false);
    expect(proxy.stats().connectionsOpen).toBe(1);

    // The stream now has a hole: healing must not deliver later bytes, it resets the connection.
    proxy.heal();
    await waitFor(() => client.error !== null, 'the reset');
    expect(client.error?.code).toBe('ECONNRESET');
    expect(proxy.events.at(-1)).toMatchObject({ fault: 'heal', params: { connectionsReset: 1 } });
    const fresh = connect(proxy.port);
    await roundTrip(fresh, 'after heal');
    expect(fresh.data().toString()).toBe('after heal');
  });

  it('blackhole discards data already queued by a stall', async () => {
    const target = await startTarget('sink');
    const proxy = await startProxy(target);
    const client = connect(proxy.port);
    const server = await targetPeer(target);
    proxy.stall();
    client.socket.write(payload(10_000, 42));
    await waitFor(() => proxy.stats().bytesQueued === 10_000, 'the stall to queue');
    proxy.blackhole();
    proxy.unstall();
    expect(proxy.stats()).toMatchObject({ bytesQueued: 0, toTarget: { received: 10_000, delivered: 0, dropped: 10_000 } });
    expect(server.bytes).toBe(0);
  });

  it('blackhole drops a FIN queued by a stall, even after unstall', async () => {
    const target = await startTarget('sink');
    const proxy = await startProxy(target);
    const client = connect(proxy.port);
    const server = await targetPeer(target);
    proxy.stall();
    client.socket.end('bye');
    await waitFor(() => proxy.stats().bytesQueued === 3, 'the stall to queue');
    proxy.blackhole();
    proxy.unstall();
    // Prove a negative: the FIN would reach the target within milliseconds if it were sent.
    await settle(50);
    expect(server.ended).toBe(false);
    expect(server.bytes).toBe(0);
  });

  it('reset makes the client see ECONNRESET, and refuse resets new connections until cleared', async () => {
    const target = await startTarget('echo');
    const proxy = await startProxy(target);
    const client = connect(proxy.port);
    await roundTrip(client);
    proxy.reset();
    await waitFor(() => client.error !== null, 'the reset');
    expect(client.error?.code).toBe('ECONNRESET');

    proxy.reset({ refuse: true });
    const refused = connect(proxy.port);
    await waitFor(() => refused.error !== null, 'the refusal');
    expect(refused.error?.code).toBe('ECONNRESET');
    expect(proxy.stats().connectionsRefused).toBe(1);

    proxy.clear('refuse');
    const accepted = connect(proxy.port);
    await roundTrip(accepted);
    expect(proxy.events.map((e) => [e.fault, e.params])).toEqual([
      ['reset', { refuse: false, connections: 1 }],
      ['reset', { refuse: true, connections: 0 }],
      ['clear', { fault: 'refuse', connectionsReset: 0 }],
    ]);
  });

  it('halfOpen toClient drops only the replies', async () => {
    const target = await startTarget('echo');
    const proxy = await startProxy(target);
    const client = connect(proxy.port);
    await roundTrip(client);
    proxy.halfOpen('toClient');
    const sent = payload(64 * 1024, 51);
    client.socket.write(sent);
    const server = await targetPeer(target);
    await waitFor(() => server.bytes === 4 + sent.length, 'the request to arrive');
    await waitFor(() => proxy.stats().toClient.dropped === sent.length, 'the echo to be dropped');
    expect(client.bytes).toBe(4);
    expect(proxy.faults().halfOpen).toEqual(['toClient']);
  });

  it('halfOpen toTarget drops only the requests', async () => {
    const target = await startTarget('sink');
    const proxy = await startProxy(target);
    const client = connect(proxy.port);
    const server = await targetPeer(target);
    proxy.halfOpen('toTarget');
    const up = payload(32 * 1024, 52);
    const down = payload(32 * 1024, 53);
    client.socket.write(up);
    server.socket.write(down);
    await waitFor(() => client.bytes === down.length, 'the push to arrive');
    await waitFor(() => proxy.stats().toTarget.dropped === up.length, 'the request to be dropped');
    expect(server.bytes).toBe(0);
    expect(client.data().equals(down)).toBe(true);
  });

  it('bandwidth limits throughput (lower bound on elapsed time)', async () => {
    const target = await startTarget('sink');
    const proxy = await startProxy(target);
    const client = connect(proxy.port);
    const server = await targetPeer(target);
    const bytesPerSecond = 512 * 1024;
    proxy.bandwidth(bytesPerSecond);
    const sent = payload(256 * 1024, 61);
    const startMs = performance.now();
    writeInSlices(client.socket, sent, 16 * 1024);
    await waitFor(() => server.bytes === sent.length, 'the throttled payload');
    const elapsedMs = performance.now() - startMs;
    // 256 KiB at 512 KiB/s minus the 50 ms burst is 450 ms; allow scheduling slack below that.
    expect(elapsedMs).toBeGreaterThanOrEqual(400);
    expect(server.data().equals(sent)).toBe(true);
  });

  it('heal clears delay, stall and bandwidth without resetting connections', async () => {
    const target = await startTarget('echo');
    const proxy = await startProxy(target);
    const client = connect(proxy.port);
    await roundTrip(client);
    proxy.delay({ meanMs: 10_000, jitterMs: 0 });
    proxy.bandwidth(100);
    proxy.stall();
    const sent = payload(32 * 1024, 71);
    client.socket.write(sent);
    await waitFor(() => proxy.stats().toTarget.received === 4 + sent.length, 'the proxy to queue');
    proxy.heal();
    await waitFor(() => client.bytes === 4 + sent.length, 'the healed echo', 2_000);
    expect(client.data().subarray(4).equals(sent)).toBe(true);
    expect(client.error).toBeNull();
    expect(proxy.stats().connectionsReset).toBe(0);
    expect(proxy.faults()).toEqual({ delay: null, stalled: false, blackholed: false, refusing: false, halfOpen: [], bandwidthBytesPerSecond: null });
  });

  it('clearing halfOpen resets only connections whose stream lost bytes', async () => {
    const target = await startTarget('echo');
    const proxy = await startProxy(target);
    const lossy = connect(proxy.port);
    const quiet = connect(proxy.port);
    await roundTrip(lossy);
    await roundTrip(quiet);
    proxy.halfOpen('toTarget');
    lossy.socket.write('lost');
    await waitFor(() => proxy.stats().toTarget.dropped === 4, 'the drop');
    proxy.clear('halfOpen');
    await waitFor(() => lossy.error !== null, 'the reset');
    await roundTrip(quiet, 'still here');
    expect(quiet.error).toBeNull();
    expect(proxy.stats().connectionsReset).toBe(1);
  });

  it('rejects connections over connectionsMax and bounds the event record', async () => {
    const target = await startTarget('echo');
    const proxy = await startProxy(target, { connectionsMax: 1, eventsMax: 3 });
    const first = connect(proxy.port);
    await roundTrip(first);
    const second = connect(proxy.port);
    await waitFor(() => second.error !== null || second.closed, 'the rejection');
    expect(proxy.stats().connectionsRejected).toBe(1);
    for (let i = 0; i < 5; i++) proxy.stall();
    expect(proxy.events).toHaveLength(3);
    expect(proxy.stats().eventsDropped).toBe(2);
  });

  it('asserts on invalid fault parameters', async () => {
    const target = await startTarget('sink');
    const proxy = await startProxy(target, { delayMsMax: 1_000 });
    expect(() => proxy.delay({ meanMs: -1, jitterMs: 0 })).toThrow(AssertionError);
    expect(() => proxy.delay({ meanMs: 900, jitterMs: 200 })).toThrow(AssertionError);
    expect(() => proxy.bandwidth(0)).toThrow(AssertionError);
    expect(proxy.events).toHaveLength(0);
  });
});

describe('ProxyMesh', () => {
  async function startMesh(target: Target, names: readonly string[]): Promise<ProxyMesh> {
    const mesh = await ProxyMesh.start(
      names.map((name) => ({ name, listenPort: 0, targetHost: '127.0.0.1', targetPort: target.port })),
      { rng: seededRng(3) },
    );
    cleanups.push(() => mesh.close());
    return mesh;
  }

  it('applies a fault to the chosen links only', async () => {
    const target = await startTarget('echo');
    const mesh = await startMesh(target, ['a', 'b']);
    mesh.apply(['a'], { kind: 'stall' });
    const viaA = connect(mesh.proxy('a').port);
    const viaB = connect(mesh.proxy('b').port);
    viaA.socket.write('a');
    await roundTrip(viaB);
    await waitFor(() => mesh.proxy('a').stats().bytesQueued === 1, 'a to queue');
    expect(viaA.bytes).toBe(0);
    mesh.heal();
    await waitFor(() => viaA.bytes === 1, 'a to flow after heal');
    expect(mesh.events().map((e) => [e.link, e.fault])).toEqual([
      ['a', 'stall'],
      ['a', 'heal'],
      ['b', 'heal'],
    ]);
  });

  it('swizzle-clog stalls a random subset one by one, then unstalls every one in random order', async () => {
    const target = await startTarget('echo');
    const names = ['a', 'b', 'c', 'd', 'e', 'f'];
    const mesh = await startMesh(target, names);
    const stepMs = 15;
    const record = await mesh.swizzleClog(names, { stepMs, rng: seededRng(42) });
    expect(record.aborted).toBe(false);
    expect(record.stalled.length).toBeGreaterThan(0);
    expect([...record.unstalled].sort()).toEqual([...record.stalled].sort());
    expect(record.steps.map((s) => s.action)).toEqual([...record.stalled.map(() => 'stall'), ...record.unstalled.map(() => 'unstall')]);
    for (let i = 1; i < record.stalled.length; i++) {
      expect(record.steps[i]!.timeMs - record.steps[i - 1]!.timeMs).toBeGreaterThanOrEqual(stepMs - 1);
    }
    for (const name of names) {
      const faults = mesh.proxy(name).events.map((e) => e.fault);
      expect(faults).toEqual(record.stalled.includes(name) ? ['stall', 'unstall'] : []);
      expect(mesh.proxy(name).faults().stalled).toBe(false);
      await roundTrip(connect(mesh.proxy(name).port), name);
    }
    // The same seed replays the same subset and orders.
    const again = await swizzleClog(
      names.map((n) => mesh.proxy(n)),
      { stepMs: 1, rng: seededRng(42) },
    );
    expect([again.stalled, again.unstalled]).toEqual([record.stalled, record.unstalled]);
  });

  it('swizzle-clog unstalls everything when aborted', async () => {
    const target = await startTarget('echo');
    const names = ['a', 'b', 'c', 'd'];
    const mesh = await startMesh(target, names);
    const controller = new AbortController();
    const running = mesh.swizzleClog(names, { stepMs: 10_000, rng: seededRng(9), signal: controller.signal });
    await waitFor(() => names.some((n) => mesh.proxy(n).faults().stalled), 'the first stall');
    controller.abort();
    const record = await running;
    expect(record.aborted).toBe(true);
    expect(record.stalled).toHaveLength(1);
    expect(record.unstalled).toEqual(record.stalled);
    for (const name of names) expect(mesh.proxy(name).faults().stalled).toBe(false);
  });
});

describe('gRPC through the proxy', () => {
  const method = '/quire.test.Echo/Echo';
  const identity = (b: Buffer): Buffer => b;

  interface CallOutcome {
    readonly code: grpc.status;
    readonly reply: Buffer | undefined;
    readonly details: string | undefined;
  }

  async function call(client: grpc.Client, text: string, deadlineMs: number, waitForReady: boolean): Promise<CallOutcome> {
    return new Promise((resolve) => {
      client.makeUnaryRequest(method, identity, identity, Buffer.from(text), new grpc.Metadata({ waitForReady }), { deadline: Date.now() + deadlineMs }, (err, reply) =>
        resolve({ code: err?.code ?? grpc.status.OK, reply, details: err?.details }),
      );
    });
  }

  it('works through the proxy, fails under blackhole, and recovers after heal', async () => {
    const server = new grpc.Server();
    server.addService(
      { echo: { path: method, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity } },
      { echo: (callHandle: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback(null, callHandle.request) },
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err === null ? resolve(p) : reject(err))),
    );
    cleanups.push(() => server.forceShutdown());
    const proxy = await startProxy({ port, peers: [] });
    const client = new grpc.Client(`127.0.0.1:${proxy.port}`, grpc.credentials.createInsecure());
    cleanups.push(() => client.close());

    const ok = await call(client, 'hello', 3_000, true);
    expect(ok.code).toBe(grpc.status.OK);
    expect(ok.reply?.toString()).toBe('hello');

    proxy.blackhole();
    const lost = await call(client, 'lost', 300, false);
    expect([grpc.status.DEADLINE_EXCEEDED, grpc.status.UNAVAILABLE]).toContain(lost.code);

    // Heal resets the holed connection. A call that starts before the client has read the RST
    // fails UNAVAILABLE (ECONNRESET), as any call on a dying connection would; the next one
    // reconnects through the proxy.
    proxy.heal();
    let healed = await call(client, 'again', 5_000, true);
    if (healed.code === grpc.status.UNAVAILABLE) healed = await call(client, 'again', 5_000, true);
    expect(healed.code).toBe(grpc.status.OK);
    expect(healed.reply?.toString()).toBe('again');
  });
});
