/**
 * Proof that the harness can fail: a data node build that acknowledges writes before they are
 * fsynced (the `datanode.storage.skipFsync` failpoint, armed only here) loses acknowledged adds
 * on power loss, and the set checker must report them. If this test passes with zero lost, the
 * suite could not have caught the bug it exists for.
 */
import { describe, expect, it } from 'vitest';
import { PowerLossNemesis } from '../nemesis/process-faults.js';
import { runScenario } from './scenario.js';
import { chaosTier } from './tier.js';

const tier = chaosTier(process.env);

describe('a build that acknowledges before fsync', () => {
  it('is caught by the set checker after a power loss', async () => {
    const r = await runScenario({
      name: 'broken-build-skip-fsync',
      tier,
      cluster: {
        namespaces: true,
        nodes: 3,
        coordinators: 1,
        routers: 1,
        partitions: 8,
        diskBytes: 256 * 1024 * 1024,
        env: { datanode: { QUIRE_FAILPOINTS: 'datanode.storage.skipFsync=true' } },
      },
      workload: 'set',
      nemesis: (ctx) => new PowerLossNemesis(ctx, { kind: 'one', role: 'datanode' }),
      plannedFaults: ['power-loss'],
      seed: 4,
    });
    const set = r.checks.find((c) => c.name === 'set');
    expect(set?.valid).toBe(false);
    expect(r.lostAcknowledged).toBeGreaterThan(0);
    expect(r.report.passed).toBe(false);
  });
});
