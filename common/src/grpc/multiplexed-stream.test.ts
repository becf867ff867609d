import { EventEmitter } from 'node:events';
import { connectivityState, type ClientDuplexStream } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { UnavailableError, type QuireError } from '../errors/quire-error.js';
import { ManualClock } from '../testing/manual-clock.js';
import { MicroBatcher } from './micro-batcher.js';
import { MultiplexedStream } from './multiplexed-stream.js';

interface Op {
  readonly id: number;
  readonly name: string;
}
interface Result {
  readonly id: number;
  readonly value?: string;
  readonly error?: string;
}

class FakeStream extends EventEmitter {
  readonly written: Op[][] = [];
  cancelled = false;
  write(req: { ops: Op[] }): boolean {
    this.written.push(req.ops);
    return true;
  }
  cancel(): void {
    this.cancelled = true;
  }
}

/** A transport whose connection and stream the test controls. */
class FakeTransport {
  readonly streams: FakeStream[] = [];
  private readyCallbacks: ((error?: Error) => void)[] = [];
  waitForReady(_deadline: Date, callback: (error?: Error) => void): void {
    this.readyCallbacks.push(callback);
  }
  openStream(): ClientDuplexStream<{ ops: Op[] }, { results: Result[] }> {
    const s = new FakeStream();
    this.streams.push(s);
    return s as unknown as ClientDuplexStream<{ ops: Op[] }, { results: Result[] }>;
  }
  connectivityState(): connectivityState {
    return connectivityState.TRANSIENT_FAILURE;
  }
  connect(error?: Error): void {
    const cbs = this.readyCallbacks;
    this.readyCallbacks = [];
    for (const cb of cbs) cb(error);
  }
  get last(): FakeStream {
    const s = this.streams[this.streams.length - 1];
    if (s === undefined) throw new Error('no stream opened');
    return s;
  }
}

/** Runs scheduled micro-batch flushes (setImmediate) and settles promises. */
const turn = async (): Promise<void> => {
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
};

function setup(opsInFlightMax = 100) {
  const transport = new FakeTransport();
  const clock = new ManualClock();
  const failures: number[] = [];
  const mux = new MultiplexedStream<Op, Result, { ops: Op[] }, { results: Result[] }>(
    transport,
    {
      request: (ops) => ({ ops }),
      results: (res) => res.results,
      error: (id, error: QuireError) => ({ id, error: error.code }),
      payloadBytes: () => 1,
    },
    { peer: 'test peer', connectTimeoutMs: 1000, opsInFlightMax, batchOpsMax: 64, deadlineCheckIntervalMs: 10 },
    clock,
    (lost) => failures.push(lost),
  );
  return { transport, clock, mux, failures };
}

describe('MicroBatcher', () => {
  it('hands over everything pushed in one turn as one batch, and flushes early at itemsMax', () => {
    const batches: number[][] = [];
    const scheduled: (() => void)[] = [];
    const b = new MicroBatcher<number>((items) => batches.push(items), 3, (cb) => scheduled.push(cb));
    b.push(1);
    b.push(2);
    expect(batches).toEqual([]);
    b.push(3);
    expect(batches).toEqual([[1, 2, 3]]);
    b.push(4);
    for (const cb of scheduled.splice(0)) cb();
    expect(batches).toEqual([[1, 2, 3], [4]]);
  });

  it('cuts a batch before it would pass bytesMax, and sends an item larger than bytesMax alone', () => {
    const batches: number[][] = [];
    const scheduled: (() => void)[] = [];
    // Items are their own size in bytes.
    const b = new MicroBatcher<number>((items) => batches.push(items), 100, (cb) => scheduled.push(cb), { bytesOf: (n) => n, bytesMax: 10 });
    b.push(4);
    b.push(5);
    expect(batches).toEqual([]);
    b.push(3); // 4 + 5 + 3 > 10: [4, 5] leaves first
    expect(batches).toEqual([[4, 5]]);
    b.push(7); // 3 + 7 = 10: flushed at the bound
    expect(batches).toEqual([[4, 5], [3, 7]]);
    b.push(25); // alone, larger than the bound
    expect(batches).toEqual([[4, 5], [3, 7], [25]]);
    b.push(1);
    for (const cb of scheduled.splice(0)) cb();
    expect(batches).toEqual([[4, 5], [3, 7], [25], [1]]);
    for (const batch of batches.slice(0, 2)) expect(batch.reduce((a, n) => a + n, 0)).toBeLessThanOrEqual(10);
  });
});

