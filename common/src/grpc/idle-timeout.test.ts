import { describe, expect, it } from 'vitest';
import { ManualClock } from '../testing/manual-clock.js';
import { withIdleTimeout } from './idle-timeout.js';

/** A source the test feeds by hand. */
function manualSource<T>() {
  const waiting: ((r: IteratorResult<T>) => void)[] = [];
  const failing: ((e: unknown) => void)[] = [];
  return {
    push(value: T) {
      waiting.shift()?.({ value, done: false });
      failing.shift();
    },
    end() {
      waiting.shift()?.({ value: undefined, done: true });
      failing.shift();
    },
    fail(err: unknown) {
      waiting.shift();
      failing.shift()?.(err);
    },
    iterable: {
      [Symbol.asyncIterator]: () => ({
        next: () =>
          new Promise<IteratorResult<T>>((resolve, reject) => {
            waiting.push(resolve);
            failing.push(reject);
          }),
      }),
    } as AsyncIterable<T>,
  };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('withIdleTimeout', () => {
  it('passes items through and ends with the source', async () => {
    const clock = new ManualClock();
    const src = manualSource<number>();
    let cancelled = false;
    const out: number[] = [];
    const done = (async () => {
      for await (const v of withIdleTimeout(src.iterable, { idleMs: 100, clock, what: 'test', cancel: () => (cancelled = true) })) out.push(v);
    })();
    await tick();
    src.push(1);
    await tick();
    clock.advance(99);
    src.push(2);
    await tick();
    src.end();
    await done;
    expect(out).toEqual([1, 2]);
    expect(cancelled).toBe(false);
  });

  it('cancels the call and fails with DEADLINE_EXCEEDED when the source stalls for idleMs', async () => {
    const clock = new ManualClock();
    const src = manualSource<number>();
    let cancelled = false;
    const result = (async () => {
      for await (const _ of withIdleTimeout(src.iterable, { idleMs: 100, clock, what: 'data node x', cancel: () => (cancelled = true) })) void _;
    })().catch((e: unknown) => e);
    await tick();
    clock.advance(100);
    const err = (await result) as { code?: string; message?: string };
    expect(err.code).toBe('DEADLINE_EXCEEDED');
    expect(err.message).toContain('data node x sent nothing for 100 ms');
    expect(cancelled).toBe(true);
    // The abandoned read failing later is not an unhandled rejection.
    src.fail(new Error('cancelled'));
    await tick();
  });

  it('does not count the time the consumer holds an item', async () => {
    const clock = new ManualClock();
    const src = manualSource<number>();
    const it = withIdleTimeout(src.iterable, { idleMs: 100, clock, what: 'test', cancel: () => undefined })[Symbol.asyncIterator]();
    const first = it.next();
    await tick();
    src.push(1);
    expect((await first).value).toBe(1);
    clock.advance(1_000); // the consumer is slow; no read is pending, so nothing times out
    const second = it.next();
    await tick();
    src.push(2);
    expect((await second).value).toBe(2);
  });
});
