/**
 * The list-append checker (Elle's approach, strict serializability). Steps:
 * 1. decode transactions; check the precondition that appended values are unique per key;
 * 2. infer each key's version order from the ok reads (incompatible-order,
 *    duplicate-elements);
 * 3. find read anomalies (G1a, G1b, internal, unexpected-element);
 * 4. build the dependency graph (ww, wr, rw and real-time edges);
 * 5. split it into strongly connected components (Tarjan); every component with more than
 *    one transaction holds a cycle, i.e. an anomaly; classify each as G0, G1c, G-single, G2 or
 *    their -realtime variants, with one example cycle per type.
 *
 * Counting: incompatible-order counts keys, cycle types count components (one per type per
 * component), the other anomalies count reads (or transactions, for internal).
 *
 * Deterministic and bounded: the graph search takes at most `stepsMax` steps; running out, or
 * a broken precondition, gives 'unknown' unless an anomaly was already proven.
 */
import type { History } from '../history-event.js';
import { countOutcomes, validityOf, type OperationFigures, type Validity } from '../check-result.js';
import { StepBudget } from '../step-budget.js';
import { anomalyTypes, txnView, type Anomaly, type AnomalyType, type EdgeLabel } from './anomaly.js';
import { buildDependencyGraph } from './dependency-graph.js';
import { classifyComponent } from './cycle-search.js';
import { findReadAnomalies } from './read-anomalies.js';
import { stronglyConnected } from './strongly-connected.js';
import { listAppendTxns, type Txn } from './txn-operations.js';
import { inferVersionOrders } from './version-order.js';

/** Default budget of the graph search, in steps (one step = one edge examined). */
export const listAppendStepsMaxDefault = 10_000_000;

/** Default examples kept per anomaly type: one explains the type, the counts say how often. */
export const listAppendExamplesMaxDefault = 1;

/** Options of checkListAppend. */
export interface ListAppendCheckOptions {
  /** Steps the cycle search may take before the result is unknown. */
  readonly stepsMax?: number;
  /** Examples kept per anomaly type (default 1; the counts are complete). */
  readonly examplesMax?: number;
}

/** Figures of a list-append check. `violations` is the sum of the anomaly counts. */
export interface ListAppendFigures extends OperationFigures {
  readonly keys: number;
  /** Transactions in the dependency graph (ok ones and observed indeterminate ones). */
  readonly graphTxns: number;
  readonly edges: Readonly<Record<EdgeLabel, number>>;
  /** Components with more than one transaction, i.e. with a cycle. */
  readonly cyclicComponents: number;
  readonly anomalies: Readonly<Record<AnomalyType, number>>;
  readonly steps: number;
}

/** The result of checkListAppend. */
export interface ListAppendResult {
  readonly model: 'list-append';
  readonly valid: Validity;
  readonly figures: ListAppendFigures;
  readonly evidence: {
    /** Examples, grouped by type in report order. */
    readonly anomalies: readonly Anomaly[];
    /** Why the verdict is unknown, when it is. */
    readonly undecided: readonly string[];
  };
}

/** Checks a list-append history for strict serializability. */
export function checkListAppend(history: History, options: ListAppendCheckOptions = {}): ListAppendResult {
  const budget = new StepBudget(options.stepsMax ?? listAppendStepsMaxDefault);
  const examplesMax = options.examplesMax ?? listAppendExamplesMaxDefault;
  const txns = listAppendTxns(history);
  const counts = Object.fromEntries(anomalyTypes.map((t) => [t, 0])) as Record<AnomalyType, number>;
  const examples = new Map<AnomalyType, Anomaly[]>();
  const report = (type: AnomalyType, anomaly: () => Anomaly): void => {
    counts[type]++;
    const list = examples.get(type) ?? [];
    examples.set(type, list);
    if (list.length < examplesMax) list.push(anomaly());
  };
  const plainAnomaly = (type: AnomalyType, involved: readonly Txn[], explanation: string): Anomaly => ({ type, explanation, txns: involved.map(txnView), cycle: null });
  const undecided: string[] = [];

  const versions = inferVersionOrders(txns);
  let graphTxns = 0;
  let cyclicComponents = 0;
  let edges: Record<EdgeLabel, number> = { ww: 0, wr: 0, rw: 0, rt: 0 };
  if (versions.preconditions.length > 0) {
    // Without unique appends an element has no single writer, so no edge can be trusted.
    undecided.push(...versions.preconditions);
  } else {
    for (const a of versions.anomalies) report(a.type, () => plainAnomaly(a.type, a.txns, a.explanation));
    for (const a of findReadAnomalies(txns, versions)) report(a.type, () => plainAnomaly(a.type, a.txns, a.explanation));
    const graph = buildDependencyGraph(txns, versions);
    graphTxns = graph.nodes.length;
    edges = { ...graph.edgeCounts };
    const component = stronglyConnected(graph.nodes, (node) => (graph.outgoing[node] ?? []).map((e) => e.to), budget);
    if (component === null) {
      undecided.push(`the cycle search exceeded its budget of ${budget.stepsMax} steps`);
    } else {
      const members = new Map<number, number[]>();
      for (const node of graph.nodes) {
        const id = component.get(node) as number;
        const list = members.get(id);
        if (list === undefined) members.set(id, [node]);
        else list.push(node);
      }
      const cyclic = [...members.values()].filter((m) => m.length > 1).sort((a, b) => (a[0] as number) - (b[0] as number));
      cyclicComponents = cyclic.length;
      for (const nodes of cyclic) {
        const { cycles, exhausted } = classifyComponent(graph, nodes, budget);
        for (const cycle of cycles) {
          report(cycle.type, () => {
            const involved = cycle.edges.map((e) => txns[e.from] as Txn);
            return {
              type: cycle.type,
              explanation: `${involved.map((t) => t.name).join(' -> ')} -> ${involved[0]?.name ?? ''}: a cycle of ${cycle.edges.map((e) => e.label).join(', ')} edges`,
              txns: involved.map(txnView),
              cycle: cycle.edges.map((e) => ({ from: (txns[e.from] as Txn).name, to: (txns[e.to] as Txn).name, label: e.label, why: e.why() })),
            };
          });
        }
        if (exhausted) {
          undecided.push(`the cycle search exceeded its budget of ${budget.stepsMax} steps`);
          break;
        }
      }
    }
  }
  const violations = anomalyTypes.reduce((sum, t) => sum + counts[t], 0);
  const unknowns = undecided.length > 0 ? 1 : 0;
  return {
    model: 'list-append',
    valid: validityOf(violations, unknowns),
    figures: { ...countOutcomes(history.operations), violations, unknowns, keys: versions.byKey.size, graphTxns, edges, cyclicComponents, anomalies: counts, steps: budget.used },
    evidence: { anomalies: anomalyTypes.flatMap((t) => examples.get(t) ?? []), undecided },
  };
}
