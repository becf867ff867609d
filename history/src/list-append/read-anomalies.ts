/**
 * Anomalies visible in single reads, without the dependency graph:
 * - G1a (aborted read): an ok transaction read an element whose append failed;
 * - G1b (intermediate read): an ok transaction read a list ending in an element that its
 *   writer followed with another append to the same key (it saw an intermediate state);
 * - internal: a read inside a transaction disagrees with the transaction's own earlier reads
 *   and appends of that key;
 * - unexpected-element: a read contains an element no transaction appended to that key.
 *
 * Only ok transactions' reads are examined: fail and info transactions carry no reads. Most
 * reads are prefixes of their key's longest read, so the first unexpected and first aborted
 * element are located once per key in the longest read, and a prefix read contains one iff it
 * is longer than that position; other reads are scanned element by element.
 */
import { formatKey } from '../history-event.js';
import type { Txn } from './txn-operations.js';
import { isPrefix, type KeyVersions, type VersionOrders, type Writer } from './version-order.js';

/** A read anomaly. */
export interface ReadAnomaly {
  readonly type: 'G1a' | 'G1b' | 'internal' | 'unexpected-element';
  readonly txns: readonly Txn[];
  readonly explanation: string;
}

/** Finds the read anomalies of the ok transactions. */
export function findReadAnomalies(txns: readonly Txn[], versions: VersionOrders): ReadAnomaly[] {
  const anomalies: ReadAnomaly[] = [];
  const firstBad = new Map<string, { unexpected: number; aborted: number }>();
  const badPositions = (keyId: string, key: KeyVersions): { unexpected: number; aborted: number } => {
    let found = firstBad.get(keyId);
    if (found === undefined) {
      found = { unexpected: key.longest.findIndex((e) => !key.writers.has(e)), aborted: key.longest.findIndex((e) => key.writers.get(e)?.txn.operation.outcome === 'fail') };
      firstBad.set(keyId, found);
    }
    return found;
  };
  for (const txn of txns) {
    if (txn.operation.outcome !== 'ok') continue;
    anomalies.push(...internalAnomalies(txn));
    for (const op of txn.ops) {
      if (op.f !== 'r' || op.value === null) continue;
      const key = versions.byKey.get(op.keyId);
      if (key === undefined) continue;
      const read = op.value;
      // Reads can hold thousands of elements: render one only for an anomaly.
      const shown = (): string => `${txn.name} read ${formatKey(op.key)} = [${read.join(' ')}]`;
      let stranger: number | undefined;
      let aborted: Writer | undefined;
      if (isPrefix(read, key.longest)) {
        const positions = badPositions(op.keyId, key);
        if (positions.unexpected >= 0 && positions.unexpected < read.length) stranger = read[positions.unexpected];
        if (positions.aborted >= 0 && positions.aborted < read.length) aborted = key.writers.get(read[positions.aborted] as number);
      } else {
        stranger = read.find((e) => !key.writers.has(e));
        aborted = read.map((e) => key.writers.get(e)).find((w) => w !== undefined && w.txn.operation.outcome === 'fail');
      }
      if (stranger !== undefined) anomalies.push({ type: 'unexpected-element', txns: [txn], explanation: `${shown()}, but no transaction appended ${stranger} to ${formatKey(op.key)}` });
      if (aborted !== undefined) {
        const value = String(aborted.txn.ops[aborted.position]?.value);
        anomalies.push({ type: 'G1a', txns: [txn, aborted.txn], explanation: `${shown()}, which includes ${value}, appended by ${aborted.txn.name}, which failed` });
      }
      const last = read.at(-1);
      if (last === undefined) continue;
      const writer = key.writers.get(last);
      if (writer === undefined || writer.txn === txn || writer.txn.operation.outcome === 'fail') continue;
      const later = writer.txn.ops.slice(writer.position + 1).find((o) => o.f === 'append' && o.keyId === op.keyId);
      if (later !== undefined) {
        anomalies.push({ type: 'G1b', txns: [txn, writer.txn], explanation: `${shown()}, ending in ${last}, an intermediate state: ${writer.txn.name} appended ${last} and then ${String(later.value)} to ${formatKey(op.key)}` });
      }
    }
  }
  return anomalies;
}

/** Reads that contradict what the transaction itself read and appended before them. */
function internalAnomalies(txn: Txn): ReadAnomaly[] {
  const found: ReadAnomaly[] = [];
  // Per key: the full list when the transaction has read it, else only its own appends so far.
  const known = new Map<string, { list: readonly number[]; complete: boolean }>();
  for (const op of txn.ops) {
    const state = known.get(op.keyId) ?? { list: [], complete: false };
    if (op.f === 'append') {
      known.set(op.keyId, { list: [...state.list, op.value], complete: state.complete });
      continue;
    }
    const read = op.value ?? [];
    const expected = state.list;
    const consistent = state.complete ? read.length === expected.length && isPrefix(read, expected) : read.length >= expected.length && isPrefix(expected, read.slice(read.length - expected.length));
    if (!consistent) {
      const expectation = state.complete ? `[${expected.join(' ')}]` : `a list ending in its own appends [${expected.join(' ')}]`;
      found.push({ type: 'internal', txns: [txn], explanation: `${txn.name} read ${formatKey(op.key)} = [${read.join(' ')}] but its earlier micro-ops imply ${expectation}` });
    }
    known.set(op.keyId, { list: read, complete: true });
  }
  return found;
}
