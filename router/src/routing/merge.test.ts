import { describe, expect, it } from 'vitest';
import type { KeyValue } from '@quire/proto';
import { mergeOrdered } from './merge.js';

const kv = (key: string): KeyValue => ({ key: Buffer.from(key), value: Buffer.from(`v-${key}`), version: 1 });

/** An ordered async source that records whether it was closed. */
function source(keys: string[]) {
  const state = { returned: false, pulled: 0 };
  const iterable: AsyncIterable<KeyValue> = {
    [Symbol.asyncIterator]() {
      let i = 0;
      return {
        async next() {
          state.pulled++;
          await Promise.resolve();
          const k = keys[i++];
          return k === undefined ? { done: true, value: undefined } : { done: false, value: kv(k) };
        },
        async return() {
          state.returned = true;
          return { done: true, value: undefined };
        },
      };
    },
  };
  return { iterable, state };
}

async function collect(it: AsyncIterable<KeyValue>, limit = Infinity): Promise<string[]> {
  const out: string[] = [];
  for await (const e of it) {
    out.push(e.key.toString());
    if (out.length >= limit) break;
  }
  return out;
}

describe('mergeOrdered', () => {
  it('merges disjoint ordered sources, including empty ones, into one ordered sequence', async () => {
    const a = source(['a', 'd', 'g']);
    const b = source([]);
    const c = source(['b', 'c', 'h', 'z']);
    const d = source(['e']);
    expect(await collect(mergeOrdered([a.iterable, b.iterable, c.iterable, d.iterable]))).toEqual(['a', 'b', 'c', 'd', 'e', 'g', 'h', 'z']);
  });

  it('compares keys as unsigned bytes', async () => {
    const a = source(['\u007f']);
    const b = source(['\u00e9']);
    expect(await collect(mergeOrdered([b.iterable, a.iterable]))).toEqual(['\u007f', '\u00e9']);
  });

  it('merges many sources correctly (heap order)', async () => {
    const keys = Array.from({ length: 500 }, (_, i) => `k${String(i).padStart(4, '0')}`);
    const sources = Array.from({ length: 16 }, (_, s) => source(keys.filter((_, i) => i % 16 === (s * 7) % 16)));
    expect(await collect(mergeOrdered(sources.map((s) => s.iterable)))).toEqual(keys);
  });

  it('closes every source when the consumer stops early, having pulled only what it needed', async () => {
    const a = source(['a', 'c', 'e', 'g', 'i']);
    const b = source(['b', 'd', 'f', 'h']);
    expect(await collect(mergeOrdered([a.iterable, b.iterable]), 3)).toEqual(['a', 'b', 'c']);
    expect(a.state.returned).toBe(true);
    expect(b.state.returned).toBe(true);
    expect(a.state.pulled + b.state.pulled).toBeLessThanOrEqual(5);
  });
});
