/**
 * Tarjan's strongly connected components, iterative (histories have 10^5 transactions, far
 * more than the call stack allows for recursion), over a subset of nodes and of edges.
 *
 * Invariants: every node of `nodes` gets exactly one component number; components are
 * numbered in the order Tarjan completes them, which is deterministic for a given input
 * order; each edge examined takes one step from the budget, and running out returns null.
 */
import type { StepBudget } from '../step-budget.js';

/** A directed graph view: successors of a node through the edges that count. */
export type Successors = (node: number) => readonly number[];

/** Component number per node (a Map keyed by node), or null when the budget ran out. */
export function stronglyConnected(nodes: readonly number[], successors: Successors, budget: StepBudget): Map<number, number> | null {
  const order = new Map<number, number>();
  const low = new Map<number, number>();
  const component = new Map<number, number>();
  const stack: number[] = [];
  const onStack = new Set<number>();
  let counter = 0;
  let components = 0;
  for (const root of nodes) {
    if (order.has(root)) continue;
    // Each frame: a node and the position of the next successor to examine.
    const frames: { node: number; next: readonly number[]; position: number }[] = [];
    const enter = (node: number): void => {
      order.set(node, counter);
      low.set(node, counter);
      counter++;
      stack.push(node);
      onStack.add(node);
      frames.push({ node, next: successors(node), position: 0 });
    };
    enter(root);
    while (frames.length > 0) {
      const frame = frames[frames.length - 1] as (typeof frames)[number];
      if (frame.position < frame.next.length) {
        if (!budget.take()) return null;
        const successor = frame.next[frame.position++] as number;
        if (!order.has(successor)) enter(successor);
        else if (onStack.has(successor)) low.set(frame.node, Math.min(low.get(frame.node) as number, order.get(successor) as number));
        continue;
      }
      frames.pop();
      const parent = frames[frames.length - 1];
      if (parent !== undefined) low.set(parent.node, Math.min(low.get(parent.node) as number, low.get(frame.node) as number));
      if (low.get(frame.node) === order.get(frame.node)) {
        for (;;) {
          const member = stack.pop() as number;
          onStack.delete(member);
          component.set(member, components);
          if (member === frame.node) break;
        }
        components++;
      }
    }
  }
  return component;
}
