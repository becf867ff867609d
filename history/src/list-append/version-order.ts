/**
 * Infers each key's version order (the order its elements were appended) from the reads of ok
 * transactions, and the writer of every appended element.
 *
 * In a serializable list-append history every read of a key is a prefix of the key's final
 * list, so every read must be a prefix of the longest read; if not, the key's reads are
 * `incompatible-order`, and a read listing an element twice is `duplicate-elements`. Keys with
 * either anomaly get no version order (the checker infers no ww or rw edge from them: a broken
 * order would only produce noise). One more element is known for free: when exactly one append
 * to a key (by an ok transaction, and no indeterminate one competing) appears in no read, it
 * must come right after the longest read.
 *
 * Precondition (the workload generator's invariant): every (key, value) is appended at most
 * once, so each element has exactly one writer. A history that breaks it cannot be judged.
 *
 * Everything is indexed per key and then by the integer element, so checking a history costs
 * about one hash lookup per element read, without building strings.
 */
import type { HistoryKey } from '../history-event.js';
import { formatKey } from '../history-event.js';
import type { Txn } from './txn-operations.js';

/** The transaction that appended an element and where in the transaction it did. */
export interface Writer {
  readonly txn: Txn;
  /** Position of the append among the transaction's micro-ops. */
  readonly position: number;
}

/** An ok read of a key. */
export interface KeyRead {
  readonly txn: Txn;
  readonly value: readonly number[];
}

/** What is known about one key. */
export interface KeyVersions {
  readonly key: HistoryKey;
  /** The writer of each element appended to the key. */
  readonly writers: ReadonlyMap<number, Writer>;
  /** Every ok read of the key, in transaction order. */
  readonly reads: readonly KeyRead[];
  /** The longest ok read (empty when there is none). */
  readonly longest: readonly number[];
  /** The version order, or null when the key's reads disagree or repeat an element. */
  readonly order: readonly number[] | null;
}

/** An anomaly found while inferring version orders. */
export interface OrderAnomaly {
  readonly type: 'incompatible-order' | 'duplicate-elements';
  readonly txns: readonly Txn[];
  readonly explanation: string;
}

/** What inference found. */
export interface VersionOrders {
  /** Per key id, in order of first appearance. */
  readonly byKey: ReadonlyMap<string, KeyVersions>;
  readonly anomalies: readonly OrderAnomaly[];
  /** Broken preconditions (an element appended twice); non-empty means no verdict is possible. */
  readonly preconditions: readonly string[];
}

/** The writer of an element, if any transaction appended it. */
export function writerOf(versions: VersionOrders, keyId: string, value: number): Writer | undefined {
  return versions.byKey.get(keyId)?.writers.get(value);
}

/** True when `prefix` is a prefix of `list`. */
export function isPrefix(prefix: readonly number[], list: readonly number[]): boolean {
  if (prefix.length > list.length) return false;
  for (let i = 0; i < prefix.length; i++) if (prefix[i] !== list[i]) return false;
  return true;
}

/** Infers version orders and writers from the transactions. */
export function inferVersionOrders(txns: readonly Txn[]): VersionOrders {
  const preconditions: string[] = [];
  const building = new Map<string, { key: HistoryKey; writers: Map<number, Writer>; reads: KeyRead[] }>();
  for (const txn of txns) {
    txn.ops.forEach((op, position) => {
      let entry = building.get(op.keyId);
      if (entry === undefined) {
        entry = { key: op.key, writers: new Map(), reads: [] };
        building.set(op.keyId, entry);
      }
      if (op.f === 'append') {
        const earlier = entry.writers.get(op.value);
        if (earlier === undefined) entry.writers.set(op.value, { txn, position });
        else preconditions.push(`${op.value} is appended to ${formatKey(op.key)} twice, by ${earlier.txn.name} (line ${earlier.txn.operation.invoke.line}) and ${txn.name} (line ${txn.operation.invoke.line}); appended values must be unique per key`);
      } else if (op.value !== null && txn.operation.outcome === 'ok') {
        entry.reads.push({ txn, value: op.value });
      }
    });
  }
  const byKey = new Map<string, KeyVersions>();
  const anomalies: OrderAnomaly[] = [];
  for (const [keyId, { key, writers, reads }] of building) {
    const longestRead = reads.reduce<KeyRead | null>((best, r) => (best === null || r.value.length > best.value.length ? r : best), null);
    const longest = longestRead?.value ?? [];
    // A read that is a prefix of the longest repeats an element iff it reaches the longest
    // read's first repetition, so only the other reads are scanned.
    const repetition = firstRepetition(longest);
    let broken = false;
    for (const read of reads) {
      const at = isPrefix(read.value, longest) ? (repetition >= 0 && repetition < read.value.length ? repetition : -1) : firstRepetition(read.value);
      if (at >= 0) {
        broken = true;
        anomalies.push({ type: 'duplicate-elements', txns: [read.txn], explanation: `${read.txn.name} read ${formatKey(key)} = [${read.value.join(' ')}], which lists ${String(read.value[at])} more than once` });
      }
    }
    const conflict = reads.find((r) => !isPrefix(r.value, longest));
    if (conflict !== undefined && longestRead !== null) {
      broken = true;
      anomalies.push({
        type: 'incompatible-order',
        txns: [conflict.txn, longestRead.txn],
        explanation: `${conflict.txn.name} read ${formatKey(key)} = [${conflict.value.join(' ')}], which is not a prefix of ${longestRead.txn.name}'s read [${longest.join(' ')}]: the two disagree on the order of appends`,
      });
    }
    let order: number[] | null = null;
    if (!broken) {
      order = [...longest];
      const seen = new Set(longest);
      const unseen = [...writers].filter(([value, w]) => !seen.has(value) && w.txn.operation.outcome !== 'fail');
      const only = unseen[0];
      if (unseen.length === 1 && only !== undefined && only[1].txn.operation.outcome === 'ok') order.push(only[0]);
    }
    byKey.set(keyId, { key, writers, reads, longest, order });
  }
  return { byKey, anomalies, preconditions };
}

/** The position of the first element that already occurred earlier in the list, or -1. */
function firstRepetition(list: readonly number[]): number {
  const seen = new Set<number>();
  for (let i = 0; i < list.length; i++) {
    const e = list[i] as number;
    if (seen.has(e)) return i;
    seen.add(e);
  }
  return -1;
}
