/**
 * The scripts of the replica-move scenarios (RFC 0003; elasticity.chaos.test.ts): each runs once
 * alongside the register and set workloads, changes the cluster's membership or kills a process
 * at a chosen point of a move, waits for the cluster to settle — every partition with its
 * replicas all in sync under a live leader, no move in flight, replicas within one per node —
 * and records what it measured (how long each step took, the moves by reason and outcome, the
 * outcome of each move a fault hit) and a check of its own named `moves`, which fails when a wait
 * runs out (a stuck move), a move that should not roll back did, a move a fault hit never
 * ended, or the replicas are not balanced.
 */
import { MovePhase, type MoveInfo, type PartitionMap } from '@quire/proto';
import { armFailpoints } from '../harness/failpoints.js';
import { describeMove, formatCounts, moveName, placementOf, type Placement } from '../harness/placement.js';
import { movePhaseName } from '@quire/common';
import { pick } from '../nemesis/targets.js';
import { moveEnded, moveFigures, MoveDriver, type WatchedMove } from './move-driver.js';
import type { NemesisContext, ScriptReport } from './scenario.js';
import type { ChaosTier } from './tier.js';

/**
 * Whether the drain scenario also checks that a drained node deleted its replicas (RFC 0003
 * step 2, the data node's side, b627bd8): before the node is stopped, its metrics must show no
 * partition replica open (`quire_datanode_partitions` 0) and at least as many replicas deleted
 * (`quire_datanode_replicas_deleted`) as it held when the drain began. Off, the drain scenario
 * checks placement only (as before the data node deleted anything).
 */
export const checkDrainedNodesDeleteTheirReplicas = true;

/** How long a phase wait looks for a move to hit before the round fails (moves start within a reconcile of the change). */
const moveAppearsWithinMs = 60_000;
/** How long a coordinator leader armed with a crash failpoint may take to reach it. */
const failpointFiresWithinMs = 60_000;
/** How long a standby coordinator may take to lead after the leader crashed (its lease TTL and an election). */
const takeoverWithinMs = 30_000;
/** How long a drained node may take to delete its replicas after the map no longer lists it. */
const replicaDeletionWithinMs = 30_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

/** What every script gets: the tier (schedule and scale) and the scenario's name. */
export interface MoveScriptOptions {
  readonly tier: ChaosTier;
  readonly name: string;
}

/** A script as ScenarioSpec.script takes it. */
export type MoveScript = (context: NemesisContext, report: ScriptReport) => Promise<void>;

/**
 * Runs `body` with a driver, then records the moves' figures and the `moves` check from the
 * problems the body found; an error it throws (a wait that ran out: a stuck move, a lost drain)
 * ends it and is one of those problems.
 */
