/**
 * Every error code and every raw gRPC status through the client, for reads and writes, against
 * a fake router on 127.0.0.1 (real grpc-js sockets): the code the caller gets, and whether it
 * says the operation may have taken effect, as docs/architecture.md's "Did the operation take
 * effect?" table says. The codes come from common's error classes, so a new code runs here too.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorClasses, isQuireError, mayHaveTakenEffect, type QuireError, type QuireErrorCode } from '@quire/common';
import { QuireClient } from './client.js';
import { FakeRouter, type FakeAnswer, type ReceivedRequest } from './testing/fake-router.js';

const codes = Object.keys(errorClasses) as QuireErrorCode[];
const statuses = Object.values(status).filter((v): v is status => typeof v === 'number');

/** code → "no" | "unknown", from the docs table. */
const documentedEffect: ReadonlyMap<string, string> = (() => {
  const markdown = readFileSync(fileURLToPath(new URL('../../docs/architecture.md', import.meta.url)), 'utf8');
  const lines = markdown.slice(markdown.indexOf('### Did the operation take effect?')).split('\n');
  const rows = lines.slice(lines.findIndex((l) => l.startsWith('| code |')) + 2);
  const effects = new Map<string, string>();
  for (const row of rows) {
    if (!row.startsWith('|')) break;
    const [code = '', , effect = ''] = row.slice(1, -1).split('|').map((c) => c.trim().replaceAll('`', ''));
    effects.set(code, effect);
  }
  return effects;
})();

async function failure(p: Promise<unknown>): Promise<QuireError> {
  const err: unknown = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isQuireError(err)) throw new Error(`Expected a QuireError, got ${String(err)}`);
  return err;
}

/** Asserts the client's code, and that its "may have taken effect" is the documented one. */
function expectOutcome(err: QuireError, code: QuireErrorCode, effect: 'no' | 'unknown'): void {
  expect(err.code).toBe(code);
  expect(documentedEffect.get(err.code)).toBe(effect);
  expect(mayHaveTakenEffect(err.code)).toBe(effect === 'unknown');
}

/** What a read that failed without Quire metadata becomes (fromGrpcError, no write in flight). */
function readCodeOf(s: status): QuireErrorCode {
  if (s === status.UNAVAILABLE || s === status.CANCELLED) return 'UNAVAILABLE';
  return s === status.DEADLINE_EXCEEDED ? 'DEADLINE_EXCEEDED' : 'INTERNAL';
}

async function drain(scan: AsyncGenerator<unknown>): Promise<void> {
  for await (const item of scan) void item;
}

