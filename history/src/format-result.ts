/**
 * Renders a check result for people: a verdict line, the figures, then the evidence, each
 * operation on its own line with its history index and line number so it can be found in the
 * file. The JSON form (`--json`) is the result object itself; this text is for reading only
 * and may change, so scripts should use the JSON.
 */
import type { Validity } from './check-result.js';
import { formatKey } from './history-event.js';
import { describeOperation, type OperationView } from './operation-view.js';
import type { RegisterResult } from './register/check-register.js';
import type { SetElementEvidence, SetResult } from './set/check-set.js';
import type { BankReadError, BankResult } from './bank/check-bank.js';
import type { ListAppendResult } from './list-append/check-list-append.js';
import { anomalyTypes, describeTxn } from './list-append/anomaly.js';
import { unreachable } from './assert.js';

/** The result of any checker. */
export type CheckResult = RegisterResult | SetResult | BankResult | ListAppendResult;

/** Operations of a long prefix shown before eliding the rest. */
const prefixShownMax = 10;

/** Renders a result as text (ends with a newline). */
export function formatResult(result: CheckResult): string {
  switch (result.model) {
    case 'register':
      return formatRegister(result);
    case 'set':
      return formatSet(result);
    case 'bank':
      return formatBank(result);
    case 'list-append':
      return formatListAppend(result);
    default:
      return unreachable(result, 'Unknown result model');
  }
}

function verdict(valid: Validity): string {
  return valid === true ? 'valid' : valid === false ? 'INVALID' : 'UNKNOWN';
}

function outcomes(f: { operations: number; ok: number; fail: number; info: number }): string {
  return `operations ${f.operations} (ok ${f.ok}, fail ${f.fail}, info ${f.info})`;
}

function operations(views: readonly OperationView[], indent = '    '): string[] {
  return views.map((v) => `${indent}${describeOperation(v)}`);
}

function formatRegister(r: RegisterResult): string {
  const f = r.figures;
  const why = r.valid === true ? `all ${f.keys} keys linearizable` : `${f.violations} of ${f.keys} keys not linearizable, ${f.unknowns} undecided`;
  const out = [`register: ${verdict(r.valid)} (${why})`, `  ${outcomes(f)}; keys ${f.keys}: linearizable ${f.keysLinearizable}, violations ${f.violations}, unknown ${f.unknowns}; search steps ${f.steps}`];
  for (const v of r.evidence.violations) {
    out.push('', `Key ${formatKey(v.key)} is not linearizable (${v.operations} operations searched).`);
    const shown = v.prefix.slice(-prefixShownMax);
    const elided = v.prefix.length - shown.length;
    out.push(`  Longest linearizable prefix: ${v.prefix.length} operations${elided > 0 ? ` (last ${shown.length} shown)` : ''}; value afterwards ${v.stateAfterPrefix === null ? 'absent' : JSON.stringify(v.stateAfterPrefix)}:`);
    if (elided > 0) out.push(`    … ${elided} earlier operations`);
    out.push(...operations(shown));
    if (v.prefix.length === 0) out.push('    (none)');
    out.push('  This operation could not be linearized after that prefix before it returned:', ...operations([v.blocking]));
    out.push(`  Smallest failing window found (${v.window.length} operations${v.windowMinimal ? '; none can be removed' : '; the shrink budget ran out, it may shrink further'}):`, ...operations(v.window));
  }
  for (const u of r.evidence.unknownKeys) out.push('', `Key ${formatKey(u.key)} is undecided: ${u.operations} operations exceeded the budget of ${u.stepsMax} search steps (raise it with --budget).`);
  return `${out.join('\n')}\n`;
}