function moveScript(o: MoveScriptOptions, body: (d: MoveDriver, ctx: NemesisContext, problems: string[]) => Promise<void>): MoveScript {
  return async (ctx, report) => {
    const d = new MoveDriver(ctx, report, o.name, o.tier.moves.settleTimeoutMs);
    const problems: string[] = [];
    try {
      await d.preload(o.tier.moves.preloadKeys, o.tier.moves.preloadValueBytes);
      await d.waitSettled('before the first change', { balanced: true }, Date.now());
      await sleep(o.tier.quietMs);
      await body(d, ctx, problems);
    } catch (err) {
      problems.push(`The script stopped: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      // A process the script left down (it stopped between a kill or crash and the restart) is
      // started again, so the scenario's recovery wait is about the cluster, not the script.
      const down = ctx.cluster.processes.filter((p) => !p.managed.running);
      for (const p of down) p.managed.start();
      if (down.length > 0) d.record('script', 'heal', down.map((p) => p.id));
      await d.close();
      const moves = d.movesSince(0);
      const f = moveFigures(moves);
      d.figure('moves', f.text);
      d.check('moves', problems, { moves: moves.length, done: f.done, 'rolled back': f.rolledBack }, `Moves:${d.describeMoves(moves)}`);
    }
  };
}

/** The live, non-draining nodes' replica counts, and whether they are within one of each other. */
function balanceProblems(what: string, p: Placement): string[] {
  return p.spread > 1 ? [`${what}: replicas not balanced within one per node: ${formatCounts(p.counts)}`] : [];
}

/** Problems with moves that should all have gone through (no fault hit them), with one of `reasons`. */
function allDone(what: string, moves: readonly WatchedMove[], ...reasons: readonly string[]): string[] {
  const out: string[] = [];
  for (const { record: m } of moves) {
    if (m.phase !== MovePhase.MOVE_PHASE_DONE) out.push(`${what}: move ${describeMove(m)} did not end done`);
    if (!reasons.includes(m.reason)) out.push(`${what}: move ${describeMove(m)} has reason ${m.reason}, expected ${reasons.join(' or ')}`);
  }
  if (moves.length === 0) out.push(`${what}: no move was seen`);
  return out;
}

/** The outcome of a move a fault hit: its last record, which must have ended (done or rolled back). */
function outcomeOf(d: MoveDriver, hit: MoveInfo, problems: string[], what: string): string {
  const seen = d.latest(hit);
  const r = seen?.record ?? hit;
  if (!moveEnded(r)) {
    problems.push(`${what}: the move the fault hit, ${describeMove(r)}, never ended`);
    return `${describeMove(r)} never ended`;
  }
  const phases = seen?.phases.map((x) => x.phase).join(' -> ') ?? '';
  return `${movePhaseName(r.phase)}${r.outcome === '' ? '' : ` (${r.outcome})`} after ${seconds(r.endedAtMs - r.startedAtMs)}; phases seen ${phases}`;
}

/**
 * (a) Scale out: `add` data nodes join at once under load; the coordinator (auto-rebalance)
 * moves replicas onto them until every node holds within one of the others.
 */
export function scaleOutScript(o: MoveScriptOptions & { readonly add: number }): MoveScript {
  return moveScript(o, async (d, ctx, problems) => {
    const before = await d.placement();
    const t0 = Date.now();
    const added: string[] = [];
    for (let i = 0; i < o.add; i++) added.push((await ctx.cluster.addDataNode()).id);
    d.record('add-node', 'start', added);
    const nodes = [...before.counts.keys(), ...added];
    const { ms, placement } = await d.waitSettled(`scale ${before.counts.size} -> ${nodes.length}`, { balanced: true, nodes }, t0);
    d.record('add-node', 'stop', added, { settledMs: ms });
    const moves = d.movesSince(t0);
    problems.push(...balanceProblems('after the scale-out', placement), ...allDone('scale-out', moves, 'balance'));
    // Every replica on a new node took one move from an old node; any other move (between old
    // nodes, or from a new node) is the planner evening out counts its first moves had not
    // reached yet: reported, not a failure.
    const needed = added.reduce((sum, id) => sum + (placement.counts.get(id) ?? 0), 0);
    const others = moves.filter((m) => added.includes(m.record.source) || !added.includes(m.record.target)).map((m) => describeMove(m.record));
    d.figure('moves for the replicas the new nodes hold', `${moves.length} for ${needed}; not from an old node to a new one: ${others.length === 0 ? 'none' : others.join(', ')}`);
    d.figure(`scale ${before.counts.size} -> ${nodes.length} settled in`, seconds(ms));
    d.figure('replicas after', formatCounts(placement.counts));
  });
}

/**
 * (b) Drain: `count` data nodes (those leading the most partitions, so drains hand leaderships
 * over) are decommissioned at once under load; once they hold nothing they are stopped for good
 * and the coordinator forgets them.
 */
export function drainScript(o: MoveScriptOptions & { readonly count: number }): MoveScript {
  return moveScript(o, async (d, ctx, problems) => {
    const drained: string[] = [];
    for (let i = 0; i < o.count; i++) drained.push(await d.nodeLeadingMost(drained));
    const before = await d.placement();
    const held = new Map(drained.map((id) => [id, before.counts.get(id) ?? 0]));
    const others = [...before.counts.keys()].filter((id) => !drained.includes(id));
    const t0 = Date.now();
    /** When each DecommissionNode was answered: from then on no move may go to that node. */
    const drainingSinceMs = new Map<string, number>();
    for (const id of drained) {
      const answer = await d.admin(`drain ${id}`, () => ctx.client.decommissionNode(id));
      drainingSinceMs.set(id, Date.now());
      d.record('drain', 'start', [id], { replicaCount: answer.replicaCount });
    }
    const { ms, placement } = await d.waitSettled(`drain ${drained.join(', ')}`, { balanced: true, drained, nodes: others }, t0);
    d.record('drain', 'stop', drained, { settledMs: ms });
    d.figure(`drain ${before.counts.size} -> ${others.length} settled in`, seconds(ms));
    d.figure('replicas after', formatCounts(placement.counts));
    const moves = d.movesSince(t0);
    // Drain moves leave the drained nodes; the planner may also even out the remaining nodes
    // while they fill up (balance moves among them: reported, not a failure). The nodes are
    // drained one call after the other, so a move onto the second may start before its drain.
    problems.push(...balanceProblems('after the drain', placement), ...allDone('drain', moves, 'drain', 'balance'));
    for (const { record: m } of moves) {
      if (m.reason === 'drain' && !drained.includes(m.source)) problems.push(`drain: move ${describeMove(m)} does not leave a drained node`);
      if (m.startedAtMs > (drainingSinceMs.get(m.target) ?? Infinity)) problems.push(`drain: move ${describeMove(m)} goes to a node already draining`);
    }
    const besides = moves.filter((m) => m.record.reason === 'balance' || drained.includes(m.record.target)).map((m) => describeMove(m.record));
    d.figure('moves other than from a drained node to a remaining one', besides.length === 0 ? 'none' : besides.join(', '));
    if (checkDrainedNodesDeleteTheirReplicas) {
      for (const id of drained) problems.push(...(await replicasDeleted(d, ctx, id, held.get(id) ?? 0)));
    }
    const t1 = Date.now();
    for (const id of drained) {
      await ctx.cluster.removeDataNode(id);
      d.record('remove-node', 'start', [id]);
    }
    // Stopped for good: ForgetNode (what `quire dev node remove` and an operator do) once each
    // node's registration is gone; until then a drained node stays listed and drained.
    const forgottenMs = await d.waitFor(`${drained.join(', ')} forgotten`, o.tier.moves.settleTimeoutMs, 250, async () => {
      for (const id of drained) {
        try {
          await ctx.client.forgetNode(id);
        } catch (err) {
          if ((err as { code?: string }).code !== 'NODE_NOT_FOUND') return undefined; // still registered (its lease is going)
        }
      }
      const status = await d.status();
      return status.nodes.some((n) => drained.includes(n.nodeId)) ? undefined : Date.now() - t1;
    });
    d.figure('drained nodes stopped and forgotten in', seconds(forgottenMs));
    const after = await d.waitSettled('after the drained nodes left', { balanced: true, nodes: others }, t1);
    problems.push(...balanceProblems('after the drained nodes left', after.placement));
  });
}

/**
 * Whether drained node `id` deleted its replicas (see checkDrainedNodesDeleteTheirReplicas):
 * its metrics show no replica open and at least `held` deleted.
 */
async function replicasDeleted(d: MoveDriver, ctx: NemesisContext, id: string, held: number): Promise<string[]> {
  const metricsAddress = ctx.cluster.process(id).managed.spec.metricsAddress;
  if (metricsAddress === undefined) return [`${id} has no metrics address`];
  let last = '';
  try {
    await d.waitFor(`${id} deletes the ${held} replicas it held`, replicaDeletionWithinMs, 500, async () => {
      const text = await (await fetch(`http://${metricsAddress}/metrics`)).text();
      const open = metricSum(text, 'quire_datanode_partitions');
      const deleted = metricSum(text, 'quire_datanode_replicas_deleted_total');
      last = `quire_datanode_partitions ${open}, quire_datanode_replicas_deleted_total ${deleted}`;
      return open === 0 && deleted >= held ? true : undefined;
    });
    d.say(`${id} deleted its replicas: ${last}`);
    return [];
  } catch (err) {
    return [`drained node ${id} did not delete the ${held} replicas it held: ${last} (${String(err)})`];
  }
}

