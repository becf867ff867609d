import { describe, expect, it } from 'vitest';
import { parseHistory } from '../parse-history.js';
import { formatResult } from '../format-result.js';
import { historyText, seededRandom, type OperationSpec } from '../testing/history-text.js';
import { checkListAppend } from './check-list-append.js';
import type { AnomalyType } from './anomaly.js';

type Micro = readonly ['r', string, readonly number[] | null] | readonly ['append', string, number];

/** A transaction; reads carry what an ok completion returned and are nulled in the invocation. */
function txn(process: number, ops: readonly Micro[], invokeNs: number, completeNs: number, type: OperationSpec['type'] = 'ok'): OperationSpec {
  const invoked = ops.map(([f, key, value]) => [f, key, f === 'r' ? null : value]);
  return { process, f: 'txn', value: invoked, result: type === 'ok' ? ops.map((op) => [...op]) : invoked, type, invokeNs, completeNs };
}
const check = (specs: readonly OperationSpec[], stepsMax?: number) => checkListAppend(parseHistory(historyText(specs)), stepsMax === undefined ? {} : { stepsMax });
const found = (specs: readonly OperationSpec[]): AnomalyType[] => {
  const { anomalies } = check(specs).figures;
  return (Object.keys(anomalies) as AnomalyType[]).filter((t) => anomalies[t] > 0);
};

