/**
 * M2, M3, M4 and M16 of the test plan on the current (unreplicated) store: the register
 * workload under network partitions, process pauses, wall-clock jumps and strobes, packet
 * loss and link faults between routers and data nodes. Operations on unreachable partitions
 * fail or time out (recorded as indeterminate); whatever completes must still be
 * linearizable, with nothing left undecided.
 */
import { describe, expect, it } from 'vitest';
import { ClockBumpNemesis, ClockStrobeNemesis } from '../nemesis/clock-faults.js';
import { type Nemesis } from '../nemesis/nemesis.js';
import { PacketLossNemesis, PartitionNemesis } from '../nemesis/network-faults.js';
import { FreezeNemesis, PauseNemesis } from '../nemesis/process-faults.js';
import { ProxyNemesis } from '../nemesis/proxy-faults.js';
import { failedChecks, runScenario, type NemesisContext, type ScenarioSpec } from './scenario.js';
import { chaosTier } from './tier.js';

const tier = chaosTier(process.env);
const cluster = { namespaces: true, nodes: 3, coordinators: 1, routers: 2, partitions: 8 } as const;

async function linearizableUnder(name: string, seed: number, nemesis: (ctx: NemesisContext) => Nemesis, planned: string, extra: Partial<ScenarioSpec['cluster']> = {}): Promise<void> {
  const r = await runScenario({ name, tier, cluster: { ...cluster, ...extra }, workload: 'register', nemesis, plannedFaults: [planned], seed });
  expect(r.checks.map((c) => [c.name, c.valid])).toEqual([['linearizable', true]]);
  expect(r.report.passed, failedChecks(r)).toBe(true);
}

describe('register workload with faults', () => {
  it('stays linearizable while the cluster’s processes (data nodes, routers, coordinator, etcd) are partitioned into halves', async () => {
    await linearizableUnder('register-partition-halves', 5, (ctx) => new PartitionNemesis(ctx, 'halves'), 'partition-halves');
  });

  it('stays linearizable while a data node is paused with SIGSTOP', async () => {
    await linearizableUnder('register-pause', 6, (ctx) => new PauseNemesis(ctx, { kind: 'one', role: 'datanode' }), 'pause');
  });

  it('stays linearizable while a data node is frozen with the cgroup freezer', async () => {
    await linearizableUnder('register-freeze', 8, (ctx) => new FreezeNemesis(ctx, { kind: 'one', role: 'datanode' }), 'freeze');
  });

  it('stays linearizable while data nodes’ wall clocks jump by up to ±262 s', async () => {
    await linearizableUnder('register-clock-bump', 7, (ctx) => new ClockBumpNemesis(ctx, { kind: 'minority', role: 'datanode' }), 'clock-bump', { clock: true });
  });

  it('stays linearizable while a data node’s wall clock strobes back and forth by 2 s', async () => {
    await linearizableUnder('register-clock-strobe', 9, (ctx) => new ClockStrobeNemesis(ctx, { kind: 'one', role: 'datanode' }, { deltaMs: 2_000, periodMs: 50 }), 'clock-strobe', { clock: true });
  });

  it('stays linearizable while 20% of packets to a data node are dropped', async () => {
    await linearizableUnder('register-packet-loss', 10, (ctx) => new PacketLossNemesis(ctx, ['node-1'], 0.2), 'packet-loss');
  });

  it('stays linearizable while router–data node links are delayed, stalled and reset', async () => {
    await linearizableUnder(
      'register-link-faults',
      11,
      (ctx) => new ProxyNemesis(ctx, { kind: 'one', role: 'datanode' }, [{ kind: 'delay', meanMs: 100, jitterMs: 50 }, { kind: 'stall' }, { kind: 'reset' }]),
      'link-fault',
      { proxies: true, seed: 11 },
    );
  });
});
