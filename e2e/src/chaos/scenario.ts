/**
 * One chaos scenario, end to end: start the cluster under test, run a workload that records
 * its history, run a nemesis on a schedule while it does, heal, let the cluster recover, take
 * final reads, check the history with the model's checker (@quire/history), and write the
 * report (verdict lines, history, nemesis log, timeline for a failure). Every scenario of the
 * suite is this function with different options.
 */
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import type { QuireClient } from '@quire/client';
import { loadHashPartitioner, seededRng, type Rng } from '@quire/common';
import { checkRegister, checkSet, formatResult, parseHistory } from '@quire/history';
import { ChaosCluster, type ChaosClusterOptions } from '../harness/chaos-cluster.js';
import { cycle, NemesisLog, type FaultEvent, type Nemesis } from '../nemesis/nemesis.js';
import { availabilityOf, formatAvailability, type AvailabilityFigures } from '../report/availability.js';
import { writeRunReport, type CheckOutcome, type RunReport } from '../report/report.js';
import { HistoryRecorder, RunClock, type RecordedEvent } from '../workloads/recorder.js';
import { monotonicWorkload } from '../workloads/monotonic.js';
import { registerWorkload } from '../workloads/register.js';
import { startWorkload, type RunFigures, type Workload } from '../workloads/runner.js';
import { readSet, setWorkload, setElementKey } from '../workloads/set.js';
import { type ChaosTier } from './tier.js';

/** What a nemesis factory gets. */
export interface NemesisContext {
  readonly cluster: ChaosCluster;
  readonly log: NemesisLog;
  readonly rng: Rng;
  readonly client: QuireClient;
}

/** A scenario. */
export interface ScenarioSpec {
  readonly name: string;
  readonly tier: ChaosTier;
  readonly cluster: Omit<ChaosClusterOptions, 'name' | 'onProgress'>;
  /** register and monotonic are judged by linearizability per key, set by the set checker. */
  readonly workload: 'register' | 'monotonic' | 'set';
  /** Builds the nemesis; none for a baseline run. */
  readonly nemesis?: (context: NemesisContext) => Nemesis;
  /** Fault and quiet durations, when not the tier's (e.g. many short kills). */
  readonly schedule?: { readonly faultMs: number; readonly quietMs: number };
  /**
   * How the workload's clients reach the routers: one client per router (default; the
   * processes spread over them), or clients that are each given every router and move to
   * another when theirs dies.
   */
  readonly clients?: 'per-router' | 'all-routers';
  /** Nemesis names that must inject at least one fault, or the run fails. */
  readonly plannedFaults: readonly string[];
  readonly seed: number;
  /**
   * Routers (0-based indexes) whose clients only read (register workload): a router cut off
   * from etcd keeps sending them to the leader its stale map names, and nothing else of theirs
   * (a write held by that leader until the deadline) keeps them from it.
   */
  readonly readOnlyRouters?: readonly number[];
  /** Copy the process logs into the report directory even when the run passes (they always are when it fails). */
  readonly keepLogs?: boolean;
}

/** What a scenario measured and decided. */
export interface ScenarioResult {
  readonly report: RunReport;
  readonly checks: readonly CheckOutcome[];
  readonly workload: RunFigures;
  /** Acknowledged writes missing from the final read (set workload). */
  readonly lostAcknowledged: number | undefined;
  /** Every nemesis action, to check a fault had the effect it was meant to have. */
  readonly faults: readonly FaultEvent[];
  /** Recovery time of each kill or power loss of a data node, in ms (see recoveryTimes). */
  readonly recoveryMs: readonly number[];
  /** The longest no-success interval per key, and the indeterminate and failed operations (report/availability.ts). */
  readonly availability: AvailabilityFigures;
}

/**
 * The failed checks of a run, with their evidence, for an assertion's message: what CI prints
 * when a scenario fails says why (the cluster did not recover, which process was down, which
 * writes were lost), not just the figure that was missing.
 */
