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
