/**
 * What the replica-move scenarios (elasticity.chaos.test.ts) do to a running cluster and how
 * they watch it: membership changes (add, drain, undrain, remove a data node), kills timed to a
 * move's phase, coordinator failpoints, and waits on the cluster status — every partition with
 * its replication factor's replicas all in sync, no move in flight, replicas balanced — with
 * the time each took. Every change is recorded in the run's nemesis log (so fault coverage and
 * the timeline see it) and every move the coordinator ran is kept from ListMoves, polled in the
 * background (its history holds only the newest 100), for the figures: moves by reason and
 * outcome, durations, and the outcome of the moves a fault hit.
 *
 * A wait that runs out is an error naming what did not happen, the placement (counts, moves in
 * flight with their phases, under-replicated partitions) and the moves seen: a move that never
 * ends is a stuck move, which the scenario reports as a failed check.
 */
import type { ClusterStatusResponse, MoveInfo } from '@quire/proto';
import { MovePhase } from '@quire/proto';
import type { ChaosProcess } from '../harness/chaos-cluster.js';
import { describeMove, describePlacement, lostDrains, moveId, placementOf, unsettledBecause, type Placement, type SettledOptions } from '../harness/placement.js';
import { movePhaseName } from '@quire/common';
import { type FaultEvent } from '../nemesis/nemesis.js';
import type { NemesisContext, ScriptReport } from './scenario.js';

/** How often settle waits read the cluster status (each read asks every leader for its followers' lag). */
const statusPollMs = 250;
/** How often the background watch and phase waits read ListMoves (served from the coordinator's view: cheap). */
const movesPollMs = 25;
/** Status reads that fail in a row (no coordinator leader, a router restarting) before a wait gives up. */
const statusFailuresMax = 200;
/** How long an idempotent Admin call is tried again (a coordinator failover takes a few seconds). */
const adminRetryMs = 30_000;
/** Keys written at once by preload. */
const preloadInFlightMax = 16;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const say = (line: string): void => void process.stderr.write(`[chaos] ${line}\n`);

/** A move as the watch saw it: its latest record and the phases it was seen in, with when (ms since the script began). */
export interface WatchedMove {
  record: MoveInfo;
  readonly phases: { readonly phase: string; readonly atMs: number }[];
}

/** Drives and watches a cluster for a move scenario's script. */
export class MoveDriver {
  private readonly moves = new Map<string, WatchedMove>();
  private readonly startedMs = Date.now();
  private watching = true;
  private readonly watch: Promise<void>;

  constructor(
    private readonly ctx: NemesisContext,
    private readonly report: ScriptReport,
    private readonly name: string,
    /** Longest a settle wait may take (the tier's). */
    readonly settleTimeoutMs: number,
  ) {
    this.watch = this.watchMoves();
  }

  /** Stops the background watch (after one last read of ListMoves). */
  async close(): Promise<void> {
    this.watching = false;
    await this.watch;
    await this.readMoves();
  }

  /** Milliseconds since the script began. */
  elapsedMs(): number {
    return Date.now() - this.startedMs;
  }

  /** A progress line on stderr, like the scenario's. */
  say(line: string): void {
    say(`${this.name}: ${line}`);
  }

  /** Records a figure for the report. */
  figure(name: string, value: number | string): void {
    this.report.figures[name] = value;
  }

  /** Records a check of the script's own. */
  check(name: string, problems: readonly string[], figures: Readonly<Record<string, number | string>>, text: string): void {
    const valid = problems.length === 0;
    this.report.checks.push({ name, valid, figures, text: valid ? text : `${problems.join('\n')}\n${text}` });
  }

  /** Records a membership change or fault in the nemesis log. */
  record(nemesis: string, action: FaultEvent['action'], targets: readonly string[], details: Readonly<Record<string, unknown>> = {}, ok = true): void {
    this.ctx.log.record(nemesis, action, targets, ok, details);
  }