/** The sum of a metric's samples in a Prometheus text exposition (0 when absent). */
function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest !== '' && rest[0] !== ' ' && rest[0] !== '{') continue;
    sum += Number(line.split(' ').at(-1));
  }
  return sum;
}

/**
 * (c) The learner's node killed in the middle of a move: a data node joins, and when a move onto
 * it is adding or catching up (its replica a learner, outside the ISR) it is killed with SIGKILL
 * and restarted after the tier's fault time. The move rolls back (the target went down while
 * catching up) or, if the learner had joined the ISR, goes on; either way the cluster must settle
 * balanced. Later rounds drain and undrain the node to get moves onto it again.
 */
export function killLearnerScript(o: MoveScriptOptions): MoveScript {
  return moveScript(o, async (d, ctx, problems) => {
    const before = await d.placement();
    const others = [...before.counts.keys()];
    const node = await ctx.cluster.addDataNode();
    d.record('add-node', 'start', [node.id]);
    const settled: number[] = [];
    for (let round = 1; round <= o.tier.moves.rounds; round++) {
      if (round > 1) {
        // A new set of moves onto the node: drain it, then take the drain back.
        const t = Date.now();
        await d.admin(`drain ${node.id}`, () => ctx.client.decommissionNode(node.id));
        d.record('drain', 'start', [node.id]);
        await d.waitSettled(`round ${round}: drain ${node.id}`, { balanced: true, drained: [node.id], nodes: others }, t);
        await d.admin(`undrain ${node.id}`, () => ctx.client.cancelDecommission(node.id));
        d.record('drain', 'stop', [node.id]);
      }
      const hit = await d.waitForMove(`round ${round}: a move onto ${node.id} adding or catching up`, moveAppearsWithinMs, (m) =>
        m.target === node.id && (m.phase === MovePhase.MOVE_PHASE_ADDING || m.phase === MovePhase.MOVE_PHASE_CATCHING_UP),
      );
      const killedMs = Date.now();
      await d.kill(node, { role: 'learner', move: describeMove(hit), phase: movePhaseName(hit.phase), round });
      await sleep(o.tier.faultMs);
      d.restart(node);
      const { ms, placement } = await d.waitSettled(`round ${round}: after the learner's kill`, { balanced: true, nodes: [...others, node.id] }, killedMs);
      settled.push(ms);
      problems.push(...balanceProblems(`round ${round}`, placement));
      d.figure(`round ${round}: learner killed in ${describeMove(hit)}; that move`, outcomeOf(d, hit, problems, `round ${round}`));
      d.figure(`round ${round}: kill to settled (every partition 3 in sync, no move in flight, balanced)`, seconds(ms));
    }
    d.record('add-node', 'stop', [node.id]);
    d.figure('kill to settled max', seconds(Math.max(...settled)));
  });
}

