/**
 * The set checker (after Jepsen's set-full). Every element is judged from its adds and from
 * the ok reads that did or did not contain it.
 *
 * An element becomes *known* at the earliest of: the completion of an ok add, or the
 * completion of the first ok read that contained it. From then on, every read that *began*
 * after that moment must contain it (the set only grows). So, per element:
 * - lost: some read began after it was known and after every read containing it had
 *   completed, and did not contain it (acknowledged elements never read again count here);
 * - stale: a read that began after it was known missed it, but it was seen again later or
 *   concurrently (a flicker);
 * - unexpected: a read contained it and no add of it was ever attempted, or every add failed;
 * - duplicated: a read contained it more than once;
 * - recovered: its adds were all indeterminate and a read contained it (fine);
 * - never-read: attempted (not failed), never contained in a read, and not provably lost,
 *   e.g. an indeterminate add, or an acknowledged add with no read beginning after it.
 *
 * Valid iff nothing is lost, stale, unexpected or duplicated; unknown when there is no ok read
 * at all. Times compare strictly, so a read beginning exactly when an add completed counts as
 * concurrent with it.
 */
import type { History } from '../history-event.js';
import { countOutcomes, examplesMaxDefault, validityOf, type OperationFigures, type Validity } from '../check-result.js';
import { viewOf, type OperationView } from '../operation-view.js';
import { setOperations, type SetOperation } from './set-operations.js';

/** Options of checkSet. */
export interface SetCheckOptions {
  /** Elements listed per category in the evidence (the figures count them all). */
  readonly examplesMax?: number;
}

/** Figures of a set check. `violations` = lost + stale + unexpected + duplicated. */
export interface SetFigures extends OperationFigures {
  /** Ok reads. */
  readonly reads: number;
  /** Distinct elements with an add invocation. */
  readonly attempted: number;
  /** Distinct elements with an ok add. */
  readonly acknowledged: number;
  readonly lost: number;
  readonly stale: number;
  readonly unexpected: number;
  readonly duplicated: number;
  readonly recovered: number;
  readonly neverRead: number;
}

/** The evidence about one element. */
export interface SetElementEvidence {
  readonly element: number;
  /** Its add operations. */
  readonly adds: readonly OperationView[];
  /** A read that began after the element was known and did not contain it (lost, stale). */
  readonly absentIn: OperationView | null;
  /** A read that contained it: the last one (lost), one after the absent read (stale), the first (unexpected, recovered), one with it twice (duplicated). */
  readonly presentIn: OperationView | null;
}

/** The result of checkSet. */
export interface SetResult {
  readonly model: 'set';
  readonly valid: Validity;
  readonly figures: SetFigures;
  readonly evidence: {
    readonly lost: readonly SetElementEvidence[];
    readonly stale: readonly SetElementEvidence[];
    readonly unexpected: readonly SetElementEvidence[];
    readonly duplicated: readonly SetElementEvidence[];
    readonly recovered: readonly SetElementEvidence[];
    readonly neverRead: readonly SetElementEvidence[];
  };
}

interface Read {
  readonly op: SetOperation;
  readonly invokeNs: number;
  readonly completeNs: number;
  readonly contains: ReadonlySet<number>;
  readonly duplicates: ReadonlySet<number>;
}

type Category = keyof SetResult['evidence'];