describe('every outcome through the client against one router', () => {
  let answer: FakeAnswer = { kind: 'ok' };
  let router: FakeRouter;
  let client: QuireClient;
  let shortClient: QuireClient;
  beforeAll(async () => {
    router = await FakeRouter.start({ answer: () => answer });
    client = new QuireClient({ router: router.address, requestTimeoutMs: 5_000, connectTimeoutMs: 1_000 });
    shortClient = new QuireClient({ router: router.address, requestTimeoutMs: 300, connectTimeoutMs: 300 });
  });
  afterAll(() => {
    client.close();
    shortClient.close();
    router.kill();
  });
  const sent = (method: ReceivedRequest['method'], from: number): ReceivedRequest[] => router.received.slice(from).filter((r) => r.method === method);

  it('the docs table classifies every code', () => {
    expect([...documentedEffect.keys()].sort()).toEqual([...codes].sort());
  });

  it('succeeds when the router answers', async () => {
    answer = { kind: 'ok' };
    expect((await client.get('k')).value.toString()).toBe('v');
    expect(await client.put('k', 'v')).toEqual({ version: 1 });
  });

  describe.each(codes)('the router answers %s', (code) => {
    const effect = (): 'no' | 'unknown' => (mayHaveTakenEffect(code) ? 'unknown' : 'no');
    it('to a get, a put and a delete (stream ErrorInfo): the same code, sent once', async () => {
      answer = { kind: 'error', code };
      const from = router.received.length;
      expectOutcome(await failure(client.get('k')), code, effect());
      expectOutcome(await failure(client.put('k', 'v')), code, effect());
      expectOutcome(await failure(client.delete('k')), code, effect());
      expect(router.received.length - from).toBe(3);
    });
    it('to a scan, clusterStatus and transferLeader (status with quire-error-bin): the same code, sent once', async () => {
      answer = { kind: 'error', code };
      const from = router.received.length;
      expectOutcome(await failure(drain(client.scan())), code, effect());
      expectOutcome(await failure(client.clusterStatus()), code, effect());
      expectOutcome(await failure(client.transferLeader(1)), code, effect());
      expect(router.received.length - from).toBe(3);
    });
  });

  describe.each(statuses)('the router ends the call with raw status %s and no Quire metadata', (s) => {
    it('a get is sent again and fails UNAVAILABLE; a put and a delete are sent again with the same request id and fail AMBIGUOUS_RESULT', async () => {
      answer = { kind: 'status', status: s };
      const from = router.received.length;
      expectOutcome(await failure(client.get('k')), 'UNAVAILABLE', 'no');
      expect(sent('get', from)).toHaveLength(2);
      expectOutcome(await failure(client.put('k', 'v')), 'AMBIGUOUS_RESULT', 'unknown');
      expectOutcome(await failure(client.delete('k')), 'AMBIGUOUS_RESULT', 'unknown');
      const writes = [...sent('put', from), ...sent('delete', from)];
      expect(writes).toHaveLength(4);
      expect(writes[1]?.requestId).toBe(writes[0]?.requestId);
      expect(writes[3]?.requestId).toBe(writes[2]?.requestId);
    });
    it('a write without a request id is AMBIGUOUS_RESULT and never sent again', async () => {
      answer = { kind: 'status', status: s };
      const from = router.received.length;
      expectOutcome(await failure(client.put('k', 'v', { requestId: '' })), 'AMBIGUOUS_RESULT', 'unknown');
      expect(sent('put', from)).toEqual([{ method: 'put', requestId: '' }]);
    });
    it.skipIf(s === status.OK)('a scan and clusterStatus are sent again, then typed as reads; transferLeader is AMBIGUOUS_RESULT, sent once', async () => {
      answer = { kind: 'status', status: s };
      const from = router.received.length;
      expectOutcome(await failure(drain(client.scan())), readCodeOf(s), 'no');
      expect(sent('scan', from)).toHaveLength(2);
      expectOutcome(await failure(client.clusterStatus()), readCodeOf(s), 'no');
      const retried = readCodeOf(s) !== 'DEADLINE_EXCEEDED';
      expect(sent('clusterStatus', from)).toHaveLength(retried ? 2 : 1);
      expectOutcome(await failure(client.transferLeader(1)), 'AMBIGUOUS_RESULT', 'unknown');
      expect(sent('transferLeader', from)).toHaveLength(1);
    });
  });

  it.each<[string, FakeAnswer]>([
    ['an unknown error code', { kind: 'error', code: 'SOMETHING_NEW' }],
    ['a result of the wrong kind', { kind: 'wrong-result' }],
    ['a response that does not decode', { kind: 'garbage' }],
  ])('makes %s INTERNAL or UNAVAILABLE for a get and AMBIGUOUS_RESULT for a put', async (_what, a) => {
    answer = a;
    const readCode = a.kind === 'garbage' ? 'UNAVAILABLE' : 'INTERNAL';
    expectOutcome(await failure(client.get('k')), readCode, 'no');
    expectOutcome(await failure(client.put('k', 'v')), 'AMBIGUOUS_RESULT', 'unknown');
    expectOutcome(await failure(client.delete('k')), 'AMBIGUOUS_RESULT', 'unknown');
  });

  it('makes an unknown code INTERNAL for Admin reads and AMBIGUOUS_RESULT for transferLeader', async () => {
    answer = { kind: 'error', code: 'SOMETHING_NEW' };
    expectOutcome(await failure(client.clusterStatus()), 'INTERNAL', 'no');
    expectOutcome(await failure(client.transferLeader(1)), 'AMBIGUOUS_RESULT', 'unknown');
  });

  it('makes a deadline passed after sending DEADLINE_EXCEEDED for reads and AMBIGUOUS_RESULT for writes', async () => {
    answer = { kind: 'hang' };
    expectOutcome(await failure(shortClient.get('k')), 'DEADLINE_EXCEEDED', 'no');
    expectOutcome(await failure(shortClient.put('k', 'v')), 'AMBIGUOUS_RESULT', 'unknown');
    expectOutcome(await failure(shortClient.delete('k')), 'AMBIGUOUS_RESULT', 'unknown');
    expectOutcome(await failure(drain(shortClient.scan())), 'DEADLINE_EXCEEDED', 'no');
    expectOutcome(await failure(shortClient.clusterStatus()), 'DEADLINE_EXCEEDED', 'no');
    expectOutcome(await failure(shortClient.transferLeader(1)), 'AMBIGUOUS_RESULT', 'unknown');
  });
});

describe('a router that dies with operations in flight, and nowhere else to go', () => {
  it('fails sent reads with UNAVAILABLE, sent writes with AMBIGUOUS_RESULT, and later operations with UNAVAILABLE', async () => {
    const router = await FakeRouter.start({ answer: (r) => (r.method === 'clusterStatus' ? { kind: 'ok' } : { kind: 'hang' }) });
    const client = new QuireClient({ router: router.address, requestTimeoutMs: 5_000, connectTimeoutMs: 300 });
    try {
      await client.clusterStatus(); // connected
      const get = failure(client.get('k'));
      const put = failure(client.put('k', 'v'));
      const del = failure(client.delete('k'));
      while (router.received.length < 4) await new Promise((r) => setTimeout(r, 5));
      router.kill();
      expectOutcome(await get, 'UNAVAILABLE', 'no');
      expectOutcome(await put, 'AMBIGUOUS_RESULT', 'unknown');
      expectOutcome(await del, 'AMBIGUOUS_RESULT', 'unknown');
      expectOutcome(await failure(client.put('k', 'v')), 'UNAVAILABLE', 'no');
      expectOutcome(await failure(client.clusterStatus()), 'UNAVAILABLE', 'no');
      expectOutcome(await failure(client.transferLeader(1)), 'UNAVAILABLE', 'no');
    } finally {
      client.close();
      router.kill();
    }
  });
});
