/**
 * One chaos scenario, end to end: start the cluster under test, run a workload that records
 * its history, run a nemesis on a schedule while it does, heal, let the cluster recover, take
 * final reads, check the history with the model's checker (@quire/history), and write the
 * report (verdict lines, history, nemesis log, timeline for a failure). Every scenario of the
 * suite is this function with different options.
 *
 * Besides a nemesis cycled on the tier's schedule, a scenario may run a script once alongside
 * the workload (membership changes and faults timed to a replica move's phase: the elasticity
 * scenarios); the workload then runs until the script is done, and at least the tier's time.
 * It may also run the set workload next to the register workload (its own clients and history,
 * judged by the set checker, so "acknowledged writes lost" is counted directly), and read every
 * register key once more at the end, so a write lost on a key the workload had retired still
 * shows up in the linearizability check.
 */
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyspaceSettings, QuireClient } from '@quire/client';
import { loadHashPartitioner, seededRng, type Rng } from '@quire/common';
import { checkRegister, checkSet, formatResult, parseHistory } from '@quire/history';
import { ChaosCluster, type ChaosClusterOptions } from '../harness/chaos-cluster.js';
import { cycle, NemesisLog, type FaultEvent, type Nemesis } from '../nemesis/nemesis.js';
import { availabilityOf, formatAvailability, type AvailabilityFigures } from '../report/availability.js';
import { writeRunReport, type CheckOutcome, type RunReport } from '../report/report.js';
import { HistoryRecorder, RunClock, type RecordedEvent } from '../workloads/recorder.js';
import { monotonicWorkload } from '../workloads/monotonic.js';
import { readRegisters, registerWorkload } from '../workloads/register.js';
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

/**
 * What a scenario's script reports: figures for the verdict lines and report.json, and checks of
 * its own (e.g. that every move ended and the replicas are balanced). Filled in as the script
 * goes, so a script that fails halfway still reports what it measured.
 */
