/**
 * M2, M3 and M4 of the test plan on the current (unreplicated) store: the register workload
 * while the network is cut in halves, while a data node is paused with SIGSTOP, and while data
 * nodes' wall clocks jump. Operations on unreachable partitions fail or time out (recorded as
 * indeterminate); whatever completes must still be linearizable, with nothing undecided.
 */
import { describe, expect, it } from 'vitest';
import { ClockBumpNemesis } from '../nemesis/clock-faults.js';
import { PartitionNemesis } from '../nemesis/network-faults.js';
import { PauseNemesis } from '../nemesis/process-faults.js';
import { runScenario } from './scenario.js';
import { chaosTier } from './tier.js';

const tier = chaosTier(process.env);
const cluster = { namespaces: true, nodes: 3, coordinators: 1, routers: 2, partitions: 8 } as const;

describe('register workload with faults', () => {
  it('stays linearizable while the data nodes and coordinator are partitioned into halves', async () => {
    const r = await runScenario({
      name: 'register-partition-halves',
      tier,
      cluster,
      workload: 'register',
      nemesis: (ctx) => new PartitionNemesis(ctx, 'halves'),
      plannedFaults: ['partition-halves'],
      seed: 5,
    });
    expect(r.checks.map((c) => [c.name, c.valid])).toEqual([['linearizable', true]]);
    expect(r.report.passed).toBe(true);
  });

  it('stays linearizable while a data node is paused with SIGSTOP', async () => {
    const r = await runScenario({
      name: 'register-pause',
      tier,
      cluster,
      workload: 'register',
      nemesis: (ctx) => new PauseNemesis(ctx, { kind: 'one', role: 'datanode' }),
      plannedFaults: ['pause'],
      seed: 6,
    });
    expect(r.checks.map((c) => [c.name, c.valid])).toEqual([['linearizable', true]]);
    expect(r.report.passed).toBe(true);
  });

  it('stays linearizable while data nodes’ wall clocks jump by up to ±262 s', async () => {
    const r = await runScenario({
      name: 'register-clock-bump',
      tier,
      cluster: { ...cluster, clock: true },
      workload: 'register',
      nemesis: (ctx) => new ClockBumpNemesis(ctx, { kind: 'minority', role: 'datanode' }),
      plannedFaults: ['clock-bump'],
      seed: 7,
    });
    expect(r.checks.map((c) => [c.name, c.valid])).toEqual([['linearizable', true]]);
    expect(r.report.passed).toBe(true);
  });
});
