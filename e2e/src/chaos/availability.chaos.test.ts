/**
 * Issue 15's availability checks at replication 3 (`sync`, min ISR 2): for each fault, the
 * longest interval with no successful operation on a key (report/availability.ts) is measured
 * from the register history and asserted against a bound, and the history must stay
 * linearizable. The bounds are several times the figures measured on the dev machine, so a
 * loaded CI machine does not flake, and below what the same scenario measured without the
 * mechanism it checks (docs/benchmarks.md, "Availability under faults"): a follower pause
 * without the silence rule stalled 1.97 s (the 2 s lag time), a leader pause without the
 * router's abandonment 3.02 s (the whole pause). What each fault exercises:
 *  - a follower (a node leading no partition: four nodes, three partitions) killed with kill -9: its leaders see the replication stream break and drop it
 *    from the ISR at once (RFC 0001 "Fast ISR shrink"), instead of waiting for its lease, which
 *    is 5 s here so that the old path could not pass the bound;
 *  - a follower paused with SIGSTOP for less than its 5 s lease: its leaders drop it after
 *    --follower-silence-ms without an answer;
 *  - a partition leader killed, or paused for longer than its 1 s lease: the coordinator
 *    promotes a follower once the lease is gone, and the router stops waiting for the old leader
 *    as soon as its map shows it replaced or without a lease, resending to the new one (RFC
 *    0001 "Bounded waits");
 *  - a router killed, with clients given both routers: each client moves its operations to the
 *    other router, resending writes with their request ids;
 *  - the coordinator killed: the data path does not need it.
 */
import { describe, expect, it } from 'vitest';
import { KillNemesis, PauseNemesis } from '../nemesis/process-faults.js';
import type { TargetSelector } from '../nemesis/targets.js';
import { formatAvailability } from '../report/availability.js';
import { failedChecks, runScenario, type ScenarioResult } from './scenario.js';
import { chaosTier } from './tier.js';

const tier = chaosTier(process.env);
const base = { namespaces: true, nodes: 3, coordinators: 1, routers: 1, partitions: 6, replicationFactor: 3 } as const;
const follower: TargetSelector = { kind: 'follower-only' };
/** Four nodes for three partitions: one node leads none, so killing it kills only a follower. */
const followerCluster = { ...base, nodes: 4, partitions: 3, nodeLeaseTtlSeconds: 5 } as const;
const leader: TargetSelector = { kind: 'leader-of', keyspace: 'default', partition: 0 };

/** Asserts the scenario injected its faults, stayed linearizable and met the availability bound. */
function expectAvailable(r: ScenarioResult, fault: string, boundMs: number): void {
  const injected = r.faults.filter((e) => e.action === 'start' && e.ok).length;
  console.log(`availability under ${fault}: ${injected} faults, ${r.workload.ok} ok operations; ${formatAvailability(r.availability)}`);
  expect(injected, failedChecks(r)).toBeGreaterThan(0);
  expect(r.checks.map((c) => [c.name, c.valid]), failedChecks(r)).toEqual([['linearizable', true]]);
  expect(r.report.passed, failedChecks(r)).toBe(true);
  expect(r.availability.maxMs, `${fault}: ${formatAvailability(r.availability)}; report in ${r.report.dir}`).toBeLessThan(boundMs);
}

describe('availability at replication 3: how long a key goes without a successful operation under each fault', () => {
  it('a follower killed with kill -9 stalls writes far less than its lease', async () => {
    const r = await runScenario({
      name: 'availability-follower-kill',
      tier,
      cluster: followerCluster,
      workload: 'register',
      nemesis: (ctx) => new KillNemesis(ctx, follower),
      plannedFaults: ['kill'],
      seed: 151,
    });
    expectAvailable(r, 'follower kill -9', 1_000);
  });

  it('a follower paused with SIGSTOP stalls writes far less than its lease', async () => {
    const r = await runScenario({
      name: 'availability-follower-pause',
      tier,
      cluster: followerCluster,
      workload: 'register',
      nemesis: (ctx) => new PauseNemesis(ctx, follower),
      plannedFaults: ['pause'],
      seed: 152,
    });
    expectAvailable(r, 'follower pause', 1_000);
  });

  it('a partition leader killed with kill -9 stalls its keys for about its lease', async () => {
    const r = await runScenario({
      name: 'availability-leader-kill',
      tier,
      cluster: { ...base, nodeLeaseTtlSeconds: 1 },
      workload: 'register',
      nemesis: (ctx) => new KillNemesis(ctx, leader),
      plannedFaults: ['kill'],
      seed: 153,
    });
    expectAvailable(r, 'leader kill -9', 3_000);
  });

  it('a partition leader paused past its lease holds no request after its replacement', async () => {
    const r = await runScenario({
      name: 'availability-leader-pause',
      tier,
      cluster: { ...base, nodeLeaseTtlSeconds: 1 },
      workload: 'register',
      nemesis: (ctx) => new PauseNemesis(ctx, leader),
      plannedFaults: ['pause'],
      seed: 154,
    });
    expectAvailable(r, 'leader pause', 2_500);
  });

  it('a router killed with kill -9 stalls clients that know two routers for well under a second', async () => {
    const r = await runScenario({
      name: 'availability-router-kill',
      tier,
      cluster: { ...base, routers: 2, nodeLeaseTtlSeconds: 1 },
      clients: 'all-routers',
      workload: 'register',
      nemesis: (ctx) => new KillNemesis(ctx, { kind: 'one', role: 'router' }),
      plannedFaults: ['kill'],
      seed: 157,
    });
    expectAvailable(r, 'router kill -9 (two routers)', 1_000);
  });

  it('the coordinator killed with kill -9 stalls nothing', async () => {
    const r = await runScenario({
      name: 'availability-coordinator-kill',
      tier,
      cluster: { ...base, nodeLeaseTtlSeconds: 1 },
      workload: 'register',
      nemesis: (ctx) => new KillNemesis(ctx, { kind: 'one', role: 'coordinator' }),
      plannedFaults: ['kill'],
      seed: 155,
    });
    expectAvailable(r, 'coordinator kill -9', 1_000);
  });
});