function formatSet(r: SetResult): string {
  const f = r.figures;
  const why = r.valid === 'unknown' ? 'no ok read' : `lost ${f.lost}, stale ${f.stale}, unexpected ${f.unexpected}, duplicated ${f.duplicated}`;
  const out = [
    `set: ${verdict(r.valid)} (${why})`,
    `  ${outcomes(f)}; ok reads ${f.reads}`,
    `  attempted ${f.attempted}, acknowledged ${f.acknowledged}, lost ${f.lost}, stale ${f.stale}, unexpected ${f.unexpected}, duplicated ${f.duplicated}, recovered ${f.recovered}, never read ${f.neverRead}`,
  ];
  const section = (title: string, count: number, items: readonly SetElementEvidence[], explain: string): void => {
    if (count === 0) return;
    out.push('', `${title} (${count}${items.length < count ? `, ${items.length} shown` : ''}): ${explain}`);
    for (const item of items) {
      out.push(`  element ${item.element}:`);
      out.push(...(item.adds.length === 0 ? ['    added by no operation'] : operations(item.adds)));
      if (item.absentIn !== null) out.push(`    missing from:`, ...operations([item.absentIn], '      '));
      if (item.presentIn !== null) out.push(`    present in:`, ...operations([item.presentIn], '      '));
    }
  };
  section('Lost', f.lost, r.evidence.lost, 'known to be in the set, then missing from a read that began after every read that saw it');
  section('Stale', f.stale, r.evidence.stale, 'missing from a read that began after it was known, though seen again later');
  section('Unexpected', f.unexpected, r.evidence.unexpected, 'read, but never added, or every add failed');
  section('Duplicated', f.duplicated, r.evidence.duplicated, 'listed more than once by one read');
  section('Never read', f.neverRead, r.evidence.neverRead, 'attempted, not failed, and in no read (not an error)');
  return `${out.join('\n')}\n`;
}

function formatBank(r: BankResult): string {
  const f = r.figures;
  const why = r.valid === 'unknown' ? 'no ok read' : `${f.violations} of ${f.reads} reads wrong`;
  const out = [
    `bank: ${verdict(r.valid)} (${why})`,
    `  ${outcomes(f)}; ok reads ${f.reads}, ok transfers ${f.transfersOk}, accounts ${f.accounts}, total ${f.total}`,
    `  wrong total ${f.wrongTotal}, negative ${f.negative}, missing account ${f.missingAccount}, unknown account ${f.unknownAccount}, null balance ${f.nilBalance}`,
  ];
  const titles: Record<BankReadError, [number, string]> = {
    'wrong-total': [f.wrongTotal, `balances do not sum to ${f.total}`],
    negative: [f.negative, 'a balance is negative'],
    'missing-account': [f.missingAccount, 'an account is missing'],
    'unknown-account': [f.unknownAccount, 'an account is not one of --accounts'],
    'nil-balance': [f.nilBalance, 'a balance is null'],
  };
  for (const [error, [count, explain]] of Object.entries(titles) as [BankReadError, [number, string]][]) {
    if (count === 0) continue;
    const items = r.evidence[error];
    out.push('', `${error} (${count}${items.length < count ? `, ${items.length} shown` : ''}): ${explain}`);
    for (const item of items) out.push(...operations([item.read], '  '), `    sum ${item.sum}${item.accounts.length > 0 ? `; accounts ${item.accounts.join(', ')}` : ''}`);
  }
  const worst = r.evidence.worstWrongTotal;
  if (worst !== null) out.push('', `Farthest from the total: sum ${worst.sum} (off by ${worst.sum - f.total})`, ...operations([worst.read], '  '));
  return `${out.join('\n')}\n`;
}

function formatListAppend(r: ListAppendResult): string {
  const f = r.figures;
  const found = anomalyTypes.filter((t) => f.anomalies[t] > 0);
  const why = found.length > 0 ? found.map((t) => `${t} ${f.anomalies[t]}`).join(', ') : r.valid === true ? 'no anomalies' : 'undecided';
  const out = [
    `list-append: ${verdict(r.valid)} (${why})`,
    `  ${outcomes(f)}; keys ${f.keys}; graph: ${f.graphTxns} txns, edges ww ${f.edges.ww}, wr ${f.edges.wr}, rw ${f.edges.rw}, rt ${f.edges.rt}; cyclic components ${f.cyclicComponents}; search steps ${f.steps}`,
  ];
  for (const a of r.evidence.anomalies) {
    out.push('', `${a.type} (${f.anomalies[a.type]} found): ${a.explanation}`);
    out.push(...a.txns.map((t) => `    ${describeTxn(t)}`));
    if (a.cycle !== null) out.push('  because:', ...a.cycle.map((s) => `    ${s.from} -${s.label}-> ${s.to}: ${s.why}`));
  }
  for (const reason of r.evidence.undecided) out.push('', `Undecided: ${reason}`);
  return `${out.join('\n')}\n`;
}
