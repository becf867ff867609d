import { describe, expect, it } from 'vitest';
import { parseHistory } from '../parse-history.js';
import { formatResult } from '../format-result.js';
import { historyText, type OperationSpec } from '../testing/history-text.js';
import { checkBank, type BankCheckOptions } from './check-bank.js';

const transfer = (process: number, from: string | number, to: string | number, amount: number, invokeNs: number, completeNs: number, type: OperationSpec['type'] = 'ok'): OperationSpec => ({
  process,
  f: 'transfer',
  value: { from, to, amount },
  type,
  invokeNs,
  completeNs,
});
const read = (process: number, balances: Record<string, number | null> | null, invokeNs: number, completeNs: number, type: OperationSpec['type'] = 'ok'): OperationSpec => ({
  process,
  f: 'read',
  type,
  result: balances,
  invokeNs,
  completeNs,
});
const check = (specs: readonly OperationSpec[], options: BankCheckOptions = { total: 100 }) => checkBank(parseHistory(historyText(specs)), options);

describe('checkBank', () => {
  it('accepts reads that always sum to the total', () => {
    const result = check([read(0, { a: 50, b: 50 }, 0, 1), transfer(1, 'a', 'b', 10, 2, 3), read(0, { a: 40, b: 60 }, 4, 5), transfer(1, 'b', 'a', 5, 6, 7, 'info'), read(0, { a: 45, b: 55 }, 8, 9)]);
    expect(result.valid).toBe(true);
    expect(result.figures).toMatchObject({ reads: 3, transfersOk: 1, accounts: 2, total: 100, violations: 0, unknowns: 0, info: 1 });
  });

  it('reports reads with the wrong total and the one farthest from it', () => {
    const result = check([read(0, { a: 50, b: 40 }, 0, 1), read(0, { a: 50, b: 20 }, 2, 3), read(0, { a: 50, b: 50 }, 4, 5)]);
    expect(result.valid).toBe(false);
    expect(result.figures).toMatchObject({ wrongTotal: 2, violations: 2 });
    expect(result.evidence['wrong-total'].map((e) => e.sum)).toEqual([90, 70]);
    expect(result.evidence.worstWrongTotal).toMatchObject({ sum: 70, read: { invokeTimeNs: 2 } });
    expect(formatResult(result)).toContain('Farthest from the total: sum 70 (off by -30)');
  });

  it('reports a negative balance even when the total is right', () => {
    const result = check([read(0, { a: -10, b: 110 }, 0, 1)]);
    expect(result.figures).toMatchObject({ negative: 1, wrongTotal: 0, violations: 1 });
    expect(result.evidence.negative[0]?.accounts).toEqual(['a']);
  });

  it('reports a read that lacks an account another read returned', () => {
    const result = check([read(0, { a: 50, b: 50 }, 0, 1), read(0, { a: 100 }, 2, 3)]);
    expect(result.figures).toMatchObject({ missingAccount: 1, wrongTotal: 0, violations: 1 });
    expect(result.evidence['missing-account'][0]?.accounts).toEqual(['b']);
  });

  it('reports accounts outside an explicit account list as unknown, and absent ones as missing', () => {
    const result = check([read(0, { a: 50, z: 50 }, 0, 1)], { total: 100, accounts: ['a', 'b'] });
    expect(result.figures).toMatchObject({ unknownAccount: 1, missingAccount: 1, violations: 1, accounts: 2 });
  });

  it('reports a null balance', () => {
    const result = check([read(0, { a: 100, b: null }, 0, 1)]);
    expect(result.figures).toMatchObject({ nilBalance: 1, violations: 1 });
  });

  it('ignores fail and info reads, and is unknown without an ok read', () => {
    const result = check([transfer(0, 'a', 'b', 1, 0, 1), read(1, null, 2, 3, 'info'), read(1, null, 4, 5, 'fail')]);
    expect(result.valid).toBe('unknown');
    expect(result.figures).toMatchObject({ unknowns: 1, reads: 0 });
  });

  it('accepts integer account names in transfers', () => {
    expect(check([transfer(0, 1, 2, 5, 0, 1), read(1, { 1: 45, 2: 55 }, 2, 3)], { total: 100, accounts: ['1', '2'] }).valid).toBe(true);
  });
});
