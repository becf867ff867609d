/**
 * Replica moves under load and faults (issue 16, RFC 0003 step 5). Every scenario runs the
 * register workload (reads, writes, compare-and-set; judged linearizable per key, with a final
 * read of every key it touched) and, next to it, the set workload (unique adds, final read: the
 * count of acknowledged writes lost, which must be 0), on a replication-3 `sync` cluster whose
 * coordinator plans moves by itself (--auto-rebalance, the default). A script changes the
 * membership or kills a process at a point of a move (move-scripts.ts), waits for the cluster
 * to settle — every partition with 3 replicas all in sync under a live leader, no move in
 * flight, replicas within one per node — and reports the times and the moves' outcomes:
 *  - scale out 3 -> 5 data nodes;
 *  - drain 5 -> 3 (DecommissionNode for the two nodes leading the most partitions, then stop
 *    them for good; the coordinator forgets them);
 *  - kill -9 of the learner's node while a move onto it is adding or catching up;
 *  - kill -9 of the source's node while it leads the partition it is moving away;
 *  - the coordinator leader crashing at each move failpoint (coordinator.move.afterAdd,
 *    beforeHandOver, afterRemove), with a standby taking over;
 *  - a data node killed and never restarted, the coordinator's --node-dead-after-ms at 5 s: its
 *    replicas re-created on the others (from kill to every partition 3 in sync);
 *  - splits of a RANGE keyspace holding the workloads' keys (RFC 0004): by hand, each followed at
 *    once by kill -9 of the split partition's leader, and by size as the workloads write.
 * The long tier runs 16 partitions with 20 MB written before the first change (moves copy it),
 * and repeats each kill scenario's fault in 4 rounds.
 */
import { describe, expect, it } from 'vitest';
import type { ChaosClusterOptions } from '../harness/chaos-cluster.js';
import { formatAvailability } from '../report/availability.js';
import { coordinatorCrashScript, deadNodeScript, drainScript, killLearnerScript, killSourceLeaderScript, scaleOutScript, splitKillScript, type MoveScript } from './move-scripts.js';
import { failedChecks, runScenario, type ScenarioResult, type ScenarioSpec } from './scenario.js';
import { chaosTier } from './tier.js';

const tier = chaosTier(process.env);
/** Replication 3, `sync`, the tier's partitions, two routers (clients spread over both). */
const base = { namespaces: true, coordinators: 1, routers: 2, partitions: tier.moves.partitions, replicationFactor: 3, ackPolicy: 'sync' } as const;
/** For the kill scenarios: 1 s node leases, so failover is quick. */
const fastLeases = { ...base, nodeLeaseTtlSeconds: 1 } as const;
/** Clients of the set workload run next to the register workload's. */
const setClients = 4;
/** The dead-node scenario's --node-dead-after-ms. */
const nodeDeadAfterMs = 5_000;

/** Runs a move scenario and asserts every check passed: linearizable, 0 acknowledged writes lost, the script's moves check, fault coverage. */
async function moveScenario(
  name: string,
  seed: number,
  cluster: Omit<ChaosClusterOptions, 'name' | 'onProgress'>,
  plannedFaults: readonly string[],
  script: (name: string) => MoveScript,
  keyspace?: ScenarioSpec['keyspace'],
): Promise<ScenarioResult> {
  // keepLogs: what the coordinator and the data nodes logged is how a slow or rolled-back move is explained.
  const r = await runScenario({ name, tier, cluster, workload: 'register', setClients, finalReads: true, plannedFaults, seed, script: script(name), keepLogs: true, ...(keyspace === undefined ? {} : { keyspace }) });
  const w = r.workload;
  const s = r.setWorkload;
  const faults = r.faults.filter((e) => e.action === 'start' && e.ok).map((e) => e.nemesis);
  const byNemesis = [...new Set(faults)].map((n) => `${n} ${faults.filter((f) => f === n).length}`).join(', ');
  console.log(
    `${name}: faults injected ${faults.length} (${byNemesis}); register operations ${w.operations} (ok ${w.ok}, fail ${w.fail}, info ${w.info}); ` +
      `set adds ${s?.operations ?? 0} (ok ${s?.ok ?? 0}, info ${s?.info ?? 0}); acknowledged writes lost ${r.lostAcknowledged ?? 'unknown'}; ` +
      `${Object.entries(r.script.figures).map(([k, v]) => `${k} ${v}`).join('; ')}; ${formatAvailability(r.availability)}`,
  );
  expect(r.checks.map((c) => [c.name, c.valid]), failedChecks(r)).toEqual([
    ['linearizable', true],
    ['set', true],
    ['moves', true],
  ]);
  expect(r.lostAcknowledged, failedChecks(r)).toBe(0);
  expect(r.report.passed, failedChecks(r)).toBe(true);
  return r;
}

