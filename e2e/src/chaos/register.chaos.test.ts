/**
 * M1 of the test plan: the register workload with no faults, each process in its own network
 * namespace. The history must be linearizable per key, with nothing left undecided.
 */
import { describe, expect, it } from 'vitest';
import { failedChecks, runScenario } from './scenario.js';
import { chaosTier } from './tier.js';

const tier = chaosTier(process.env);

describe('register workload without faults', () => {
  it('is linearizable on every key', async () => {
    const r = await runScenario({
      name: 'register-baseline',
      tier,
      cluster: { namespaces: true, nodes: 3, coordinators: 1, routers: 2, partitions: 8 },
      workload: 'register',
      plannedFaults: [],
      seed: 1,
    });
    expect(r.checks.map((c) => [c.name, c.valid])).toEqual([['linearizable', true]]);
    expect(r.workload.ok).toBeGreaterThan(100);
    expect(r.report.passed, failedChecks(r)).toBe(true);
  });
});