/**
 * (c) The source's node killed while it leads the partition it is moving away: the node leading
 * the most partitions is drained, and when one of its moves is under way on a partition it still
 * leads (adding, catching up or transferring) it is killed with SIGKILL and restarted after the
 * tier's fault time. Failover moves its leaderships; the move goes on (a dead source is removed
 * once the target is in sync) or rolls back; the drain must finish and, once the node is
 * undrained, the cluster settle balanced again.
 */
export function killSourceLeaderScript(o: MoveScriptOptions): MoveScript {
  return moveScript(o, async (d, ctx, problems) => {
    const settled: number[] = [];
    for (let round = 1; round <= o.tier.moves.rounds; round++) {
      const before = await d.placement();
      const sourceId = await d.nodeLeadingMost();
      const source = ctx.cluster.process(sourceId);
      const others = [...before.counts.keys()].filter((id) => id !== sourceId);
      await d.admin(`drain ${sourceId}`, () => ctx.client.decommissionNode(sourceId));
      d.record('drain', 'start', [sourceId], { round });
      const hit = await d.waitForMove(`round ${round}: a move off ${sourceId} on a partition it leads`, moveAppearsWithinMs, async (m) => {
        const inFlight = m.phase === MovePhase.MOVE_PHASE_ADDING || m.phase === MovePhase.MOVE_PHASE_CATCHING_UP || m.phase === MovePhase.MOVE_PHASE_TRANSFERRING;
        if (m.source !== sourceId || !inFlight) return false;
        return (await d.leadersNow()).get(sourceId)?.includes(m.partitionId) ?? false;
      });
      const killedMs = Date.now();
      await d.kill(source, { role: 'source leader', move: describeMove(hit), phase: movePhaseName(hit.phase), round });
      await sleep(o.tier.faultMs);
      d.restart(source);
      const full = await d.waitSettled(`round ${round}: every partition in sync after the source leader's kill`, { balanced: false }, killedMs);
      d.figure(`round ${round}: kill to every partition 3 in sync with no move in flight`, seconds(full.ms));
      const { ms, placement } = await d.waitSettled(`round ${round}: ${sourceId} drained after its kill`, { balanced: true, drained: [sourceId], nodes: others }, killedMs);
      settled.push(ms);
      problems.push(...balanceProblems(`round ${round}`, placement));
      d.figure(`round ${round}: source leader ${sourceId} killed in ${describeMove(hit)}; that move`, outcomeOf(d, hit, problems, `round ${round}`));
      d.figure(`round ${round}: kill to drained and settled`, seconds(ms));
      const t = Date.now();
      await d.admin(`undrain ${sourceId}`, () => ctx.client.cancelDecommission(sourceId));
      d.record('drain', 'stop', [sourceId], { round });
      const back = await d.waitSettled(`round ${round}: undrain ${sourceId}`, { balanced: true, nodes: [...others, sourceId] }, t);
      problems.push(...balanceProblems(`round ${round}, undrained`, back.placement));
    }
    d.figure('kill to settled max', seconds(Math.max(...settled)));
  });
}

