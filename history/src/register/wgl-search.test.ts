import { describe, expect, it } from 'vitest';
import { registerModel } from './register-model.js';
import type { RegisterCall } from './register-operations.js';
import type { TimedCall } from './sequential-model.js';
import { searchLinearization } from './wgl-search.js';
import { shrinkViolation } from './shrink-violation.js';

const call = (c: RegisterCall, callTimeNs: number, returnTimeNs: number | null): TimedCall<RegisterCall> => ({ call: c, callTimeNs, returnTimeNs });

describe('searchLinearization', () => {
  it('returns an order that respects real time and the register', () => {
    const calls = [
      call({ f: 'write', value: 'a' }, 0, 100),
      call({ f: 'write', value: 'b' }, 0, 100),
      call({ f: 'read', value: 'a' }, 0, 100),
      call({ f: 'read', value: 'b' }, 110, 120),
    ];
    const outcome = searchLinearization(registerModel, calls, 1000);
    expect(outcome.kind).toBe('linearizable');
    // The read of "a" must sit between the two writes, and the read of "b" comes last.
    if (outcome.kind === 'linearizable') expect(outcome.order).toEqual([0, 2, 1, 3]);
  });

  it('backtracks out of a wrong first choice and restores the entry list exactly', () => {
    // Trying write b first fails only at the end; the search must undo and retry.
    const calls = [call({ f: 'write', value: 'b' }, 0, 50), call({ f: 'write', value: 'a' }, 0, 50), call({ f: 'read', value: 'a' }, 60, 70), call({ f: 'read', value: 'a' }, 80, 90)];
    const outcome = searchLinearization(registerModel, calls, 1000);
    expect(outcome.kind).toBe('linearizable');
    if (outcome.kind === 'linearizable') expect(outcome.order).toEqual([0, 1, 2, 3]);
  });

  it('succeeds with an empty history and with indeterminate calls only', () => {
    expect(searchLinearization(registerModel, [], 1).kind).toBe('linearizable');
    expect(searchLinearization(registerModel, [call({ f: 'write', value: 'a' }, 0, null)], 1).kind).toBe('linearizable');
  });

  it('answers unknown, not linearizable, when the step budget runs out, and says how far it got', () => {
    const calls = [call({ f: 'write', value: 'a' }, 0, 10), call({ f: 'read', value: 'a' }, 20, 30)];
    expect(searchLinearization(registerModel, calls, 1)).toEqual({ kind: 'unknown', steps: 1 });
    expect(searchLinearization(registerModel, calls, 2)).toMatchObject({ kind: 'linearizable', steps: 2 });
  });

  it('reports the longest prefix and the call that could not follow it', () => {
    const calls = [call({ f: 'write', value: 'a' }, 0, 10), call({ f: 'write', value: 'b' }, 20, 30), call({ f: 'read', value: 'a' }, 40, 50)];
    const outcome = searchLinearization(registerModel, calls, 1000);
    expect(outcome).toMatchObject({ kind: 'violation', prefix: [0, 1], stateAfterPrefix: 'b', blocking: 2 });
  });
});

describe('shrinkViolation', () => {
  it('shrinks to a 1-minimal window and keeps the write a read observed', () => {
    const calls: TimedCall<RegisterCall>[] = [];
    for (let i = 0; i < 30; i++) calls.push(call({ f: 'write', value: `v${i}` }, i * 10, i * 10 + 5));
    calls.push(call({ f: 'read', value: 'v3' }, 400, 410));
    const withWriters = (window: readonly RegisterCall[]): boolean => window.every((c) => c.f !== 'read' || window.some((o) => o.f === 'write' && o.value === c.value));
    const shrunk = shrinkViolation(registerModel, calls, 30, 100_000, withWriters);
    expect(shrunk.minimal).toBe(true);
    // The write read, one later write that overwrote it, and the stale read.
    const window = shrunk.kept.map((i) => calls[i]?.call);
    expect(window).toHaveLength(3);
    expect(window[0]).toEqual({ f: 'write', value: 'v3' });
    expect(window[1]).toMatchObject({ f: 'write' });
    expect(window[2]).toEqual({ f: 'read', value: 'v3' });
  });

  it('stops within its budget and reports the window as not minimal', () => {
    const calls = [call({ f: 'write', value: 'a' }, 0, 10), call({ f: 'write', value: 'b' }, 20, 30), call({ f: 'read', value: 'a' }, 40, 50)];
    const shrunk = shrinkViolation(registerModel, calls, 2, 3);
    expect(shrunk.minimal).toBe(false);
    expect(shrunk.kept).toEqual([0, 1, 2]);
    expect(shrunk.steps).toBeLessThanOrEqual(3);
  });
});
