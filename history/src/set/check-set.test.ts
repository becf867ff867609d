import { describe, expect, it } from 'vitest';
import { parseHistory } from '../parse-history.js';
import { formatResult } from '../format-result.js';
import { historyText, seededRandom, type OperationSpec } from '../testing/history-text.js';
import { checkSet } from './check-set.js';

const add = (process: number, element: number, invokeNs: number, completeNs: number, type: OperationSpec['type'] = 'ok'): OperationSpec => ({ process, f: 'add', value: element, type, invokeNs, completeNs });
const read = (process: number, elements: readonly number[] | null, invokeNs: number, completeNs: number, type: OperationSpec['type'] = 'ok'): OperationSpec => ({ process, f: 'read', type, result: elements, invokeNs, completeNs });
const check = (specs: readonly OperationSpec[]) => checkSet(parseHistory(historyText(specs)));

describe('checkSet', () => {
  it('accepts a history whose final read holds every acknowledged element', () => {
    const result = check([add(0, 1, 0, 10), add(1, 2, 5, 15), read(2, [1], 12, 14), read(2, [1, 2], 20, 30)]);
    expect(result.valid).toBe(true);
    expect(result.figures).toMatchObject({ operations: 4, ok: 4, reads: 2, attempted: 2, acknowledged: 2, lost: 0, stale: 0, unexpected: 0, duplicated: 0, violations: 0, unknowns: 0 });
  });

  it('reports an acknowledged element missing from the final read as lost', () => {
    const result = check([add(0, 1, 0, 10), add(0, 2, 10, 20), read(1, [1], 30, 40)]);
    expect(result.valid).toBe(false);
    expect(result.figures).toMatchObject({ lost: 1, violations: 1 });
    expect(result.evidence.lost[0]).toMatchObject({ element: 2, absentIn: { f: 'read', invokeTimeNs: 30 }, presentIn: null });
  });

  it('reports an element seen and then missing from every later read as lost', () => {
    const result = check([add(0, 1, 0, 10), read(1, [1], 20, 30), read(1, [], 40, 50)]);
    expect(result.figures).toMatchObject({ lost: 1, stale: 0 });
    expect(result.evidence.lost[0]?.presentIn).toMatchObject({ invokeTimeNs: 20 });
  });

  it('reports an element that disappears and comes back as stale', () => {
    const result = check([add(0, 1, 0, 10), read(1, [1], 20, 30), read(1, [], 40, 50), read(1, [1], 60, 70)]);
    expect(result.valid).toBe(false);
    expect(result.figures).toMatchObject({ lost: 0, stale: 1, violations: 1 });
    expect(result.evidence.stale[0]).toMatchObject({ element: 1, absentIn: { invokeTimeNs: 40 }, presentIn: { invokeTimeNs: 60 } });
  });

  it('accepts a read concurrent with the add that misses the element', () => {
    expect(check([add(0, 1, 0, 10), read(1, [], 5, 15), read(1, [1], 20, 30)]).valid).toBe(true);
    // A read invoked exactly when the add completed is concurrent with it too.
    expect(check([add(0, 1, 0, 10), read(1, [], 10, 15), read(1, [1], 20, 30)]).valid).toBe(true);
  });

  it('reports an element read but never added as unexpected', () => {
    const result = check([add(0, 1, 0, 10), read(1, [1, 7], 20, 30)]);
    expect(result.figures).toMatchObject({ unexpected: 1, violations: 1 });
    expect(result.evidence.unexpected[0]).toMatchObject({ element: 7, adds: [] });
  });

  it('reports an element whose add failed, yet was read, as unexpected', () => {
    const result = check([add(0, 1, 0, 10, 'fail'), read(1, [1], 20, 30)]);
    expect(result.valid).toBe(false);
    expect(result.evidence.unexpected[0]?.adds).toHaveLength(1);
  });

  it('reports a read listing an element twice as duplicated', () => {
    const result = check([add(0, 1, 0, 10), read(1, [1, 1], 20, 30)]);
    expect(result.figures).toMatchObject({ duplicated: 1, lost: 0, violations: 1 });
  });

  it('counts an indeterminate add that shows up as recovered, and one that never does as never read', () => {
    const result = check([add(0, 1, 0, 10, 'info'), add(1, 2, 0, 10, 'info'), add(2, 3, 0, 10, 'open'), read(3, [1], 20, 30)]);
    expect(result.valid).toBe(true);
    expect(result.figures).toMatchObject({ recovered: 1, neverRead: 2, lost: 0, acknowledged: 0, attempted: 3 });
  });

  it('counts an acknowledged add that no read began after as never read, not lost', () => {
    const result = check([read(1, [], 0, 100), add(0, 1, 10, 20)]);
    expect(result.valid).toBe(true);
    expect(result.figures).toMatchObject({ neverRead: 1, lost: 0 });
  });

  it('is unknown when there is no ok read', () => {
    const result = check([add(0, 1, 0, 10), read(1, null, 20, 30, 'info'), read(1, null, 40, 50, 'fail')]);
    expect(result.valid).toBe('unknown');
    expect(result.figures).toMatchObject({ unknowns: 1, reads: 0 });
    expect(formatResult(result)).toMatch(/^set: UNKNOWN \(no ok read\)/);
  });

  it('prints each lost element with its add and the read that missed it', () => {
    const text = formatResult(check([add(0, 1, 0, 10), read(1, [], 30, 40)]));
    expect(text).toMatch(/^set: INVALID \(lost 1, stale 0, unexpected 0, duplicated 0\)/);
    expect(text).toContain('Lost (1): ');
    expect(text).toContain('  element 1:\n    #0 p0 add 1 -> ok  [0..10 ns] (line 1)\n    missing from:\n      #2 p1 read -> ok [] ');
  });

  it('accepts randomized histories generated from a real set (seeded)', () => {
    const random = seededRandom(7);
    for (let round = 0; round < 30; round++) {
      const specs: OperationSpec[] = [];
      const contents = new Set<number>();
      const planned: { pointNs: number; spec: OperationSpec; apply: boolean }[] = [];
      const nextFree = [0, 0, 0, 0];
      for (let i = 0; i < 50; i++) {
        const process = random.below(4);
        const invokeNs = (nextFree[process] ?? 0) + random.below(10);
        const completeNs = invokeNs + 1 + random.below(40);
        nextFree[process] = completeNs;
        const pointNs = invokeNs + random.next() * (completeNs - invokeNs);
        const roll = random.below(10);
        const type = roll === 0 ? 'info' : roll === 1 ? 'fail' : 'ok';
        const isRead = random.below(3) === 0;
        planned.push({ pointNs, apply: type === 'ok' || (type === 'info' && random.below(2) === 0), spec: isRead ? read(process, null, invokeNs, completeNs, type) : add(process, i, invokeNs, completeNs, type) });
      }
      for (const p of planned.sort((a, b) => a.pointNs - b.pointNs)) {
        if (p.spec.f === 'add') {
          if (p.apply) contents.add(p.spec.value as number);
          specs.push(p.spec);
        } else {
          specs.push({ ...p.spec, result: p.spec.type === 'ok' ? [...contents] : null });
        }
      }
      const last = Math.max(...nextFree) + 1;
      specs.push(read(9, [...contents], last, last + 1));
      const result = check(specs);
      expect(result.valid, formatResult(result)).toBe(true);
    }
  });
});