/** The coordinator failpoints of a move, in the order a move reaches them. */
export const moveFailpoints = ['coordinator.move.afterAdd', 'coordinator.move.beforeHandOver', 'coordinator.move.afterRemove'] as const;

/**
 * (c) The coordinator leader crashing at each move failpoint (the cluster needs two or more
 * coordinators started with --failpoints-admin): the leader is armed with `<failpoint>=1*crash`
 * through the Debug service, then the node leading the most partitions is drained (its moves add,
 * hand leaderships over and remove, so each failpoint is reached). When the leader dies a standby
 * takes over and resumes the recorded moves; the crashed coordinator is started again after the
 * tier's fault time. Each move in flight at the crash must end (ListMoves' history gives its
 * outcome), the drain finish and, once undrained, the cluster settle balanced.
 */
export function coordinatorCrashScript(o: MoveScriptOptions): MoveScript {
  return moveScript(o, async (d, ctx, problems) => {
    const fired = new Map<string, number>();
    for (let round = 1; round <= o.tier.moves.rounds; round++) {
      for (const failpoint of moveFailpoints) {
        const what = `round ${round}, ${failpoint}`;
        const status = await d.status();
        const leaderId = status.coordinator?.coordinatorId ?? '';
        if (leaderId === '') throw new Error(`${what}: no coordinator leader in the cluster status`);
        const leader = ctx.cluster.process(leaderId);
        await armFailpoints(leader.address, `${failpoint}=1*crash`);
        const before = placementOf(status);
        const sourceId = await d.nodeLeadingMost();
        const others = [...before.counts.keys()].filter((id) => id !== sourceId);
        // When the leader dies (it may die before DecommissionNode answers: the drain's first move can reach the failpoint first).
        const crash = leader.managed.exited.then(() => Date.now());
        const t0 = Date.now();
        await d.admin(`drain ${sourceId}`, () => ctx.client.decommissionNode(sourceId));
        d.record('drain', 'start', [sourceId], { round, failpoint });
        const crashedAtMs = await Promise.race([crash, sleep(failpointFiresWithinMs).then(() => undefined)]);
        if (crashedAtMs === undefined) {
          problems.push(`${what}: the leader ${leaderId} never reached the failpoint within ${failpointFiresWithinMs} ms`);
          await armFailpoints(leader.address, `${failpoint}=off`);
          d.record('coordinator-crash', 'start', [leaderId], { failpoint, round }, false);
        } else {
          const crashedMs = crashedAtMs;
          d.record('coordinator-crash', 'start', [leaderId], { failpoint, round, afterMs: crashedMs - t0 });
          d.say(`${what}: ${leaderId} crashed at the failpoint ${seconds(crashedMs - t0)} after the drain of ${sourceId} began`);
          fired.set(failpoint, (fired.get(failpoint) ?? 0) + 1);
          const newLeader = await d.waitFor(`${what}: a standby leads`, takeoverWithinMs, 100, async () => {
            const id = (await ctx.client.clusterStatus()).coordinator?.coordinatorId ?? '';
            return id !== '' && id !== leaderId ? id : undefined;
          });
          const takeoverMs = Date.now() - crashedMs;
          // What the crash interrupted: the moves begun before it and not ended by then (no
          // coordinator led between the crash and the takeover, so the new leader ended any that
          // have ended since, maybe at once, as for a crash after a move's last write).
          const interrupted = await d.waitFor(`${what}: ListMoves from ${newLeader}`, takeoverWithinMs, 100, async () => {
            const moves = await ctx.client.listMoves();
            return [...moves.inFlight, ...moves.recent].filter((m) => m.startedAtMs <= crashedMs && (m.endedAtMs === 0 || m.endedAtMs >= crashedMs));
          });
          d.say(`${what}: ${newLeader} leads after ${seconds(takeoverMs)}; moves in flight at the crash: ${interrupted.map(describeMove).join(', ') || 'none'}`);
          await sleep(o.tier.faultMs);
          leader.managed.start();
          d.record('coordinator-crash', 'stop', [leaderId], { pid: leader.managed.pid });
          const { ms, placement } = await d.waitSettled(`${what}: after the crash`, { balanced: true, drained: [sourceId], nodes: others }, crashedMs);
          problems.push(...balanceProblems(what, placement));
          if (interrupted.length === 0) problems.push(`${what}: no move was in flight at the crash (the failpoint is inside a move)`);
          const outcomes = interrupted.map((m) => `${moveName(m)} -> ${outcomeOf(d, m, problems, what)}`);
          d.figure(`${what}: takeover by ${newLeader}`, seconds(takeoverMs));
          d.figure(`${what}: crash to drained and settled`, seconds(ms));
          d.figure(`${what}: moves in flight at the crash`, outcomes.join('; ') || 'none');
        }
        const t1 = Date.now();
        await d.waitSettled(`${what}: drain ${sourceId}`, { balanced: true, drained: [sourceId], nodes: others }, t0);
        await d.admin(`undrain ${sourceId}`, () => ctx.client.cancelDecommission(sourceId));
        d.record('drain', 'stop', [sourceId], { round, failpoint });
        const back = await d.waitSettled(`${what}: undrain ${sourceId}`, { balanced: true, nodes: [...others, sourceId] }, t1);
        problems.push(...balanceProblems(`${what}, undrained`, back.placement));
      }
    }
    d.figure('failpoints fired', moveFailpoints.map((f) => `${f} ${fired.get(f) ?? 0}`).join(', '));
    for (const f of moveFailpoints) if ((fired.get(f) ?? 0) === 0) problems.push(`${f} never crashed the leader`);
  });
}

