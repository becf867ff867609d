import { describe, expect, it } from 'vitest';
import { parseHistory } from '../parse-history.js';
import { formatResult } from '../format-result.js';
import { historyText, seededRandom, type OperationSpec } from '../testing/history-text.js';
import { checkRegister } from './check-register.js';

type Spec = Omit<OperationSpec, 'key'> & { readonly key?: string };
const w = (process: number, value: string, invokeNs: number, completeNs: number, type: Spec['type'] = 'ok', key = 'x'): Spec => ({ process, f: 'write', key, value, type, invokeNs, completeNs });
const r = (process: number, result: string | null, invokeNs: number, completeNs: number, type: Spec['type'] = 'ok', key = 'x'): Spec => ({ process, f: 'read', key, type, result, invokeNs, completeNs });
const cas = (process: number, expected: string | null, value: string, invokeNs: number, completeNs: number, type: Spec['type'] = 'ok', key = 'x'): Spec => ({
  process,
  f: 'cas',
  key,
  value: [expected, value],
  type,
  invokeNs,
  completeNs,
});
const check = (specs: readonly Spec[], stepsMax?: number) => checkRegister(parseHistory(historyText(specs)), stepsMax === undefined ? {} : { stepsMax });

describe('checkRegister', () => {
  it('accepts a sequential history whose reads see the latest write', () => {
    const result = check([r(0, null, 0, 1), w(0, 'a', 2, 3), r(1, 'a', 4, 5), w(1, 'b', 6, 7), r(0, 'b', 8, 9)]);
    expect(result.valid).toBe(true);
    expect(result.figures).toMatchObject({ operations: 5, ok: 5, fail: 0, info: 0, violations: 0, unknowns: 0, keys: 1, keysLinearizable: 1 });
  });

  it('accepts a read concurrent with a write returning either the old or the new value', () => {
    for (const seen of [null, 'a']) expect(check([w(0, 'a', 0, 10), r(1, seen, 5, 15)]).valid).toBe(true);
  });

  it('accepts concurrent reads that see the new value before the write returns', () => {
    expect(check([w(0, 'a', 0, 100), r(1, 'a', 10, 20), r(2, 'a', 30, 40), r(3, 'a', 50, 60)]).valid).toBe(true);
  });

  it('rejects a stale read: a read invoked after a write completed returns the older value', () => {
    const result = check([w(0, 'a', 0, 1), w(0, 'b', 2, 3), r(1, 'a', 4, 5)]);
    expect(result.valid).toBe(false);
    expect(result.figures.violations).toBe(1);
    const [violation] = result.evidence.violations;
    expect(violation?.key).toBe('x');
    expect(violation?.blocking).toMatchObject({ f: 'read', result: 'a' });
    expect(violation?.prefix.map((v) => v.argument)).toEqual(['a', 'b']);
    expect(violation?.stateAfterPrefix).toBe('b');
    // The write of "a" stays: without it the window would show a read of a value nobody wrote.
    expect(violation?.window.map((v) => [v.f, v.argument, v.result])).toEqual([
      ['write', 'a', 'a'],
      ['write', 'b', 'b'],
      ['read', null, 'a'],
    ]);
    expect(violation?.windowMinimal).toBe(true);
  });

  it('rejects a lost write: after an acknowledged write, a later read finds the key absent', () => {
    const result = check([w(0, 'a', 0, 10), r(1, null, 20, 30)]);
    expect(result.valid).toBe(false);
    expect(result.evidence.violations[0]?.window).toHaveLength(2);
  });

  it('rejects a read of a value nobody wrote, with that read alone as the window', () => {
    const result = check([w(0, 'a', 0, 10), r(1, 'z', 5, 15)]);
    expect(result.valid).toBe(false);
    expect(result.evidence.violations[0]?.window.map((v) => v.result)).toEqual(['z']);
  });

  it('rejects a read that goes back in time after another read saw the new value', () => {
    // Both reads overlap the write, but once one read has seen "b" a later read cannot see "a".
    expect(check([w(0, 'a', 0, 1), w(1, 'b', 10, 100), r(2, 'b', 20, 30), r(3, 'a', 40, 50)]).valid).toBe(false);
  });

  describe('compare-and-set', () => {
    it('accepts a chain of successful cas operations', () => {
      expect(check([w(0, 'a', 0, 1), cas(0, 'a', 'b', 2, 3), cas(1, 'b', 'c', 4, 5), r(0, 'c', 6, 7)]).valid).toBe(true);
    });

    it('accepts cas from absent (null expected) on a fresh key', () => {
      expect(check([cas(0, null, 'a', 0, 1), r(0, 'a', 2, 3)]).valid).toBe(true);
    });

    it('rejects two sequential cas operations that both swap from the same expected value', () => {
      const result = check([w(0, 'a', 0, 1), cas(1, 'a', 'b', 2, 3), cas(2, 'a', 'c', 4, 5)]);
      expect(result.valid).toBe(false);
      expect(result.evidence.violations[0]?.blocking).toMatchObject({ f: 'cas', argument: ['a', 'c'] });
    });

    it('accepts two concurrent cas operations from one value only if they can be ordered', () => {
      // a -> b and b -> c concurrently: fine (b's cas goes second).
      expect(check([w(0, 'a', 0, 1), cas(1, 'a', 'b', 2, 10), cas(2, 'b', 'c', 3, 11), r(0, 'c', 12, 13)]).valid).toBe(true);
      // Both from a: only one can have swapped.
      expect(check([w(0, 'a', 0, 1), cas(1, 'a', 'b', 2, 10), cas(2, 'a', 'c', 3, 11)]).valid).toBe(false);
    });

    it('rejects a successful cas whose expected value was not the current one', () => {
      expect(check([w(0, 'a', 0, 1), cas(1, 'z', 'b', 2, 3)]).valid).toBe(false);
    });

    it('drops a failed cas: it never happened, whatever it expected', () => {
      expect(check([w(0, 'a', 0, 1), cas(1, 'a', 'b', 2, 3, 'fail'), r(0, 'a', 4, 5)]).valid).toBe(true);
    });

    it('rejects a read of the value a failed cas would have written', () => {
      expect(check([w(0, 'a', 0, 1), cas(1, 'a', 'b', 2, 3, 'fail'), r(0, 'b', 4, 5)]).valid).toBe(false);
    });

    it('accepts an indeterminate cas that took effect, or did not, as later reads show', () => {
      expect(check([w(0, 'a', 0, 1), cas(1, 'a', 'b', 2, 3, 'info'), r(0, 'b', 10, 11)]).valid).toBe(true);
      expect(check([w(0, 'a', 0, 1), cas(1, 'a', 'b', 2, 3, 'info'), r(0, 'a', 10, 11)]).valid).toBe(true);
    });
  });

  describe('indeterminate (info) operations', () => {
    it('accepts an info write that was never observed: it may never have happened', () => {
      expect(check([w(0, 'a', 0, 1), w(1, 'b', 2, 3, 'info'), r(0, 'a', 10, 11), r(0, 'a', 20, 21)]).valid).toBe(true);
    });

    it('accepts an info write observed long after its invocation: it may take effect any time', () => {
      expect(check([w(0, 'a', 0, 1), w(1, 'b', 2, 3, 'info'), r(0, 'a', 10, 11), r(0, 'b', 1000, 1001)]).valid).toBe(true);
    });

    it('accepts an invocation that never completed like an info operation', () => {
      expect(check([w(0, 'a', 0, 1), w(1, 'b', 2, 3, 'open'), r(0, 'b', 10, 11)]).valid).toBe(true);
    });

    it('rejects going back to the old value after an info write was observed', () => {
      expect(check([w(0, 'a', 0, 1), w(1, 'b', 2, 3, 'info'), r(0, 'b', 10, 11), r(0, 'a', 20, 21)]).valid).toBe(false);
    });

    it('rejects observing an info write before it was invoked', () => {
      expect(check([w(0, 'a', 0, 1), r(0, 'b', 2, 3), w(1, 'b', 10, 11, 'info')]).valid).toBe(false);
    });

    it('drops an info read: it observed nothing', () => {
      expect(check([w(0, 'a', 0, 1), r(1, null, 2, 3, 'info'), r(0, 'a', 4, 5)]).valid).toBe(true);
    });

    it('drops a failed write: it never happened', () => {
      expect(check([w(0, 'a', 0, 1), w(1, 'b', 2, 3, 'fail'), r(0, 'a', 4, 5)]).valid).toBe(true);
      expect(check([w(0, 'a', 0, 1), w(1, 'b', 2, 3, 'fail'), r(0, 'b', 4, 5)]).valid).toBe(false);
    });
  });

  it('checks keys independently and names the violating one', () => {
    const result = check([w(0, 'a', 0, 1, 'ok', 'x'), w(1, 'a', 0, 1, 'ok', 'y'), r(0, 'a', 2, 3, 'ok', 'x'), r(1, null, 2, 3, 'ok', 'y')]);
    expect(result.valid).toBe(false);
    expect(result.figures).toMatchObject({ keys: 2, keysLinearizable: 1, violations: 1 });
    expect(result.evidence.violations.map((v) => v.key)).toEqual(['y']);
  });

  it('is unknown, never valid, when a key exceeds the step budget', () => {
    const specs = [w(0, 'a', 0, 100), w(1, 'b', 0, 100), w(2, 'c', 0, 100), r(3, 'c', 0, 100)];
    const tight = check(specs, 3);
    expect(tight.valid).toBe('unknown');
    expect(tight.figures).toMatchObject({ unknowns: 1, violations: 0, keysLinearizable: 0 });
    expect(tight.evidence.unknownKeys).toEqual([{ key: 'x', operations: 4, stepsMax: 3 }]);
    expect(check(specs).valid).toBe(true);
  });

  it('reports a violation even when another key is unknown', () => {
    // "busy" needs about a hundred steps (the read of v1 must go before the other writes).
    const busy = [...[1, 2, 3, 4, 5].map((p) => w(p, `v${p}`, 0, 100, 'ok', 'busy')), r(9, 'v1', 0, 100, 'ok', 'busy')];
    const specs = [w(0, 'a', 0, 1, 'ok', 'bad'), r(0, null, 2, 3, 'ok', 'bad'), ...busy];
    const result = check(specs, 20);
    expect(result.valid).toBe(false);
    expect(result.figures).toMatchObject({ violations: 1, unknowns: 1 });
  });

  it('shrinks a long history to the few operations that show the violation', () => {
    const specs: Spec[] = [];
    for (let i = 0; i < 40; i++) specs.push(w(i % 3, `v${i}`, i * 10, i * 10 + 5), r((i % 3) + 3, `v${i}`, i * 10 + 6, i * 10 + 8));
    // The stale read: after v39 was written and read, a read returns v20.
    specs.push(r(9, 'v20', 1000, 1001));
    const result = check(specs);
    expect(result.valid).toBe(false);
    const [violation] = result.evidence.violations;
    expect(violation?.operations).toBe(81);
    expect(violation?.windowMinimal).toBe(true);
    expect(violation?.window.length).toBeLessThanOrEqual(3);
    expect(violation?.window.at(-1)).toMatchObject({ f: 'read', result: 'v20' });
    const text = formatResult(result);
    expect(text).toMatch(/^register: INVALID \(1 of 1 keys not linearizable, 0 undecided\)/);
    expect(text).toContain('Key "x" is not linearizable (81 operations searched).');
    expect(text).toContain('… 70 earlier operations');
    expect(text).toContain('Smallest failing window found');
    expect(text).toMatch(/#\d+ p9 read "x" -> ok "v20"  \[1000\.\.1001 ns\] \(line \d+\)/);
  });

  it('accepts randomized histories generated from a real sequential execution (seeded)', () => {
    const random = seededRandom(20_241_125);
    for (let round = 0; round < 40; round++) {
      const specs = generateRegisterHistory(random, 5, 60);
      const result = check(specs);
      expect(result.valid, `round ${round}: ${formatResult(result)}`).toBe(true);
    }
  });
});

/**
 * Runs a real register: every operation takes effect at a random instant inside its window
 * (its linearization point), so the history is linearizable by construction. Some operations
 * end as info (effect applied or not) and some fail (effect not applied).
 */
function generateRegisterHistory(random: ReturnType<typeof seededRandom>, processes: number, operations: number): Spec[] {
  const nextFree = new Array<number>(processes).fill(0);
  const planned: { spec: Omit<Spec, 'type' | 'result'>; pointNs: number; effect: 'apply' | 'skip'; type: Spec['type'] }[] = [];
  for (let i = 0; i < operations; i++) {
    const process = random.below(processes);
    const invokeNs = (nextFree[process] ?? 0) + random.below(20);
    const completeNs = invokeNs + 1 + random.below(60);
    nextFree[process] = completeNs;
    const pointNs = invokeNs + random.next() * (completeNs - invokeNs);
    const roll = random.below(10);
    const type: Spec['type'] = roll === 0 ? 'info' : roll === 1 ? 'fail' : 'ok';
    const effect = type === 'fail' || (type === 'info' && random.below(2) === 0) ? 'skip' : 'apply';
    const kind = random.below(3);
    const key = random.below(2) === 0 ? 'x' : 'y';
    const f = kind === 0 ? 'read' : kind === 1 ? 'write' : 'cas';
    planned.push({ spec: { process, f, key, value: f === 'write' ? `v${i}` : null, invokeNs, completeNs }, pointNs, effect, type });
  }
  const state = new Map<string, string | null>();
  const specs: Spec[] = [];
  for (const p of [...planned].sort((a, b) => a.pointNs - b.pointNs)) {
    const key = p.spec.key ?? 'x';
    const current = state.get(key) ?? null;
    if (p.spec.f === 'read') {
      specs.push({ ...p.spec, type: p.type, result: p.type === 'ok' ? current : null });
    } else if (p.spec.f === 'write') {
      if (p.effect === 'apply') state.set(key, p.spec.value as string);
      specs.push({ ...p.spec, type: p.type });
    } else {
      // A cas expects the current value half the time; an ok cas must have swapped.
      const expected = random.below(2) === 0 ? current : 'never-written';
      const swapped = expected === current && p.effect === 'apply';
      if (swapped) state.set(key, `c${p.pointNs}`);
      const type = p.type === 'ok' && !swapped ? 'fail' : p.type;
      specs.push({ ...p.spec, value: [expected, `c${p.pointNs}`], type });
    }
  }
  return specs;
}
