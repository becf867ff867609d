/**
 * The monotonic workload (counters incremented by compare-and-set, read in between) while the
 * data node leading partition 0 is killed and restarted again and again: counters never go
 * back, no acknowledged increment is lost or applied twice — checked as linearizability per
 * counter — and the report gives the recovery time of the killed node's partitions.
 */
import { describe, expect, it } from 'vitest';
import { KillNemesis } from '../nemesis/process-faults.js';
import { failedChecks, runScenario } from './scenario.js';
import { chaosTier } from './tier.js';

const tier = chaosTier(process.env);

describe('monotonic workload with partition-leader kills', () => {
  it('keeps every counter linearizable when the leader of partition 0 is killed and restarted', async () => {
    const r = await runScenario({
      name: 'monotonic-leader-kill',
      tier,
      // No network faults here, so the processes share 127.0.0.1 (the harness's other mode).
      cluster: { namespaces: false, nodes: 3, coordinators: 1, routers: 1, partitions: 8 },
      workload: 'monotonic',
      nemesis: (ctx) => new KillNemesis(ctx, { kind: 'leader-of', keyspace: 'default', partition: 0 }),
      plannedFaults: ['kill'],
      seed: 14,
    });
    expect(r.checks.map((c) => [c.name, c.valid])).toEqual([['linearizable', true]]);
    expect(r.report.passed, failedChecks(r)).toBe(true);
  });
});