/**
 * (d) A data node killed and never restarted, with the coordinator's --node-dead-after-ms short:
 * once the node has been gone that long its replicas are re-created on the others (repair moves
 * from each partition's leader), and every partition is back to 3 in-sync replicas. Measured from
 * the kill: when the node stops being live, when the first repair starts, and when every
 * partition has its 3 replicas in sync with no move in flight. Later rounds add a fresh node,
 * let it fill up, and kill another.
 */
export function deadNodeScript(o: MoveScriptOptions & { readonly nodeDeadAfterMs: number }): MoveScript {
  return moveScript(o, async (d, ctx, problems) => {
    const repaired: number[] = [];
    for (let round = 1; round <= o.tier.moves.rounds; round++) {
      if (round > 1) {
        const t = Date.now();
        const fresh = await ctx.cluster.addDataNode();
        d.record('add-node', 'start', [fresh.id]);
        const nodes = ctx.cluster.byRole('datanode').map((p) => p.id);
        const { ms } = await d.waitSettled(`round ${round}: ${fresh.id} joins`, { balanced: true, nodes }, t);
        d.record('add-node', 'stop', [fresh.id], { settledMs: ms });
      }
      const before = await d.placement();
      const [victim] = pick(ctx.cluster.byRole('datanode'), 1, ctx.rng);
      if (victim === undefined) throw new Error('No data node to kill');
      const held = before.counts.get(victim.id) ?? 0;
      const remaining = [...before.counts.keys()].filter((id) => id !== victim.id);
      const killedMs = Date.now();
      await d.kill(victim, { permanent: true, round, replicas: held });
      await ctx.cluster.removeDataNode(victim.id);
      const notLiveMs = await d.waitFor(`round ${round}: ${victim.id} not live`, 60_000, 100, async () => {
        const status = await ctx.client.clusterStatus();
        return status.nodes.some((n) => n.nodeId === victim.id && n.live) ? undefined : Date.now() - killedMs;
      });
      const firstRepair = await d.waitForMove(`round ${round}: the first repair of ${victim.id}'s replicas`, o.nodeDeadAfterMs + o.tier.moves.settleTimeoutMs, (m) => m.source === victim.id && m.reason === 'repair');
      const firstRepairMs = Date.now() - killedMs;
      const { ms, placement } = await d.waitSettled(`round ${round}: ${victim.id}'s replicas re-created`, { balanced: true, nodes: remaining }, killedMs);
      repaired.push(ms);
      const moves = d.movesSince(killedMs).filter((m) => m.record.source === victim.id);
      problems.push(...balanceProblems(`round ${round}`, placement), ...allDone(`round ${round}`, moves, 'repair'));
      if (moves.length !== held) problems.push(`round ${round}: ${moves.length} repair move(s) for the ${held} replicas ${victim.id} held`);
      d.figure(
        `round ${round}: ${victim.id} (${held} replicas) killed for good; not live after ${seconds(notLiveMs)}, first repair (${describeMove(firstRepair)}) after ${seconds(firstRepairMs)}, every partition 3 in sync after`,
        seconds(ms),
      );
    }
    d.figure('kill to full ISR everywhere max', seconds(Math.max(...repaired)));
  });
}


