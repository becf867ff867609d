/**
 * M5 and M6 of the test plan on the current (unreplicated) store: the set workload while a data
 * node is killed with SIGKILL and restarted, and while a data node loses power (kill -9, then
 * only what reached its loop-mounted disk survives). Every acknowledged add must be in the
 * final read: fsync precedes every acknowledgement.
 */
import { describe, expect, it } from 'vitest';
import { KillNemesis, PowerLossNemesis } from '../nemesis/process-faults.js';
import { runScenario } from './scenario.js';
import { chaosTier } from './tier.js';

const tier = chaosTier(process.env);

describe('set workload with crashes', () => {
  it('loses no acknowledged add when a data node is killed and restarted', async () => {
    const r = await runScenario({
      name: 'set-kill',
      tier,
      cluster: { namespaces: true, nodes: 3, coordinators: 1, routers: 1, partitions: 8 },
      workload: 'set',
      nemesis: (ctx) => new KillNemesis(ctx, { kind: 'one', role: 'datanode' }),
      plannedFaults: ['kill'],
      seed: 2,
    });
    expect(r.lostAcknowledged).toBe(0);
    expect(r.report.passed).toBe(true);
  });

  it('loses no acknowledged add when a data node loses power', async () => {
    const r = await runScenario({
      name: 'set-power-loss',
      tier,
      cluster: { namespaces: true, nodes: 3, coordinators: 1, routers: 1, partitions: 8, diskBytes: 256 * 1024 * 1024 },
      workload: 'set',
      nemesis: (ctx) => new PowerLossNemesis(ctx, { kind: 'one', role: 'datanode' }),
      plannedFaults: ['power-loss'],
      seed: 3,
    });
    expect(r.lostAcknowledged).toBe(0);
    expect(r.report.passed).toBe(true);
  });
});
