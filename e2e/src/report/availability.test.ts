import { describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../workloads/recorder.js';
import { availabilityOf, formatAvailability } from './availability.js';

const ms = 1e6;
let index = 0;
const ev = (type: RecordedEvent['type'], key: string | null, timeMs: number, process = 0): RecordedEvent => ({ index: index++, process, type, f: 'read', key, value: null, time: timeMs * ms });

describe('availabilityOf', () => {
  it.each([
    ['one key answered every 10 ms', [ev('ok', 'a', 0), ev('ok', 'a', 10), ev('ok', 'a', 20)], { keys: 1, maxMs: 10, worstKey: 'a' }],
    ['the longest gap between successive successes, in completion order', [ev('ok', 'a', 30), ev('ok', 'a', 0), ev('ok', 'a', 10), ev('ok', 'a', 1_510)], { keys: 1, maxMs: 1_480, worstKey: 'a', worstFromMs: 30 }],
    ['failures and unknown outcomes do not end a gap', [ev('ok', 'a', 0), ev('fail', 'a', 100), ev('info', 'a', 200), ev('ok', 'a', 900)], { maxMs: 900, indeterminate: 1, failed: 1 }],
    ['each key on its own', [ev('ok', 'a', 0), ev('ok', 'b', 5), ev('ok', 'a', 50), ev('ok', 'b', 505)], { keys: 2, maxMs: 500, worstKey: 'b', p50Ms: 50, p99Ms: 500 }],
    ['a key with one success has no measurable gap', [ev('ok', 'a', 0), ev('ok', 'b', 5), ev('ok', 'b', 15)], { keys: 1, maxMs: 10, worstKey: 'b' }],
    ['events without a key are ignored', [ev('ok', null, 0), ev('ok', null, 900)], { keys: 0, maxMs: 0, worstKey: undefined }],
  ] as const)('%s', (_name, events, expected) => {
    expect(availabilityOf(events)).toMatchObject(expected);
  });

  it('formats one line naming the worst key and when its gap began', () => {
    const a = availabilityOf([ev('ok', 'a', 0), ev('ok', 'a', 1_200), ev('info', 'a', 1_300)]);
    expect(formatAvailability(a)).toBe('longest no-success interval per key over 1 keys: p50 1200 ms, p99 1200 ms, max 1200 ms (key a from 0.0 s); 1 indeterminate, 0 failed');
  });
});