  private async watchMoves(): Promise<void> {
    while (this.watching) {
      await this.readMoves();
      await sleep(movesPollMs * 4);
    }
  }

  /** Reads ListMoves once and keeps every move in it; undefined when the call failed. */
  private async readMoves(): Promise<{ inFlight: MoveInfo[]; recent: MoveInfo[] } | undefined> {
    let answer: { inFlight: MoveInfo[]; recent: MoveInfo[] };
    try {
      answer = await this.ctx.client.listMoves();
    } catch {
      // No coordinator leader for a moment (a failover under test): the next read catches up.
      return undefined;
    }
    for (const m of [...answer.inFlight, ...answer.recent]) this.keep(m);
    return answer;
  }

  private keep(m: MoveInfo): void {
    const id = moveId(m);
    const phase = movePhaseName(m.phase);
    const known = this.moves.get(id);
    if (known === undefined) {
      this.moves.set(id, { record: m, phases: [{ phase, atMs: this.elapsedMs() }] });
      return;
    }
    // A finished record is final; an in-flight one read after it (an older answer) changes nothing.
    if (known.record.endedAtMs > 0 && m.endedAtMs === 0) return;
    known.record = m;
    if (known.phases.at(-1)?.phase !== phase) known.phases.push({ phase, atMs: this.elapsedMs() });
  }

  /** Every move seen whose start (coordinator wall clock) is at or after `sinceWallMs`. */
  movesSince(sinceWallMs: number): WatchedMove[] {
    return [...this.moves.values()].filter((m) => m.record.startedAtMs >= sinceWallMs).sort((a, b) => a.record.startedAtMs - b.record.startedAtMs);
  }

  /** The move with `m`'s identity as last seen (finished, if it ended). */
  latest(m: MoveInfo): WatchedMove | undefined {
    return this.moves.get(moveId(m));
  }

  /** The cluster status; retried while no coordinator answers (a failover), up to statusFailuresMax reads. */
  async status(): Promise<ClusterStatusResponse> {
    let lastError: unknown;
    for (let i = 0; i < statusFailuresMax; i++) {
      try {
        return await this.ctx.client.clusterStatus();
      } catch (err) {
        lastError = err;
        await sleep(statusPollMs);
      }
    }
    throw new Error(`${this.name}: no cluster status in ${statusFailuresMax} attempts: ${String(lastError)}`);
  }

  /** Placement as the cluster status shows it now. */
  async placement(): Promise<Placement> {
    return placementOf(await this.status());
  }

  /**
   * Waits until the cluster has settled as `options` says (every partition with R replicas, all
   * in sync, under a live leader; no move in flight; nothing on a down node; balanced when asked)
   * and resolves with the time it took from `fromMs` (Date.now() of the event it follows).
   */
  async waitSettled(what: string, options: SettledOptions, fromMs: number): Promise<{ ms: number; placement: Placement }> {
    const deadline = Date.now() + this.settleTimeoutMs;
    let last = '';
    for (;;) {
      const p = await this.placement();
      const why = unsettledBecause(p, options);
      if (why === '') {
        const ms = Date.now() - fromMs;
        // The moves' final records, for what the caller checks next (the watch reads them only every few polls).
        await this.waitFor('ListMoves', 30_000, statusPollMs, () => this.readMoves());
        this.say(`${what}: settled after ${(ms / 1000).toFixed(2)} s: ${describePlacement(p)}`);
        return { ms, placement: p };
      }
      const lost = lostDrains(p, options.drained ?? []);
      if (lost.length > 0) {
        // Waiting cannot drain them any more: fail now, with what the coordinator did.
        throw new Error(`${what}: ${lost.join(', ')} live again and no longer draining: the drain was lost before it was waited for.\nPlacement: ${describePlacement(p)}\nMoves seen: ${this.describeMoves(this.movesSince(0))}`);
      }
      if (why !== last) this.say(`${what}: waiting (${why})`);
      last = why;
      if (Date.now() > deadline) {
        throw new Error(`${what}: the cluster did not settle within ${this.settleTimeoutMs} ms (a stuck move?): ${why}.\nPlacement: ${describePlacement(p)}\nMoves seen: ${this.describeMoves(this.movesSince(0))}`);
      }
      await sleep(statusPollMs);
    }
  }

