/**
 * Proof that the harness can fail: a data node build that acknowledges writes before they are
 * fsynced (the `datanode.storage.skipFsync` failpoint, armed only here) loses acknowledged adds
 * on power loss, and the set checker must report them. If this test passes with zero lost, the
 * suite could not have caught the bug it exists for. Likewise a router that resends an ambiguous
 * write without its request id (the `router.resend.dropRequestId` failpoint) applies some writes
 * twice, and the linearizability checker must say so.
 */
import { describe, expect, it } from 'vitest';
import { PauseNemesis, PowerLossNemesis } from '../nemesis/process-faults.js';
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

describe('a build that resends a write without its request id', () => {
  it('is caught by the linearizability checker: a compare-and-set applied twice, or reported failed after it took effect', async () => {
    const r = await runScenario({
      name: 'broken-build-resend-without-id',
      tier,
      cluster: {
        namespaces: true,
        nodes: 3,
        coordinators: 1,
        routers: 1,
        partitions: 6,
        replicationFactor: 3,
        nodeLeaseTtlSeconds: 1,
        env: { router: { QUIRE_FAILPOINTS: 'router.resend.dropRequestId=true' } },
      },
      workload: 'monotonic',
      // A paused leader's writes in flight are abandoned as ambiguous and resent to the next leader.
      nemesis: (ctx) => new PauseNemesis(ctx, { kind: 'leader-of', keyspace: 'default', partition: 0 }),
      plannedFaults: ['pause'],
      seed: 156,
    });
    const linearizable = r.checks.find((c) => c.name === 'linearizable');
    console.log(`broken build resending without request ids: linearizable ${String(linearizable?.valid)}; ${linearizable?.text.split('\n')[0] ?? ''}`);
    expect(linearizable?.valid).toBe(false);
    expect(r.report.passed).toBe(false);
  });
});