describe('MultiplexedStream', () => {
  it('connects first, sends one batch per turn, and matches results by id in any order', async () => {
    const { transport, mux } = setup();
    const a = mux.send({ name: 'a' }, false, 1000);
    const b = mux.send({ name: 'b' }, true, 1000);
    expect(transport.streams).toHaveLength(0);
    transport.connect();
    await turn();
    expect(transport.last.written).toEqual([[{ name: 'a', id: 1 }, { name: 'b', id: 2 }]]);
    transport.last.emit('data', { results: [{ id: 2, value: 'B' }, { id: 1, value: 'A' }] });
    expect(await a).toEqual({ id: 1, value: 'A' });
    expect(await b).toEqual({ id: 2, value: 'B' });
    expect(mux.inFlight).toBe(0);
  });

  it('fails every waiting operation with UNAVAILABLE when the peer cannot be reached, sending nothing', async () => {
    const { transport, mux } = setup();
    const r = [mux.send({ name: 'r' }, false, 1000), mux.send({ name: 'w' }, true, 1000)];
    transport.connect(new Error('deadline'));
    expect(await Promise.all(r)).toEqual([
      { id: 1, error: 'UNAVAILABLE' },
      { id: 2, error: 'UNAVAILABLE' },
    ]);
    expect(transport.streams).toHaveLength(0);
  });

  it('fails only the operations not yet sent when asked to (failUnsent), and sends them nowhere later', async () => {
    const { transport, mux } = setup();
    const sentWrite = mux.send({ name: 'sent' }, true, 1000);
    transport.connect();
    await turn();
    transport.last.emit('error', new UnavailableError('gone'));
    expect(await sentWrite).toEqual({ id: 1, error: 'AMBIGUOUS_RESULT' });
    // Reconnecting now: these wait for the connection and were never sent.
    const waiting = [mux.send({ name: 'w1' }, true, 1000), mux.send({ name: 'r1' }, false, 1000)];
    expect(mux.failUnsent('the node is gone')).toBe(2);
    expect(await Promise.all(waiting)).toEqual([
      { id: 2, error: 'UNAVAILABLE' },
      { id: 3, error: 'UNAVAILABLE' },
    ]);
    transport.connect();
    await turn();
    expect(transport.streams.slice(1).flatMap((st) => st.written)).toEqual([]);
  });

  it('reports a broken stream as AMBIGUOUS_RESULT for sent writes and UNAVAILABLE for sent reads', async () => {
    const { transport, mux, failures } = setup();
    const read = mux.send({ name: 'r' }, false, 1000);
    const write = mux.send({ name: 'w' }, true, 1000);
    transport.connect();
    await turn();
    transport.last.emit('error', new UnavailableError('gone'));
    expect(await read).toEqual({ id: 1, error: 'UNAVAILABLE' });
    expect(await write).toEqual({ id: 2, error: 'AMBIGUOUS_RESULT' });
    expect(failures).toEqual([2]);
  });

  it('opens a new stream for operations sent after a failure', async () => {
    const { transport, mux } = setup();
    void mux.send({ name: 'x' }, false, 1000);
    transport.connect();
    await turn();
    transport.last.emit('end');
    const next = mux.send({ name: 'y' }, true, 1000);
    transport.connect();
    await turn();
    expect(transport.streams).toHaveLength(2);
    expect(transport.last.written).toEqual([[{ name: 'y', id: 2 }]]);
    transport.last.emit('data', { results: [{ id: 2, value: 'ok' }] });
    expect(await next).toEqual({ id: 2, value: 'ok' });
  });

  it('expires an unsent operation with DEADLINE_EXCEEDED and never sends it later', async () => {
    const { transport, clock, mux } = setup();
    const w = mux.send({ name: 'late' }, true, 50);
    clock.advance(60);
    expect(await w).toEqual({ id: 1, error: 'DEADLINE_EXCEEDED' });
    transport.connect();
    await turn();
    expect(transport.last.written).toEqual([]);
  });

  it('expires a sent write with AMBIGUOUS_RESULT and a sent read with DEADLINE_EXCEEDED, ignoring late results', async () => {
    const { transport, clock, mux } = setup();
    const w = mux.send({ name: 'w' }, true, 50);
    const r = mux.send({ name: 'r' }, false, 50);
    transport.connect();
    await turn();
    clock.advance(60);
    expect(await w).toEqual({ id: 1, error: 'AMBIGUOUS_RESULT' });
    expect(await r).toEqual({ id: 2, error: 'DEADLINE_EXCEEDED' });
    transport.last.emit('data', { results: [{ id: 1, value: 'too late' }] });
    expect(mux.inFlight).toBe(0);
  });

  it('refuses operations beyond opsInFlightMax with OVERLOADED at once', async () => {
    const { mux } = setup(2);
    void mux.send({ name: '1' }, false, 1000);
    void mux.send({ name: '2' }, false, 1000);
    expect(await mux.send({ name: '3' }, false, 1000)).toEqual({ id: 3, error: 'OVERLOADED' });
  });

  it('fails everything outstanding on close and refuses new work', async () => {
    const { transport, mux } = setup();
    const w = mux.send({ name: 'w' }, true, 1000);
    transport.connect();
    await turn();
    mux.close();
    expect(await w).toEqual({ id: 1, error: 'AMBIGUOUS_RESULT' });
    expect(transport.last.cancelled).toBe(true);
    expect(await mux.send({ name: 'after' }, false, 1000)).toEqual({ id: 2, error: 'UNAVAILABLE' });
  });
});