/** The [id, start, end] of a keyspace's partitions in key order (as strings, for the report). */
function rangesOf(map: PartitionMap): { id: number; start: Buffer; end: Buffer; leader: string }[] {
  return [...map.partitions]
    .map((p) => ({ id: p.partitionId, start: Buffer.from(p.startKey), end: Buffer.from(p.endKey), leader: p.leader }))
    .sort((a, b) => Buffer.compare(a.start, b.start));
}

/** Why a RANGE keyspace's ranges do not cover every key exactly once, or '' when they do. */
function coverageProblem(map: PartitionMap): string {
  const r = rangesOf(map);
  if (r.length === 0) return 'no partitions';
  if (r[0]?.start.length !== 0) return `the first range starts at ${JSON.stringify(r[0]?.start.toString())}, not at the keyspace's start`;
  if (r.at(-1)?.end.length !== 0) return `the last range ends at ${JSON.stringify(r.at(-1)?.end.toString())}, not at the keyspace's end`;
  for (let i = 1; i < r.length; i++) {
    if (!r[i]?.start.equals(r[i - 1]?.end ?? Buffer.alloc(0))) return `partition ${r[i]?.id} starts at ${JSON.stringify(r[i]?.start.toString())} but the one before ends at ${JSON.stringify(r[i - 1]?.end.toString())}`;
  }
  return '';
}