export function failedChecks(r: ScenarioResult): string {
  const failed = r.checks.filter((c) => c.valid !== true);
  if (failed.length === 0) return `every check passed (report in ${r.report.dir})`;
  return `report in ${r.report.dir}; ${failed.map((c) => `${c.name} check ${c.valid === false ? 'failed' : 'undecided'}: ${c.text.slice(0, 2_000)}`).join('\n')}`;
}

/** How long the cluster may take to serve every partition again after the heal. */
const recoveryWaitMs = 60_000;

/**
 * Search steps per key for the linearizability check (the checker's default is 10× less).
 * Indeterminate writes multiply the orders to try: a key of a replication-3 majorities-ring run
 * with 10 of them in 150 operations took 8.7 million steps (4 s) to prove linearizable, and was
 * "undecided" at the default.
 */
const registerSearchStepsMax = 10_000_000;

const say = (line: string): void => void process.stderr.write(`[chaos] ${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Recovery time of each kill or power loss of a data node: from the fault to the completion of
 * the first ok write, invoked after the fault, to a partition that node led (the definition in
 * the test plan). The partitions it led are those the nemesis read from the cluster status just
 * before the fault (`details.led`; leaders move with replication), else the map at the start.
 */
async function recoveryTimes(client: QuireClient, recorder: HistoryRecorder, log: NemesisLog, storeKeyOf: (f: string, key: string | number | null, value: unknown) => string | undefined): Promise<number[]> {
  const map = await client.partitionMap();
  const partitioner = await loadHashPartitioner();
  const ledBy = new Map<string, Set<number>>();
  for (const p of map.partitions) {
    const set = ledBy.get(p.leader) ?? new Set<number>();
    set.add(p.partitionId);
    ledBy.set(p.leader, set);
  }
  // Ok writes with their partition, in completion order.
  const writes: { partition: number; invokeNs: number; completeNs: number }[] = [];
  const open = new Map<number, { f: string; key: string | number | null; value: unknown; time: number }>();
  for (const e of recorder.events) {
    if (e.type === 'invoke') {
      open.set(e.process, { f: e.f, key: e.key, value: e.value, time: e.time });
      continue;
    }
    const inv = open.get(e.process);
    open.delete(e.process);
    if (inv === undefined || e.type !== 'ok' || inv.f === 'read') continue;
    const storeKey = storeKeyOf(inv.f, inv.key, inv.value);
    if (storeKey === undefined) continue;
    writes.push({ partition: partitioner.partitionOf(Buffer.from(storeKey), map.partitionCount), invokeNs: inv.time, completeNs: e.time });
  }
  const out: number[] = [];
  for (const fault of log.injected()) {
    if (fault.nemesis !== 'kill' && fault.nemesis !== 'power-loss') continue;
    const ledAtFault = fault.details.led;
    const partitions = new Set(Array.isArray(ledAtFault) ? (ledAtFault as number[]) : fault.targets.flatMap((t) => [...(ledBy.get(t) ?? [])]));
    if (partitions.size === 0) continue;
    const first = writes.filter((w) => w.invokeNs >= fault.time && partitions.has(w.partition)).reduce((m, w) => Math.min(m, w.completeNs), Infinity);
    if (Number.isFinite(first)) out.push((first - fault.time) / 1e6);
  }
  return out;
}

/**
 * The set workload's events keyed by partition instead of element (each element is added once,
 * so per element there is no interval to measure): the availability figures then give, per
 * partition, the longest interval without an acknowledged add. Events without a store key
 * (reads) are left out.
 */
async function keyedByPartition(client: QuireClient, events: readonly RecordedEvent[], storeKeyOf: (f: string, key: string | number | null, value: unknown) => string | undefined): Promise<RecordedEvent[]> {
  const map = await client.partitionMap();
  const partitioner = await loadHashPartitioner();
  const open = new Map<number, string | undefined>();
  const out: RecordedEvent[] = [];
  for (const e of events) {
    const storeKey = e.type === 'invoke' ? storeKeyOf(e.f, e.key, e.value) : open.get(e.process);
    if (e.type === 'invoke') open.set(e.process, storeKey);
    else open.delete(e.process);
    if (storeKey === undefined) continue;
    out.push({ ...e, key: `partition-${partitioner.partitionOf(Buffer.from(storeKey), map.partitionCount)}` });
  }
  return out;
}

/** Draws the adds of the given set elements and every read. */
const focusOnElements =
  (elements: ReadonlySet<number>) =>
  (e: RecordedEvent): boolean =>
    e.f === 'read' || (typeof e.value === 'number' && elements.has(e.value));

/** The q-quantile of `values` (nearest rank). */
export const percentile = (values: readonly number[], q: number): number => {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? Number.NaN;
};

/** Runs a scenario and returns its report; the cluster is always stopped. */
export async function runScenario(spec: ScenarioSpec): Promise<ScenarioResult> {
  const rng = seededRng(spec.seed);
  say(`${spec.name}: seed ${spec.seed}, tier ${spec.tier.name}, workload ${spec.workload} for ${spec.tier.workloadMs} ms`);
  const cluster = await ChaosCluster.start({ ...spec.cluster, name: spec.name, onProgress: (m) => say(`${spec.name}: ${m}`) });
  let passed = false;
  try {
    const allRouters = spec.clients === 'all-routers';
    const clients = cluster.routerAddresses.map((_, i) => (allRouters ? cluster.clientOfAllRouters(5_000) : cluster.client(i, 5_000)));
    const clientFor = (process: number): QuireClient => clients[process % clients.length] ?? clients[0]!;
    const control = allRouters ? cluster.clientOfAllRouters(5_000) : cluster.client(0, 5_000);
    const clock = new RunClock();
    const recorder = new HistoryRecorder(clock);
    const log = new NemesisLog(clock);
    const prefix = `${spec.name}-${spec.seed}`;
    const workloads: Record<ScenarioSpec['workload'], () => Workload> = {
      register: () => registerWorkload({ prefix, activeKeys: 4, opsPerKeyMax: 150, valuesMax: 5, rng, clientFor, readOnly: (process) => spec.readOnlyRouters?.includes(process % clients.length) ?? false }),
      monotonic: () => monotonicWorkload({ prefix, counters: 4, opsPerKeyMax: 150, rng, clientFor }),
      set: () => setWorkload({ prefix, clientFor }),
    };
    const workload = workloads[spec.workload]();
    const linearizable = spec.workload !== 'set';
    const storeKeyOf = (f: string, key: string | number | null, value: unknown): string | undefined =>
      linearizable ? (key === null ? undefined : `${prefix}/${key}`) : f === 'add' && typeof value === 'number' ? setElementKey(prefix, value) : undefined;

    const running = startWorkload(workload, recorder, spec.tier.concurrency);
    const abort = new AbortController();
    const nemesis = spec.nemesis?.({ cluster, log, rng, client: control });
    const faults = nemesis === undefined ? Promise.resolve() : cycle(nemesis, { faultMs: spec.schedule?.faultMs ?? spec.tier.faultMs, quietMs: spec.schedule?.quietMs ?? spec.tier.quietMs, signal: abort.signal });
    const t0 = Date.now();
    while (Date.now() - t0 < spec.tier.workloadMs) {
      await sleep(Math.min(5_000, spec.tier.workloadMs - (Date.now() - t0)));
      say(`${spec.name}: ${((Date.now() - t0) / 1000).toFixed(0)} s, ok ${recorder.counts.ok}, fail ${recorder.counts.fail}, info ${recorder.counts.info}, faults ${log.injected().length}`);
    }
    abort.abort();
    await faults;
    say(`${spec.name}: healed; waiting for the cluster to serve every partition`);
    const checks: CheckOutcome[] = [];
    let recovered = true;
    try {
      await cluster.waitReady(recoveryWaitMs);
    } catch (err) {
      // A cluster that does not come back after the heal is a failed run with a report, not a
      // bare timeout: the history and the process logs are what explain it.
      recovered = false;
      // A data node's last log line says why it is not serving (e.g. it stopped on a failed commit and never exited).
      const processes = cluster.processes
        .map((p) => `${p.id} ${p.managed.running ? `running (pid ${p.managed.pid})` : 'not running'}${p.role === 'datanode' ? `, last log line: ${p.managed.logTail(1).slice(0, 400)}` : ''}`)
        .join('\n  ');
      checks.push({ name: 'recovery', valid: false, figures: {}, text: `The cluster did not serve every partition within ${recoveryWaitMs} ms of the heal: ${(err as Error).message}\nProcesses:\n  ${processes}` });
    }
    // Keep the workload going briefly after the heal, so recovery shows in the history.
    await sleep(2_000);
    const figures = await running.stop();

    let lostAcknowledged: number | undefined;
    if (linearizable) {
      const result = checkRegister(parseHistory(recorder.toJsonl()), { stepsMax: registerSearchStepsMax });
      const failing = result.evidence.violations[0]?.key ?? result.evidence.unknownKeys[0]?.key;
      checks.push({
        name: 'linearizable',
        valid: result.valid,
        figures: { keys: result.figures.keys, violations: result.figures.violations, unknowns: result.figures.unknowns },
        text: formatResult(result),
        ...(failing === undefined ? {} : { failingKey: failing }),
      });
    } else if (recovered) {
      await readSet(control, recorder, prefix, 1_000_000);
      const result = checkSet(parseHistory(recorder.toJsonl()));
      lostAcknowledged = result.figures.lost;
      checks.push({
        name: 'set',
        valid: result.valid,
        figures: {
          'acknowledged writes': result.figures.acknowledged,
          'acknowledged writes lost': result.figures.lost,
          stale: result.figures.stale,
          duplicated: result.figures.duplicated,
          unexpected: result.figures.unexpected,
          unknowns: result.figures.unknowns,
        },
        text: formatResult(result),
        failingKey: null,
        focus: focusOnElements(new Set([...result.evidence.lost, ...result.evidence.stale, ...result.evidence.unexpected].map((e) => e.element))),
      });
    }
    const recovery = await recoveryTimes(control, recorder, log, storeKeyOf);
    const availability = availabilityOf(linearizable ? recorder.events : await keyedByPartition(control, recorder.events, storeKeyOf));
    say(`${spec.name}: ${formatAvailability(availability)}`);
    const extra: Record<string, string> = { availability: formatAvailability(availability) };
    if (cluster.fiuStartupRestarts.length > 0) {
      extra['start-ups restarted (libfiu deadlock, harness)'] = cluster.fiuStartupRestarts.map((r) => `${r.id} pid ${r.pid}`).join(', ');
    }
    if (recovery.length > 0) {
      extra['recovery p50/p99/max'] = `${(percentile(recovery, 0.5) / 1000).toFixed(2)}/${(percentile(recovery, 0.99) / 1000).toFixed(2)}/${(Math.max(...recovery) / 1000).toFixed(2)} s over ${recovery.length} faults`;
    }
    for (const c of clients) c.close();
    control.close();
    const report = writeRunReport({ run: spec.name, recorder, nemesis: log, processes: cluster.records(), workload: figures, plannedFaults: spec.plannedFaults, checks, figures: extra });
    passed = report.passed;
    if (!passed || spec.keepLogs === true) cpSync(join(cluster.dir, 'logs'), join(report.dir, 'logs'), { recursive: true });
    return { report, checks, workload: figures, lostAcknowledged, faults: log.events, recoveryMs: recovery, availability };
  } finally {
    await cluster.stop();
    say(`${spec.name}: cluster stopped${passed && spec.keepLogs !== true ? '' : '; process logs copied into the report directory'}`);
  }
}