describe('replica moves under load (RFC 0003): scale out, drain, kills in the middle of a move, a node lost for good', () => {
  it('scales out from 3 to 5 data nodes: replicas balanced within one per node, nothing acknowledged lost, linearizable', async () => {
    await moveScenario('elasticity-scale-out', 181, { ...base, nodes: 3 }, ['add-node'], (name) => scaleOutScript({ tier, name, add: 2 }));
  });

  it('drains 5 data nodes to 3 and stops the drained ones: balanced, forgotten, nothing acknowledged lost, linearizable', async () => {
    await moveScenario('elasticity-drain', 182, { ...base, nodes: 5 }, ['drain', 'remove-node'], (name) => drainScript({ tier, name, count: 2 }));
  });

  it('survives kill -9 of the learner’s node in the middle of a move: the move ends, the cluster settles balanced', async () => {
    await moveScenario('elasticity-kill-learner', 183, { ...fastLeases, nodes: 3 }, ['add-node', 'kill'], (name) => killLearnerScript({ tier, name }));
  });

  it('survives kill -9 of the source’s node while it leads the partition it moves away', async () => {
    await moveScenario('elasticity-kill-source-leader', 184, { ...fastLeases, nodes: 4 }, ['drain', 'kill'], (name) => killSourceLeaderScript({ tier, name }));
  });

  it('survives the coordinator leader crashing at each move failpoint: a standby resumes the moves', async () => {
    await moveScenario(
      'elasticity-coordinator-crash',
      185,
      { ...fastLeases, nodes: 4, coordinators: 2, extraArgs: { coordinator: ['--failpoints-admin'] } },
      ['drain', 'coordinator-crash'],
      (name) => coordinatorCrashScript({ tier, name }),
    );
  });

  it('re-creates the replicas of a data node killed for good once it is dead past --node-dead-after-ms', async () => {
    await moveScenario(
      'elasticity-dead-node',
      186,
      { ...fastLeases, nodes: 4, extraArgs: { coordinator: ['--node-dead-after-ms', String(nodeDeadAfterMs)] } },
      ['kill'],
      (name) => deadNodeScript({ tier, name, nodeDeadAfterMs }),
    );
  });

  it('splits a range keyspace under load, by hand with kill -9 of the parent’s leader right after each split and by size: nothing acknowledged lost, linearizable, the ranges cover every key once', async () => {
    await moveScenario(
      'elasticity-range-splits',
      187,
      // Splits by size as well, checked every 500 ms: at 64 KiB the short tier's writes split the
      // keyspace a few times more; the long tier's 20 MB preload at 1 MiB some twenty times.
      { ...fastLeases, nodes: 3, extraArgs: { datanode: ['--split-size-bytes', String(tier.name === 'long' ? 1024 * 1024 : 64 * 1024), '--split-check-interval-ms', '500', '--split-load-ops-per-second', '0'] } },
      ['kill', 'split'],
      (name) => splitKillScript({ tier, name, keyspace: 'ranged', rounds: tier.moves.rounds + 1 }),
      { name: 'ranged', settings: { scheme: 'range', replicationFactor: 3 } },
    );
  });
});