  /** Waits for an in-flight move `accept` takes (read from ListMoves every movesPollMs). */
  async waitForMove(what: string, timeoutMs: number, accept: (m: MoveInfo) => boolean | Promise<boolean>): Promise<MoveInfo> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const answer = await this.readMoves();
      for (const m of answer?.inFlight ?? []) if (await accept(m)) return m;
      if (Date.now() > deadline) throw new Error(`${what}: no such move within ${timeoutMs} ms; moves seen: ${this.describeMoves(this.movesSince(0))}`);
      await sleep(movesPollMs);
    }
  }

  /**
   * Runs an idempotent Admin call (DecommissionNode, CancelDecommission: a repeat answers as the
   * first did), again while it fails — a coordinator leader that crashes at a failpoint may take
   * the call with it (AMBIGUOUS_RESULT), and until a standby leads every call fails — up to
   * adminRetryMs.
   */
  async admin<T>(what: string, call: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + adminRetryMs;
    for (;;) {
      try {
        return await call();
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`${what}: still failing after ${adminRetryMs} ms: ${String(err)}`, { cause: err });
        this.say(`${what} failed (${String(err)}); again`);
        await sleep(statusPollMs);
      }
    }
  }

  /** Polls `probe` every `pollMs` until it returns a value; throws naming `what` after `timeoutMs`. */
  async waitFor<T>(what: string, timeoutMs: number, pollMs: number, probe: () => Promise<T | undefined>): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let value: T | undefined;
      try {
        value = await probe();
      } catch {
        value = undefined; // e.g. no coordinator for a moment; probe again
      }
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
      await sleep(pollMs);
    }
  }

  /** Writes `keys` keys of `valueBytes` bytes (`preload/<n>`), so moves copy real data. */
  async preload(keys: number, valueBytes: number): Promise<void> {
    if (keys === 0) return;
    const started = Date.now();
    const value = Buffer.alloc(valueBytes, 'x');
    let next = 0;
    const writer = async (): Promise<void> => {
      for (let i = next++; i < keys; i = next++) {
        for (let attempt = 0; ; attempt++) {
          try {
            await this.ctx.client.put(`preload/${String(i).padStart(8, '0')}`, value);
            break;
          } catch (err) {
            if (attempt >= 20) throw new Error(`Preloading key ${i}: ${String(err)}`, { cause: err });
            await sleep(100);
          }
        }
      }
    };
    await Promise.all(Array.from({ length: preloadInFlightMax }, () => writer()));
    const ms = Date.now() - started;
    this.figure('preloaded', `${keys} keys of ${valueBytes} bytes in ${(ms / 1000).toFixed(1)} s`);
    this.say(`preloaded ${keys} keys of ${valueBytes} bytes in ${ms} ms`);
  }

  /** Partitions each node leads now (from the partition map the routers serve). */
  async leadersNow(): Promise<Map<string, number[]>> {
    const map = await this.ctx.client.partitionMap();
    const out = new Map<string, number[]>();
    for (const p of map.partitions) out.set(p.leader, [...(out.get(p.leader) ?? []), p.partitionId]);
    return out;
  }

  /** The live, non-draining data node leading the most partitions (ties: the lowest id). */
  async nodeLeadingMost(exclude: readonly string[] = []): Promise<string> {
    const status = await this.status();
    const candidates = status.nodes.filter((n) => n.live && !n.draining && !exclude.includes(n.nodeId));
    candidates.sort((a, b) => b.leaderCount - a.leaderCount || a.nodeId.localeCompare(b.nodeId, 'en', { numeric: true }));
    const chosen = candidates[0];
    if (chosen === undefined) throw new Error(`No live, non-draining data node besides ${exclude.join(', ')}`);
    return chosen.nodeId;
  }

  /** Kills a data node with SIGKILL and records it (`kill`, with the partitions it led, for recovery times). */
  async kill(p: ChaosProcess, details: Readonly<Record<string, unknown>>): Promise<void> {
    let led: number[] | undefined;
    try {
      led = (await this.leadersNow()).get(p.id) ?? [];
    } catch {
      led = undefined; // the scenario falls back to the map at the start
    }
    const pid = p.managed.pid;
    if (pid === undefined) throw new Error(`${p.id} is not running; nothing to kill`);
    p.managed.kill('SIGKILL');
    await p.managed.exited;
    this.record('kill', 'start', [p.id], { signal: 'SIGKILL', pid, ...(led === undefined ? {} : { led }), ...details });
    this.say(`killed ${p.id} (pid ${pid}) with SIGKILL${led === undefined ? '' : `; it led partitions ${led.join(',') || 'none'}`}`);
  }

  /** Starts a killed process again with the same arguments and data, and records it. */
  restart(p: ChaosProcess): void {
    if (!p.managed.running) p.managed.start();
    this.record('kill', 'stop', [p.id], { pid: p.managed.pid });
    this.say(`restarted ${p.id} (pid ${p.managed.pid ?? '?'})`);
  }

  /** One line per move: partition, source -> target, reason, outcome, duration and the phases seen. */
  describeMoves(moves: readonly WatchedMove[]): string {
    if (moves.length === 0) return 'none';
    return moves
      .map((m) => {
        const r = m.record;
        const duration = r.endedAtMs > 0 ? ` in ${((r.endedAtMs - r.startedAtMs) / 1000).toFixed(2)} s` : ' (in flight)';
        return `\n  ${describeMove(r)}${duration}; phases seen ${m.phases.map((x) => `${x.phase}@${(x.atMs / 1000).toFixed(2)}s`).join(' ')}`;
      })
      .join('');
  }
}

