/**
 * M5, M6 and M14 of the test plan on the current (unreplicated) store: the set workload while
 * a data node is killed with SIGKILL and restarted, loses power (kill -9, then only what
 * reached its loop-mounted disk survives), gets EIO from fsync (libfiu), or runs out of disk.
 * Every acknowledged add must be in the final read: fsync precedes every acknowledgement, and
 * a node whose commit fails stops instead of serving unsynced state.
 */
import { describe, expect, it } from 'vitest';
import { DiskFullNemesis, FsyncErrorNemesis } from '../nemesis/disk-faults.js';
import { type Nemesis } from '../nemesis/nemesis.js';
import { KillNemesis, PowerLossNemesis } from '../nemesis/process-faults.js';
import { failedChecks, runScenario, type NemesisContext, type ScenarioResult, type ScenarioSpec } from './scenario.js';
import { chaosTier } from './tier.js';

const tier = chaosTier(process.env);
const cluster = { namespaces: true, nodes: 3, coordinators: 1, routers: 1, partitions: 8 } as const;

async function noAcknowledgedAddLost(name: string, seed: number, nemesis: (ctx: NemesisContext) => Nemesis, planned: string, extra: Partial<ScenarioSpec['cluster']> = {}): Promise<ScenarioResult> {
  const r = await runScenario({ name, tier, cluster: { ...cluster, ...extra }, workload: 'set', nemesis, plannedFaults: [planned], seed });
  expect(r.lostAcknowledged, failedChecks(r)).toBe(0);
  expect(r.report.passed, failedChecks(r)).toBe(true);
  return r;
}

/** The stop actions of the nemesis that record `field: true` (the fault had its effect). */
const stopsWith = (r: ScenarioResult, field: string): number => r.faults.filter((e) => e.action === 'stop' && (e.details[field] === true || (Array.isArray(e.details[field]) && (e.details[field] as unknown[]).length > 0))).length;

describe('set workload with crashes and disk faults', () => {
  it('loses no acknowledged add when a data node is killed and restarted', async () => {
    await noAcknowledgedAddLost('set-kill', 2, (ctx) => new KillNemesis(ctx, { kind: 'one', role: 'datanode' }), 'kill');
  });

  it('loses no acknowledged add when a data node loses power', async () => {
    await noAcknowledgedAddLost('set-power-loss', 3, (ctx) => new PowerLossNemesis(ctx, { kind: 'one', role: 'datanode' }), 'power-loss', { diskBytes: 256 * 1024 * 1024 });
  });

  it('loses no acknowledged add when a data node’s fsyncs fail with EIO', async () => {
    const r = await noAcknowledgedAddLost('set-fsync-error', 12, (ctx) => new FsyncErrorNemesis(ctx, { kind: 'one', role: 'datanode' }), 'fsync-error', { fiu: true });
    // The failed commit must stop the node (no retry, no serving unsynced state).
    expect(stopsWith(r, 'crashedOnFsyncError')).toBeGreaterThan(0);
  });

  it('loses no acknowledged add when a data node’s disk fills up', async () => {
    // 512 MiB: the WAL engine preallocates its current and next 64 MiB segments (as etcd does);
    // the filler takes whatever is free, so the size changes only how much the node can use first.
    const r = await noAcknowledgedAddLost('set-disk-full', 13, (ctx) => new DiskFullNemesis(ctx, { kind: 'one', role: 'datanode' }), 'disk-full', { diskBytes: 512 * 1024 * 1024 });
    // ENOSPC must have reached a commit, which stops the node.
    expect(stopsWith(r, 'restartedAfterCrash')).toBeGreaterThan(0);
  });
});
