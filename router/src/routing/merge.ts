/**
 * K-way merge of per-partition key streams into one stream in key order. Each source yields
 * keys in ascending order and sources are disjoint (a hash keyspace puts each key in exactly
 * one partition). Memory is bounded by one head item per source plus what each source
 * buffers; a binary heap keeps each step at O(log sources).
 */
import { compareBytes } from '@quire/common';
import type { KeyValue } from '@quire/proto';

interface Head {
  readonly item: KeyValue;
  readonly source: AsyncIterator<KeyValue>;
}

function less(a: Head, b: Head): boolean {
  return compareBytes(a.item.key, b.item.key) < 0;
}

/** Merges ordered sources into one ordered sequence. Closes every source when done. */
export async function* mergeOrdered(sources: readonly AsyncIterable<KeyValue>[]): AsyncGenerator<KeyValue> {
  const iterators = sources.map((s) => s[Symbol.asyncIterator]());
  const heap: Head[] = [];
  const push = (h: Head): void => {
    heap.push(h);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!less(heap[i] as Head, heap[parent] as Head)) break;
      [heap[i], heap[parent]] = [heap[parent] as Head, heap[i] as Head];
      i = parent;
    }
  };
  const pop = (): Head => {
    const top = heap[0] as Head;
    const last = heap.pop() as Head;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && less(heap[l] as Head, heap[m] as Head)) m = l;
        if (r < heap.length && less(heap[r] as Head, heap[m] as Head)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m] as Head, heap[i] as Head];
        i = m;
      }
    }
    return top;
  };
  try {
    const firsts = await Promise.all(iterators.map(async (it) => ({ it, r: await it.next() })));
    for (const { it, r } of firsts) if (r.done !== true) push({ item: r.value, source: it });
    while (heap.length > 0) {
      const head = pop();
      yield head.item;
      const next = await head.source.next();
      if (next.done !== true) push({ item: next.value, source: head.source });
    }
  } finally {
    await Promise.all(
      iterators.map(async (it) => {
        await it.return?.();
      }),
    );
  }
}
