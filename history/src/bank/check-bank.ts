/**
 * The bank checker: transfers move money between accounts and never create or destroy it, so
 * every ok read must see every account, each with a non-null, non-negative balance, summing to
 * the configured total. Transfers themselves are not replayed: whatever interleaving happened,
 * a snapshot read must conserve the total.
 *
 * Known accounts are `accounts` when given; otherwise the union of the accounts every ok read
 * returned, so a read that lacks an account another read saw is reported as missing one. An
 * account outside an explicit `accounts` list is unknown. Valid iff no read has an error;
 * unknown when there is no ok read.
 */
import type { History } from '../history-event.js';
import { assert } from '../assert.js';
import { countOutcomes, examplesMaxDefault, validityOf, type OperationFigures, type Validity } from '../check-result.js';
import { viewOf, type OperationView } from '../operation-view.js';
import { bankOperations, type Balances } from './bank-operations.js';

/** Options of checkBank. */
export interface BankCheckOptions {
  /** The sum every read must see. */
  readonly total: number;
  /** The accounts that exist; default: every account some ok read returned. */
  readonly accounts?: readonly string[];
  /** Reads listed per error in the evidence (the figures count them all). */
  readonly examplesMax?: number;
}

/** What can be wrong with a read. */
export type BankReadError = 'wrong-total' | 'negative' | 'missing-account' | 'unknown-account' | 'nil-balance';

/** A read with an error. */
export interface BankReadEvidence {
  readonly read: OperationView;
  /** Sum of its non-null balances. */
  readonly sum: number;
  /** The accounts concerned: negative, missing, unknown or null ones (empty for wrong-total). */
  readonly accounts: readonly string[];
}

/** Figures of a bank check. `violations` counts reads with at least one error. */
export interface BankFigures extends OperationFigures {
  readonly total: number;
  readonly accounts: number;
  /** Ok reads. */
  readonly reads: number;
  readonly transfersOk: number;
  readonly wrongTotal: number;
  readonly negative: number;
  readonly missingAccount: number;
  readonly unknownAccount: number;
  readonly nilBalance: number;
}

/** The result of checkBank. */
export interface BankResult {
  readonly model: 'bank';
  readonly valid: Validity;
  readonly figures: BankFigures;
  readonly evidence: {
    readonly [error in BankReadError]: readonly BankReadEvidence[];
  } & {
    /** The wrong-total read farthest from the total. */
    readonly worstWrongTotal: BankReadEvidence | null;
  };
}

/** Checks a bank history against `options.total`. */
export function checkBank(history: History, options: BankCheckOptions): BankResult {
  assert(Number.isSafeInteger(options.total), 'The bank total must be an integer');
  const examplesMax = options.examplesMax ?? examplesMaxDefault;
  const ops = bankOperations(history);
  const reads: { view: OperationView; balances: Balances }[] = [];
  let transfersOk = 0;
  for (const { call, operation } of ops) {
    if (call.f === 'transfer') {
      if (operation.outcome === 'ok') transfersOk++;
    } else if (call.balances !== null) {
      reads.push({ view: viewOf(operation), balances: call.balances });
    }
  }
  const explicit = options.accounts !== undefined;
  const known = new Set<string>(options.accounts ?? reads.flatMap((r) => [...r.balances.keys()]));
  const counts: Record<BankReadError, number> = { 'wrong-total': 0, negative: 0, 'missing-account': 0, 'unknown-account': 0, 'nil-balance': 0 };
  const evidence: Record<BankReadError, BankReadEvidence[]> = { 'wrong-total': [], negative: [], 'missing-account': [], 'unknown-account': [], 'nil-balance': [] };
  let worstWrongTotal: BankReadEvidence | null = null;
  let badReads = 0;
  for (const { view, balances } of reads) {
    let sum = 0;
    const negative: string[] = [];
    const nil: string[] = [];
    const unknown: string[] = [];
    for (const [name, balance] of balances) {
      if (explicit && !known.has(name)) unknown.push(name);
      if (balance === null) nil.push(name);
      else {
        sum += balance;
        if (balance < 0) negative.push(name);
      }
    }
    const missing = [...known].filter((name) => !balances.has(name));
    const found: [BankReadError, string[]][] = [
      ['wrong-total', sum === options.total ? [] : ['']],
      ['negative', negative],
      ['missing-account', missing],
      ['unknown-account', unknown],
      ['nil-balance', nil],
    ];
    let bad = false;
    for (const [error, accounts] of found) {
      if (accounts.length === 0) continue;
      bad = true;
      counts[error]++;
      const item: BankReadEvidence = { read: view, sum, accounts: error === 'wrong-total' ? [] : accounts };
      if (evidence[error].length < examplesMax) evidence[error].push(item);
      if (error === 'wrong-total' && (worstWrongTotal === null || Math.abs(sum - options.total) > Math.abs(worstWrongTotal.sum - options.total))) worstWrongTotal = item;
    }
    if (bad) badReads++;
  }
  return {
    model: 'bank',
    valid: validityOf(badReads, reads.length === 0 ? 1 : 0),
    figures: {
      ...countOutcomes(history.operations),
      violations: badReads,
      unknowns: reads.length === 0 ? 1 : 0,
      total: options.total,
      accounts: known.size,
      reads: reads.length,
      transfersOk,
      wrongTotal: counts['wrong-total'],
      negative: counts.negative,
      missingAccount: counts['missing-account'],
      unknownAccount: counts['unknown-account'],
      nilBalance: counts['nil-balance'],
    },
    evidence: { ...evidence, worstWrongTotal },
  };
}