/**
 * (g) Splits of a RANGE keyspace under load, with the parent's leader killed right after each
 * split (RFC 0004; the workloads' keys live in the keyspace, and the data nodes also split by
 * size as the workloads write). Each round splits the partition holding the most of the keys
 * written so far at its middle key (`SplitPartition`), and at once `kill -9`s the node that led
 * it: the split marker may not be in the log yet, or not carved everywhere, and the new
 * partition's only ISR member may be the node killed. After the tier's fault time the node is
 * started again; the cluster must settle with every partition (the new ones too) fully in sync,
 * and the ranges must still cover every key exactly once.
 */
export function splitKillScript(o: MoveScriptOptions & { readonly keyspace: string; readonly rounds: number }): MoveScript {
  return moveScript(o, async (d, ctx, problems) => {
    const settled: number[] = [];
    for (let round = 1; round <= o.rounds; round++) {
      const map = await d.admin(`round ${round}: partition map`, () => ctx.client.partitionMap(o.keyspace));
      const ranges = rangesOf(map);
      // The keys written so far, by the partition that holds them now.
      const byPartition = new Map<number, Buffer[]>();
      for await (const e of ctx.client.scan({ keyspace: o.keyspace, keysOnly: true })) {
        const p = ranges.find((r) => Buffer.compare(e.key, r.start) >= 0 && (r.end.length === 0 || Buffer.compare(e.key, r.end) < 0));
        if (p !== undefined) byPartition.set(p.id, [...(byPartition.get(p.id) ?? []), e.key]);
      }
      const [parentId, keys] = [...byPartition.entries()].sort((a, b) => b[1].length - a[1].length)[0] ?? [undefined, []];
      const parent = ranges.find((r) => r.id === parentId);
      const at = keys[Math.floor(keys.length / 2)];
      if (parent === undefined || at === undefined || keys.length < 2 || at.equals(parent.start)) {
        problems.push(`round ${round}: no partition with two keys to split (${keys.length} keys in the fullest)`);
        continue;
      }
      const victim = ctx.cluster.process(parent.leader);
      // A partition still being carved from an earlier split refuses (FAILED_PRECONDITION): admin retries.
      const res = await d.admin(`round ${round}: split ${o.keyspace}/${parent.id} at ${JSON.stringify(at.toString())}`, () => ctx.client.splitPartition({ keyspace: o.keyspace, at, partitionId: parent.id }));
      const killedMs = Date.now();
      await d.kill(victim, { role: 'split parent leader', round, partition: parent.id, newPartition: res.rightPartitionId, at: at.toString() });
      d.record('split', 'start', [parent.leader], { round, partition: parent.id, newPartition: res.rightPartitionId, at: at.toString(), epoch: res.epoch });
      await sleep(o.tier.faultMs);
      d.restart(victim);
      const { ms } = await d.waitSettled(`round ${round}: every partition in sync after the split of ${o.keyspace}/${parent.id} and the kill of ${parent.leader}`, { balanced: false }, killedMs);
      settled.push(ms);
      d.figure(`round ${round}: split ${o.keyspace}/${parent.id} at ${JSON.stringify(at.toString())} (new partition ${res.rightPartitionId}), kill -9 of its leader ${parent.leader}; kill to every partition 3 in sync`, seconds(ms));
    }
    const end = await d.admin('the final partition map', () => ctx.client.partitionMap(o.keyspace));
    const coverage = coverageProblem(end);
    if (coverage !== '') problems.push(`the ranges of ${o.keyspace} do not cover every key once: ${coverage}`);
    d.figure(`partitions of ${o.keyspace} at the end (1 at the start; ${o.rounds} split by hand, the rest by size)`, end.partitions.length);
    if (settled.length > 0) d.figure('kill to settled max', seconds(Math.max(...settled)));
  });
}
