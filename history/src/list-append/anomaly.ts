/**
 * The anomalies the list-append checker reports, after Elle's names, and how evidence shows a
 * transaction. Cycle anomalies are classified by the dependency edges a cycle needs:
 * G0 (write-write only), G1c (write-write and write-read, at least one write-read), G-single
 * (exactly one read-write anti-dependency), G2 (two or more), and the `-realtime` variant of
 * each when the cycle also needs a real-time edge (T1 completed before T2 was invoked); those
 * are violations of strict serializability only.
 */
import type { JsonValue } from '../history-event.js';
import type { Txn } from './txn-operations.js';

/** Anomalies found without the dependency graph. */
export const readAnomalyTypes = ['incompatible-order', 'duplicate-elements', 'unexpected-element', 'G1a', 'G1b', 'internal'] as const;

/** Cycles in the dependency graph, strongest first. */
export const cycleAnomalyTypes = ['G0', 'G1c', 'G-single', 'G2', 'G0-realtime', 'G1c-realtime', 'G-single-realtime', 'G2-realtime'] as const;

/** Every anomaly type, in report order. */
export const anomalyTypes = [...readAnomalyTypes, ...cycleAnomalyTypes] as const;

/** An anomaly type. */
export type AnomalyType = (typeof anomalyTypes)[number];

/** A cycle anomaly type. */
export type CycleAnomalyType = (typeof cycleAnomalyTypes)[number];

/** The kinds of dependency edge: write-write, write-read, read-write (anti-dependency), real time. */
export type EdgeLabel = 'ww' | 'wr' | 'rw' | 'rt';

/** A transaction as evidence shows it. */
export interface TxnView {
  /** `T<index>`, after the invocation's index. */
  readonly name: string;
  readonly index: number;
  readonly line: number;
  readonly process: number;
  readonly outcome: 'ok' | 'fail' | 'info';
  /** Micro-ops as in the history (reads filled in for ok transactions). */
  readonly ops: readonly JsonValue[];
  readonly invokeTimeNs: number;
  readonly completeTimeNs: number | null;
}

/** One edge of a cycle, with the reason it exists. */
export interface CycleStep {
  readonly from: string;
  readonly to: string;
  readonly label: EdgeLabel;
  readonly why: string;
}

/** One anomaly with what explains it. */
export interface Anomaly {
  readonly type: AnomalyType;
  readonly explanation: string;
  readonly txns: readonly TxnView[];
  /** The cycle, each edge leading to the next, for cycle anomalies; null otherwise. */
  readonly cycle: readonly CycleStep[] | null;
}

/** The evidence view of a transaction. */
export function txnView(txn: Txn): TxnView {
  const { operation } = txn;
  return {
    name: txn.name,
    index: operation.invoke.index,
    line: operation.invoke.line,
    process: operation.process,
    outcome: operation.outcome,
    ops: txn.ops.map((op) => [op.f, op.key, op.value]),
    invokeTimeNs: operation.invokeTimeNs,
    completeTimeNs: operation.completeTimeNs,
  };
}

/** One line per transaction, e.g. `T12 p3 ok [append "x" 3] [r "y" [1 2]]  [100..250 ns] (line 13)`. */
export function describeTxn(view: TxnView): string {
  const completeTime = view.completeTimeNs === null ? 'inf' : String(view.completeTimeNs);
  const ops = view.ops.map((op) => {
    const [f, key, value] = op as readonly JsonValue[];
    return `[${String(f)} ${JSON.stringify(key)} ${Array.isArray(value) ? `[${value.join(' ')}]` : JSON.stringify(value ?? null)}]`;
  });
  return `${view.name} p${view.process} ${view.outcome} ${ops.join(' ')}  [${view.invokeTimeNs}..${completeTime} ns] (line ${view.line})`;
}
