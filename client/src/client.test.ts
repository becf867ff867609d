import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { isQuireError } from '@quire/common';
import { QuireClient } from './client.js';

// Nothing listens here: these tests never reach the network (ids are made and checked before sending).
const router = '127.0.0.1:1';

describe('QuireClient request ids', () => {
  const clients: QuireClient[] = [];
  const client = (): QuireClient => {
    const c = new QuireClient({ router, connectTimeoutMs: 100 });
    clients.push(c);
    return c;
  };
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });

  it('makes 16-byte ids: the client id, then a sequence number that grows by one', () => {
    const c = client();
    const first = c.newRequestId();
    const second = c.newRequestId();
    expect(first).toHaveLength(16);
    expect(second.subarray(0, 8)).toEqual(first.subarray(0, 8));
    expect(first.readBigUInt64BE(8)).toBe(1n);
    expect(second.readBigUInt64BE(8)).toBe(2n);
  });

  it('gives every client its own random client id', () => {
    const ids = new Set(Array.from({ length: 20 }, () => client().newRequestId().subarray(0, 8).toString('hex')));
    expect(ids.size).toBe(20);
  });

  it('refuses a request id longer than 64 bytes with INVALID_ARGUMENT naming request_id and the limit, before sending', async () => {
    const c = client();
    for (const write of [() => c.put('k', 'v', { requestId: Buffer.alloc(65) }), () => c.delete('k', { requestId: 'x'.repeat(65) })]) {
      const err: unknown = await write().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isQuireError(err, 'INVALID_ARGUMENT')).toBe(true);
      expect((err as { details: unknown }).details).toEqual({ field: 'request_id', limit: 64, actual: 65 });
    }
  });
});

describe('QuireClient with no router it can reach', () => {
  const clients: QuireClient[] = [];
  const servers: Server[] = [];
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const socket of sockets.splice(0)) socket.destroy();
    await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  });
  const codeOf = async (p: Promise<unknown>): Promise<string> => {
    const err: unknown = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    return isQuireError(err) ? err.code : `not a QuireError: ${String(err)}`;
  };

  it('fails UNAVAILABLE when connections are refused, also when the request deadline ends the wait first or with it', async () => {
    // The CLI's --timeout-ms 1000 makes both timeouts 1000 ms: which one ends the wait first is a
    // matter of a millisecond, and the refused router must be reported the same way either way.
    for (const [requestTimeoutMs, connectTimeoutMs] of [
      [300, 300],
      [300, 5_000],
      [5_000, 300],
    ] as const) {
      const c = new QuireClient({ router, requestTimeoutMs, connectTimeoutMs });
      clients.push(c);
      expect(await codeOf(c.get('k')), `request ${requestTimeoutMs} ms, connect ${connectTimeoutMs} ms`).toBe('UNAVAILABLE');
    }
  });

  it('fails DEADLINE_EXCEEDED when the deadline ends the wait for a router that accepted the connection but never answered', async () => {
    // A TCP listener that never speaks HTTP/2: the channel stays CONNECTING.
    const server = createServer((socket) => sockets.push(socket));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const c = new QuireClient({ router: `127.0.0.1:${port}`, requestTimeoutMs: 300, connectTimeoutMs: 5_000 });
    clients.push(c);
    expect(await codeOf(c.get('k'))).toBe('DEADLINE_EXCEEDED');
  });
});