/** Whether a move has ended (done or rolled back). */
export const moveEnded = (m: MoveInfo): boolean => m.phase === MovePhase.MOVE_PHASE_DONE || m.phase === MovePhase.MOVE_PHASE_ROLLED_BACK;

/** Figures of a list of moves: how many by reason and outcome, and their durations (p50/max). */
export function moveFigures(moves: readonly WatchedMove[]): { text: string; done: number; rolledBack: number; inFlight: number } {
  const byReason = new Map<string, number>();
  let done = 0;
  let rolledBack = 0;
  let inFlight = 0;
  const durations: number[] = [];
  for (const { record: r } of moves) {
    byReason.set(r.reason, (byReason.get(r.reason) ?? 0) + 1);
    if (r.phase === MovePhase.MOVE_PHASE_DONE) done++;
    else if (r.phase === MovePhase.MOVE_PHASE_ROLLED_BACK) rolledBack++;
    else inFlight++;
    if (r.endedAtMs > 0) durations.push(r.endedAtMs - r.startedAtMs);
  }
  durations.sort((a, b) => a - b);
  const p50 = durations[Math.max(0, Math.ceil(durations.length / 2) - 1)];
  const max = durations.at(-1);
  const reasons = [...byReason].map(([k, v]) => `${k} ${v}`).join(', ');
  const timing = p50 === undefined || max === undefined ? '' : `; duration p50 ${(p50 / 1000).toFixed(2)} s, max ${(max / 1000).toFixed(2)} s`;
  return { text: `${moves.length} (${reasons === '' ? 'none' : reasons}; done ${done}, rolled back ${rolledBack}, in flight ${inFlight}${timing})`, done, rolledBack, inFlight };
}