export interface ScriptReport {
  readonly figures: Record<string, number | string>;
  readonly checks: CheckOutcome[];
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
  /**
   * Runs once alongside the workload, started with it; the workload runs until it resolves
   * (and at least the tier's workload time). It records its faults in the context's log and its
   * figures and checks in the report it is given; if it throws, the run gets a failed check
   * named `script` with the error.
   */
  readonly script?: (context: NemesisContext, report: ScriptReport) => Promise<void>;
  /**
   * Clients of a set workload (unique adds, keys `<prefix>-set/…`) run next to the register
   * workload, recorded in their own history (history-set.jsonl) and judged by the set checker
   * after a final read: the run's count of acknowledged writes lost. Register workload only.
   */
  readonly setClients?: number;
  /** After the workload, read every key the register workload touched once more, into its history. */
  readonly finalReads?: boolean;
  /**
   * A keyspace created before the workload starts, which every client of the run (the workloads'
   * and the script's) then uses instead of `default` (a RANGE keyspace for the split scenarios).
   */
  readonly keyspace?: { readonly name: string; readonly settings: KeyspaceSettings };
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
  /** What the script reported (empty without one). */
  readonly script: ScriptReport;
  /** The set workload run next to the register workload (setClients), if any. */
  readonly setWorkload: RunFigures | undefined;
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

/** The outcome of the set checker as a report check, drawing the lost, stale and unexpected elements. */
function setCheck(result: ReturnType<typeof checkSet>): CheckOutcome {
  return {
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
  };
}

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
  /** Whether the report (with the logs when the run failed) was written; if not, the run directory is kept for its logs. */
  let reported = false;
  try {
    const allRouters = spec.clients === 'all-routers';
    const keyspace = spec.keyspace?.name;
    const clients = cluster.routerAddresses.map((_, i) => (allRouters ? cluster.clientOfAllRouters(5_000, keyspace) : cluster.client(i, 5_000, keyspace)));
    const clientFor = (process: number): QuireClient => clients[process % clients.length] ?? clients[0]!;
    const control = allRouters ? cluster.clientOfAllRouters(5_000, keyspace) : cluster.client(0, 5_000, keyspace);
    if (spec.keyspace !== undefined) {
      const map = await control.createKeyspace(spec.keyspace.name, spec.keyspace.settings);
      say(`${spec.name}: created keyspace ${spec.keyspace.name} (${map.partitions.length} partitions); every client uses it`);
    }
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

    if (spec.setClients !== undefined && spec.workload !== 'register') throw new Error(`${spec.name}: setClients goes with the register workload only`);
    const running = startWorkload(workload, recorder, spec.tier.concurrency);
    const setPrefix = `${prefix}-set`;
    const setRecorder = spec.setClients === undefined ? undefined : new HistoryRecorder(clock);
    const setRunning = setRecorder === undefined ? undefined : startWorkload(setWorkload({ prefix: setPrefix, clientFor }), setRecorder, spec.setClients ?? 0);
    const abort = new AbortController();
    const nemesis = spec.nemesis?.({ cluster, log, rng, client: control });
    const faults = nemesis === undefined ? Promise.resolve() : cycle(nemesis, { faultMs: spec.schedule?.faultMs ?? spec.tier.faultMs, quietMs: spec.schedule?.quietMs ?? spec.tier.quietMs, signal: abort.signal });
    const scriptReport: ScriptReport = { figures: {}, checks: [] };
    let scriptDone = spec.script === undefined;
    const script = (spec.script?.({ cluster, log, rng, client: control }, scriptReport) ?? Promise.resolve())
      .catch((err: unknown) => {
        say(`${spec.name}: script failed: ${String(err)}`);
        scriptReport.checks.push({ name: 'script', valid: false, figures: {}, text: err instanceof Error ? `${err.message}${err.stack === undefined ? '' : `\n${err.stack}`}` : String(err) });
      })
      .finally(() => (scriptDone = true));
    const t0 = Date.now();
    while (Date.now() - t0 < spec.tier.workloadMs || !scriptDone) {
      const left = spec.tier.workloadMs - (Date.now() - t0);
      await Promise.race([sleep(Math.min(5_000, left > 0 ? left : 5_000)), scriptDone ? new Promise(() => undefined) : script]);
      const setCounts = setRecorder === undefined ? '' : `; set ok ${setRecorder.counts.ok}, fail ${setRecorder.counts.fail}, info ${setRecorder.counts.info}`;
      say(`${spec.name}: ${((Date.now() - t0) / 1000).toFixed(0)} s, ok ${recorder.counts.ok}, fail ${recorder.counts.fail}, info ${recorder.counts.info}${setCounts}, faults ${log.injected().length}${scriptDone ? '' : ' (script running)'}`);
    }
    abort.abort();
    await faults;
    await script;
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
    const setFigures = await setRunning?.stop();
    // The final reads come long after a retired key's last operation: availability is measured on the workload's events only.
    const workloadEvents = recorder.events.slice();
    if (spec.finalReads === true && linearizable && recovered) {
      const read = await readRegisters(control, recorder, prefix);
      say(`${spec.name}: final reads of ${read.keys} keys: ${read.ok} ok, ${read.failed} failed`);
    }

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
      checks.push(setCheck(result));
    }
    if (setRecorder !== undefined) {
      if (recovered) {
        await readSet(control, setRecorder, setPrefix, 1_000_000);
        const result = checkSet(parseHistory(setRecorder.toJsonl()));
        lostAcknowledged = result.figures.lost;
        checks.push({ ...setCheck(result), history: 'set' });
      } else {
        checks.push({ name: 'set', valid: 'unknown', figures: {}, text: 'No final read of the set: the cluster did not recover', history: 'set' });
      }
    }
    checks.push(...scriptReport.checks);
    const recovery = await recoveryTimes(control, recorder, log, storeKeyOf);
    const availability = availabilityOf(linearizable ? workloadEvents : await keyedByPartition(control, workloadEvents, storeKeyOf));
    say(`${spec.name}: ${formatAvailability(availability)}`);
    const extra: Record<string, string | number> = { availability: formatAvailability(availability), ...scriptReport.figures };
    if (setFigures !== undefined) extra['set workload'] = `operations ${setFigures.operations} (ok ${setFigures.ok}, fail ${setFigures.fail}, info ${setFigures.info})`;
    if (cluster.fiuStartupRestarts.length > 0) {
      extra['start-ups restarted (libfiu deadlock, harness)'] = cluster.fiuStartupRestarts.map((r) => `${r.id} pid ${r.pid}`).join(', ');
    }
    if (recovery.length > 0) {
      extra['recovery p50/p99/max'] = `${(percentile(recovery, 0.5) / 1000).toFixed(2)}/${(percentile(recovery, 0.99) / 1000).toFixed(2)}/${(Math.max(...recovery) / 1000).toFixed(2)} s over ${recovery.length} faults`;
    }
    for (const c of clients) c.close();
    control.close();
    const report = writeRunReport({
      run: spec.name,
      recorder,
      nemesis: log,
      processes: cluster.records(),
      workload: figures,
      plannedFaults: spec.plannedFaults,
      checks,
      figures: extra,
      ...(setRecorder === undefined ? {} : { histories: { set: setRecorder } }),
    });
    passed = report.passed;
    if (!passed || spec.keepLogs === true) cpSync(join(cluster.dir, 'logs'), join(report.dir, 'logs'), { recursive: true });
    reported = true;
    return { report, checks, workload: figures, lostAcknowledged, faults: log.events, recoveryMs: recovery, availability, script: scriptReport, setWorkload: setFigures };
  } finally {
    await cluster.stop({ keepDir: !reported });
    say(`${spec.name}: cluster stopped${!reported ? `; the run stopped before its report: logs kept in ${join(cluster.dir, 'logs')}` : passed && spec.keepLogs !== true ? '' : '; process logs copied into the report directory'}`);
  }
}