describe('checkListAppend', () => {
  it('accepts a serial history', () => {
    const result = check([
      txn(0, [['append', 'x', 1], ['r', 'x', [1]]], 0, 10),
      txn(1, [['r', 'x', [1]], ['append', 'y', 1]], 20, 30),
      txn(0, [['r', 'y', [1]], ['append', 'x', 2], ['r', 'x', [1, 2]]], 40, 50),
      txn(1, [['r', 'x', [1, 2]], ['r', 'y', [1]]], 60, 70),
    ]);
    expect(result.valid).toBe(true);
    expect(result.figures).toMatchObject({ operations: 4, ok: 4, violations: 0, unknowns: 0, keys: 2, graphTxns: 4, cyclicComponents: 0 });
    expect(result.figures.edges.ww + result.figures.edges.wr + result.figures.edges.rt).toBeGreaterThan(0);
  });

  it('accepts concurrent transactions that serialize in some order', () => {
    // T1 and T2 overlap; T2 read x before T1's append: T2 -rw-> T1 is fine because they overlap.
    expect(check([txn(0, [['append', 'x', 1]], 0, 100), txn(1, [['r', 'x', []]], 10, 20), txn(2, [['r', 'x', [1]]], 200, 210)]).valid).toBe(true);
  });

  it('finds G0 (write cycle): two transactions append to two keys in opposite orders', () => {
    const result = check([
      txn(0, [['append', 'x', 1], ['append', 'y', 1]], 0, 100),
      txn(1, [['append', 'x', 2], ['append', 'y', 2]], 0, 100),
      txn(2, [['r', 'x', [1, 2]], ['r', 'y', [2, 1]]], 200, 300),
    ]);
    expect(result.valid).toBe(false);
    expect(result.figures.anomalies.G0).toBe(1);
    const example = result.evidence.anomalies.find((a) => a.type === 'G0');
    expect(example?.cycle?.map((s) => s.label)).toEqual(['ww', 'ww']);
    expect(example?.cycle?.map((s) => `${s.from}->${s.to}`)).toEqual(['T0->T1', 'T1->T0']);
  });

  it('finds G1a (aborted read): a read sees the append of a failed transaction', () => {
    const result = check([txn(0, [['append', 'x', 1]], 0, 10, 'fail'), txn(1, [['r', 'x', [1]]], 20, 30)]);
    expect(result.valid).toBe(false);
    expect(found([txn(0, [['append', 'x', 1]], 0, 10, 'fail'), txn(1, [['r', 'x', [1]]], 20, 30)])).toEqual(['G1a']);
    expect(result.evidence.anomalies[0]?.explanation).toBe('T2 read "x" = [1], which includes 1, appended by T0, which failed');
  });

  it('finds G1b (intermediate read): a read ends in an element its writer appended over', () => {
    expect(found([txn(0, [['append', 'x', 1], ['append', 'x', 2]], 0, 10), txn(1, [['r', 'x', [1]]], 5, 30), txn(2, [['r', 'x', [1, 2]]], 40, 50)])).toContain('G1b');
  });

  it('finds G1c (circular information flow): each transaction read the other\'s append', () => {
    const result = check([txn(0, [['append', 'x', 1], ['r', 'y', [1]]], 0, 100), txn(1, [['append', 'y', 1], ['r', 'x', [1]]], 0, 100)]);
    expect(result.figures.anomalies).toMatchObject({ G1c: 1, G0: 0, 'G-single': 0 });
    const example = result.evidence.anomalies.find((a) => a.type === 'G1c');
    expect(example?.cycle?.map((s) => s.label)).toEqual(['wr', 'wr']);
  });

  it('finds G-single (read skew): one anti-dependency closes the cycle', () => {
    // T1 reads y after T0's append but x before it: T0 -wr-> T1 -rw-> T0.
    const result = check([txn(0, [['append', 'x', 1], ['append', 'y', 1]], 0, 100), txn(1, [['r', 'x', []], ['r', 'y', [1]]], 0, 100), txn(2, [['r', 'x', [1]]], 200, 210)]);
    expect(result.valid).toBe(false);
    expect(result.figures.anomalies['G-single']).toBe(1);
    expect(result.figures.anomalies.G2).toBe(0);
    const example = result.evidence.anomalies.find((a) => a.type === 'G-single');
    expect(example?.cycle?.map((s) => s.label).sort()).toEqual(['rw', 'wr']);
    const text = formatResult(result);
    expect(text).toContain('G-single (1 found): ');
    expect(text).toMatch(/T\d+ -rw-> T\d+: T\d+ read "x" = \[\], which does not include T\d+'s append of 1, the next element/);
  });

  it('finds G2 (write skew): two anti-dependencies', () => {
    // Each reads the key the other appends to, before the other's append.
    const result = check([txn(0, [['r', 'x', []], ['append', 'y', 1]], 0, 100), txn(1, [['r', 'y', []], ['append', 'x', 1]], 0, 100)]);
    expect(result.figures.anomalies).toMatchObject({ G2: 1, 'G-single': 0, G0: 0, G1c: 0 });
    expect(result.evidence.anomalies[0]?.cycle?.map((s) => s.label)).toEqual(['rw', 'rw']);
  });

  it('finds a realtime-only violation: serializable, but not in real-time order', () => {
    // T0 appended 1 and completed; T1 began afterwards yet read x as empty.
    const result = check([txn(0, [['append', 'x', 1]], 0, 10), txn(1, [['r', 'x', []]], 20, 30)]);
    expect(result.valid).toBe(false);
    expect(found([txn(0, [['append', 'x', 1]], 0, 10), txn(1, [['r', 'x', []]], 20, 30)])).toEqual(['G-single-realtime']);
    const example = result.evidence.anomalies[0];
    expect(example?.cycle?.map((s) => s.label)).toEqual(['rt', 'rw']);
    expect(example?.cycle?.[0]?.why).toBe('T0 completed (at 10 ns) before T2 was invoked (at 20 ns)');
  });

  it('treats transactions whose windows touch as concurrent', () => {
    expect(check([txn(0, [['append', 'x', 1]], 0, 10), txn(1, [['r', 'x', []]], 10, 30)]).valid).toBe(true);
  });

  it('finds internal inconsistency: a transaction does not see its own append', () => {
    expect(found([txn(0, [['append', 'x', 1], ['r', 'x', []]], 0, 10)])).toContain('internal');
    expect(found([txn(0, [['r', 'x', []], ['r', 'x', [5]]], 0, 10), txn(1, [['append', 'x', 5]], 20, 30)])).toContain('internal');
  });

  it('finds incompatible orders and duplicate elements', () => {
    expect(found([txn(0, [['append', 'x', 1]], 0, 10), txn(1, [['append', 'x', 2]], 0, 10), txn(2, [['r', 'x', [1, 2]]], 20, 30), txn(3, [['r', 'x', [2, 1]]], 20, 30)])).toContain('incompatible-order');
    expect(found([txn(0, [['append', 'x', 1]], 0, 10), txn(1, [['r', 'x', [1, 1]]], 20, 30)])).toContain('duplicate-elements');
  });

  it('finds an element no transaction appended', () => {
    expect(found([txn(0, [['r', 'x', [9]]], 0, 10)])).toContain('unexpected-element');
  });

  it('includes an indeterminate transaction in the graph once a read observed its append', () => {
    // The info append of 2 was observed, so it committed; a later reader that misses it after
    // another saw it is a realtime violation.
    const specs = [txn(0, [['append', 'x', 1]], 0, 10), txn(1, [['append', 'x', 2]], 20, 30, 'info'), txn(2, [['r', 'x', [1, 2]]], 40, 50), txn(3, [['r', 'x', [1]]], 60, 70)];
    const result = check(specs);
    expect(result.figures.graphTxns).toBe(4);
    expect(result.valid).toBe(false);
    // Unobserved, it may never have happened.
    expect(check([txn(0, [['append', 'x', 1]], 0, 10), txn(1, [['append', 'x', 2]], 20, 30, 'info'), txn(3, [['r', 'x', [1]]], 60, 70)]).valid).toBe(true);
  });

  it('is unknown when the appended values are not unique per key', () => {
    const result = check([txn(0, [['append', 'x', 1]], 0, 10), txn(1, [['append', 'x', 1]], 20, 30)]);
    expect(result.valid).toBe('unknown');
    expect(result.evidence.undecided[0]).toMatch(/1 is appended to "x" twice/);
  });

  it('is unknown when the cycle search exceeds a tiny budget', () => {
    const specs = [txn(0, [['append', 'x', 1]], 0, 10), txn(1, [['r', 'x', [1]]], 20, 30), txn(0, [['r', 'x', [1]]], 40, 50)];
    expect(check(specs, 1).valid).toBe('unknown');
    expect(check(specs).valid).toBe(true);
  });

  it('accepts randomized histories generated from a real serial execution (seeded)', () => {
    const random = seededRandom(42);
    for (let round = 0; round < 30; round++) {
      const specs = generateListAppendHistory(random, 4, 40);
      const result = check(specs);
      expect(result.valid, `round ${round}:\n${formatResult(result)}`).toBe(true);
    }
  });

  it('finds the cycle when one transaction of a random valid history is made to read stale data', () => {
    const random = seededRandom(99);
    const specs = generateListAppendHistory(random, 3, 30);
    // A transaction long after everything reads every key as empty: a realtime violation.
    const end = Math.max(...specs.map((s) => s.completeNs ?? 0)) + 10;
    const keys = ['a', 'b', 'c'];
    const stale = txn(9, keys.map((k) => ['r', k, []] as const), end, end + 5);
    const result = check([...specs, stale]);
    expect(result.valid).toBe(false);
  });
});

/**
 * Runs a real serial list-append store: every transaction takes effect atomically at a random
 * instant inside its window, so the history is strictly serializable by construction. Info
 * transactions take effect or not at random; failed ones never do.
 */
function generateListAppendHistory(random: ReturnType<typeof seededRandom>, processes: number, count: number): OperationSpec[] {
  const keys = ['a', 'b', 'c'];
  const nextFree = new Array<number>(processes).fill(0);
  const store = new Map<string, number[]>();
  let nextValue = 1;
  const planned: { pointNs: number; process: number; invokeNs: number; completeNs: number; type: OperationSpec['type']; apply: boolean; ops: Micro[] }[] = [];
  for (let i = 0; i < count; i++) {
    const process = random.below(processes);
    const invokeNs = (nextFree[process] ?? 0) + random.below(10);
    const completeNs = invokeNs + 1 + random.below(50);
    nextFree[process] = completeNs;
    const roll = random.below(10);
    const type: OperationSpec['type'] = roll === 0 ? 'info' : roll === 1 ? 'fail' : 'ok';
    const ops: Micro[] = [];
    for (let j = 0, n = 1 + random.below(4); j < n; j++) {
      const key = keys[random.below(keys.length)] as string;
      ops.push(random.below(2) === 0 ? ['r', key, null] : ['append', key, nextValue++]);
    }
    planned.push({ pointNs: invokeNs + random.next() * (completeNs - invokeNs), process, invokeNs, completeNs, type, apply: type === 'ok' || (type === 'info' && random.below(2) === 0), ops });
  }
  const specs: OperationSpec[] = [];
  for (const p of planned.sort((a, b) => a.pointNs - b.pointNs)) {
    // Run the transaction on a copy; keep the copy only if it takes effect.
    const copy = new Map([...store].map(([k, v]) => [k, [...v]]));
    const ops = p.ops.map((op): Micro => {
      const list = copy.get(op[1]) ?? [];
      copy.set(op[1], list);
      if (op[0] === 'append') {
        list.push(op[2]);
        return op;
      }
      return ['r', op[1], [...list]];
    });
    if (p.apply) for (const [k, v] of copy) store.set(k, v);
    specs.push(txn(p.process, ops, p.invokeNs, p.completeNs, p.type));
  }
  return specs;
}