/** Checks a set history. */
export function checkSet(history: History, options: SetCheckOptions = {}): SetResult {
  const examplesMax = options.examplesMax ?? examplesMaxDefault;
  const ops = setOperations(history);
  const addsOf = new Map<number, SetOperation[]>();
  const reads: Read[] = [];
  for (const op of ops) {
    const { call, operation } = op;
    if (call.f === 'add') {
      const adds = addsOf.get(call.element);
      if (adds === undefined) addsOf.set(call.element, [op]);
      else adds.push(op);
    } else if (call.elements !== null && operation.completeTimeNs !== null) {
      const contains = new Set<number>();
      const duplicates = new Set<number>();
      for (const element of call.elements) {
        if (contains.has(element)) duplicates.add(element);
        contains.add(element);
      }
      reads.push({ op, invokeNs: operation.invokeTimeNs, completeNs: operation.completeTimeNs, contains, duplicates });
    }
  }
  const presentIn = new Map<number, Read[]>();
  for (const read of reads) {
    for (const element of read.contains) {
      const list = presentIn.get(element);
      if (list === undefined) presentIn.set(element, [read]);
      else list.push(read);
    }
  }
  // Elements in the order a reader expects: attempted ones by first add, then the unexpected.
  const elements = [...addsOf.keys(), ...[...presentIn.keys()].filter((e) => !addsOf.has(e)).sort((a, b) => a - b)];
  const counts: Record<Category, number> = { lost: 0, stale: 0, unexpected: 0, duplicated: 0, recovered: 0, neverRead: 0 };
  const evidence: Record<Category, SetElementEvidence[]> = { lost: [], stale: [], unexpected: [], duplicated: [], recovered: [], neverRead: [] };
  const note = (category: Category, element: number, absent: Read | null, present: Read | null): void => {
    counts[category]++;
    if (evidence[category].length >= examplesMax) return;
    evidence[category].push({
      element,
      adds: (addsOf.get(element) ?? []).map((op) => viewOf(op.operation)),
      absentIn: absent === null ? null : viewOf(absent.op.operation),
      presentIn: present === null ? null : viewOf(present.op.operation),
    });
  };
  let acknowledged = 0;
  for (const element of elements) {
    const adds = addsOf.get(element) ?? [];
    const present = presentIn.get(element) ?? [];
    const okAddNs = minimum(adds.filter((a) => a.operation.outcome === 'ok').map((a) => a.operation.completeTimeNs ?? Infinity));
    if (okAddNs !== null) acknowledged++;
    const firstSeen = present.reduce<Read | null>((best, r) => (best === null || r.completeNs < best.completeNs ? r : best), null);
    const duplicatedIn = present.find((r) => r.duplicates.has(element));
    if (duplicatedIn !== undefined) note('duplicated', element, null, duplicatedIn);
    if (present.length > 0 && !adds.some((a) => a.operation.outcome !== 'fail')) {
      note('unexpected', element, null, firstSeen);
      continue;
    }
    const knownNs = minimum([okAddNs ?? Infinity, firstSeen?.completeNs ?? Infinity]);
    if (knownNs === null) {
      // Only indeterminate (or failed) adds and never seen: nothing can be proven.
      if (adds.some((a) => a.operation.outcome !== 'fail')) note('neverRead', element, null, null);
      continue;
    }
    const lastPresent = present.reduce<Read | null>((best, r) => (best === null || r.completeNs > best.completeNs ? r : best), null);
    const settledNs = Math.max(knownNs, lastPresent?.completeNs ?? -Infinity);
    const absentAfter = (sinceNs: number): Read | null => {
      let latest: Read | null = null;
      for (const read of reads) {
        if (read.invokeNs > sinceNs && !read.contains.has(element) && (latest === null || read.invokeNs > latest.invokeNs)) latest = read;
      }
      return latest;
    };
    const lostProof = absentAfter(settledNs);
    if (lostProof !== null) {
      note('lost', element, lostProof, lastPresent);
      continue;
    }
    const staleProof = absentAfter(knownNs);
    if (staleProof !== null) {
      const later = present.find((r) => r.completeNs >= staleProof.invokeNs) ?? lastPresent;
      note('stale', element, staleProof, later);
    }
    if (okAddNs === null && present.length > 0) note('recovered', element, null, firstSeen);
    if (present.length === 0) note('neverRead', element, null, null);
  }
  const violations = counts.lost + counts.stale + counts.unexpected + counts.duplicated;
  return {
    model: 'set',
    valid: validityOf(violations, reads.length === 0 ? 1 : 0),
    figures: {
      ...countOutcomes(history.operations),
      violations,
      unknowns: reads.length === 0 ? 1 : 0,
      reads: reads.length,
      attempted: addsOf.size,
      acknowledged,
      ...counts,
    },
    evidence,
  };
}

function minimum(values: readonly number[]): number | null {
  let best = Infinity;
  for (const v of values) best = Math.min(best, v);
  return best === Infinity ? null : best;
}
