/**
 * Proof that the harness can fail: a data node build that acknowledges writes before they are
 * fsynced (the `datanode.storage.skipFsync` failpoint, armed only here) loses acknowledged adds
 * on power loss, and the set checker must report them. If this test passes with zero lost, the
 * suite could not have caught the bug it exists for. Likewise a router that resends an ambiguous
 * write without its request id (the `router.resend.dropRequestId` failpoint) applies some writes
 * twice, and the linearizability checker must say so.
 */
import { describe, expect, it } from 'vitest';
import { PowerLossNemesis } from '../nemesis/process-faults.js';
import { failedChecks, runScenario } from './scenario.js';
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

/**
 * Writes answered AMBIGUOUS_RESULT although their leader stored them (the
 * datanode.groupCommit.afterCommit failpoint on 5 % of write batches), under the monotonic
 * workload's compare-and-set increments: the router resends each with its request id and the
 * leader answers it from its dedup table, so the history stays linearizable; a router that
 * resends without the id (router.resend.dropRequestId) gets CONDITION_FAILED for an increment
 * that took effect, and the checker must see it.
 */
function ambiguousWrites(name: string, routerFailpoints: string | undefined): Parameters<typeof runScenario>[0] {
  return {
    name,
    tier,
    cluster: {
      namespaces: true,
      nodes: 3,
      coordinators: 1,
      routers: 1,
      partitions: 3,
      replicationFactor: 3,
      env: {
        datanode: { QUIRE_FAILPOINTS: 'datanode.groupCommit.afterCommit=5%error(AMBIGUOUS_RESULT)' },
        ...(routerFailpoints === undefined ? {} : { router: { QUIRE_FAILPOINTS: routerFailpoints } }),
      },
    },
    workload: 'monotonic',
    plannedFaults: [],
    seed: 156,
  };
}

describe('writes whose outcome was unknown to the router', () => {
  it('are resent with their request ids and applied once: the counters stay linearizable', async () => {
    const r = await runScenario(ambiguousWrites('ambiguous-writes-resent', undefined));
    const linearizable = r.checks.find((c) => c.name === 'linearizable');
    console.log(`writes answered AMBIGUOUS_RESULT after they were stored, resent with their ids: ${linearizable?.text.split('\n')[0] ?? ''}`);
    expect(linearizable?.valid, failedChecks(r)).toBe(true);
    expect(r.report.passed, failedChecks(r)).toBe(true);
  });
});

describe('a build that resends a write without its request id', () => {
  it('is caught by the linearizability checker: an increment reported failed after it took effect', async () => {
    const r = await runScenario(ambiguousWrites('broken-build-resend-without-id', 'router.resend.dropRequestId=true'));
    const linearizable = r.checks.find((c) => c.name === 'linearizable');
    console.log(`broken build resending without request ids: linearizable ${String(linearizable?.valid)}; ${linearizable?.text.split('\n')[0] ?? ''}`);
    expect(linearizable?.valid).toBe(false);
    expect(r.report.passed).toBe(false);
  });
});
