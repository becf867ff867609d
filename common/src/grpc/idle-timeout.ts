/**
 * An idle deadline for server streams whose total length has no natural bound (scans): the
 * stream fails with DEADLINE_EXCEEDED when the source produces nothing for `idleMs`, and the
 * underlying call is cancelled. Time spent by the consumer holding an item does not count — a
 * slow reader applies backpressure, it is not a stalled peer. A gRPC deadline cannot express
 * this: it bounds the whole call.
 */
import type { Clock } from '../clock.js';
import { DeadlineExceededError } from '../errors/quire-error.js';

/** Yields what `source` yields; throws DeadlineExceededError (after `cancel()`) if it stalls for `idleMs`. */
export async function* withIdleTimeout<T>(source: AsyncIterable<T>, options: { readonly idleMs: number; readonly clock: Clock; readonly what: string; readonly cancel: () => void }): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  for (;;) {
    const next = iterator.next();
    let timer: { cancel(): void } | undefined;
    const idle = new Promise<'idle'>((resolve) => {
      timer = options.clock.after(options.idleMs, () => resolve('idle'));
    });
    const first = await Promise.race([next, idle]);
    timer?.cancel();
    if (first === 'idle') {
      // The pending read rejects once the call is cancelled; nobody waits for it any more.
      next.catch(() => undefined);
      options.cancel();
      throw new DeadlineExceededError(`${options.what} sent nothing for ${options.idleMs} ms`, { limit: options.idleMs });
    }
    if (first.done === true) return;
    yield first.value;
  }
}
