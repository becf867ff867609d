/**
 * Leadership transfer with replication factor 3 and `sync` (RFC 0001 "Leadership transfer"), on
 * real processes: three coordinators, three data nodes, a router, real etcd. Each test reports
 * what it measured and fails on any acknowledged write lost:
 *  - Admin.TransferLeader (the client library and `quire transfer-leader`) under a 32-writer
 *    load moves the leader to the target at epoch + 1; writes see a pause, not errors (the
 *    router retries the old leader's NOT_LEADER refusals);
 *  - SIGTERM of a data node under load: it hands every partition it leads over before it exits,
 *    writes to those partitions pause for well under a second, and once restarted it rejoins
 *    every ISR.
 */
import { readFileSync, statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QuireClient } from '@quire/client';
import { isQuireError, loadHashPartitioner, type HashPartitioner } from '@quire/common';
import type { PartitionInfo } from '@quire/proto';
import { runCli } from './harness/cli.js';
import { fullyInSync, partitionInfos } from './harness/partitions.js';
import { startTestCluster, eventually, type TestCluster } from './harness/test-cluster.js';
import { startUniqueWrites, verifyAcknowledged, type WriteLoadResult } from './workloads/unique-writes.js';

const partitions = 6;

/** Sums a counter over its label sets in a process's /metrics. */
async function counter(address: string | undefined, name: string): Promise<number> {
  const text = await (await fetch(`http://${address ?? ''}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${name}(?:_total)?(?:\\{[^}]*\\})? ([0-9.e+]+)$`).exec(line);
    if (m !== null) sum += Number(m[1]);
  }
  return sum;
}

/**
 * A sequential writer of fresh keys of one partition that records when each write was
 * acknowledged, and a reader beside it that keeps reading the newest acknowledged key: a read
 * that starts after a write's acknowledgement must see it (linearizability), across transfers too.
 */
interface PartitionProbe {
  /** Longest time between consecutive acknowledgements within [fromMs, toMs] (or up to now). */
  longestGapMs(fromMs: number, toMs?: number): number;
  stop(): Promise<{ acknowledged: number; failures: Map<string, number>; reads: number; staleReads: number; readFailures: Map<string, number> }>;
}

function startPartitionProbe(client: QuireClient, partitioner: HashPartitioner, partitionId: number, prefix: string): PartitionProbe {
  const ackedAtMs: number[] = [];
  const failures = new Map<string, number>();
  const readFailures = new Map<string, number>();
  let newest: { key: string; value: string } | undefined;
  let reads = 0;
  let staleReads = 0;
  let running = true;
  let i = 0;
  const nextKey = (): string => {
    for (;;) {
      const key = `${prefix}/${partitionId}/${i++}`;
      if (partitioner.partitionOf(Buffer.from(key), partitions) === partitionId) return key;
    }
  };
  const loop = (async () => {
    while (running) {
      const key = nextKey();
      const value = `probe-${i}`;
      try {
        await client.put(key, value);
        ackedAtMs.push(Date.now());
        newest = { key, value };
      } catch (err) {
        const code = isQuireError(err) ? err.code : 'UNTYPED';
        failures.set(code, (failures.get(code) ?? 0) + 1);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  })();
  const reader = (async () => {
    while (running) {
      const expected = newest;
      if (expected === undefined) {
        await new Promise((r) => setTimeout(r, 5));
        continue;
      }
      try {
        const got = await client.get(expected.key);
        reads++;
        if (!got.found || got.value.toString() !== expected.value) staleReads++;
      } catch (err) {
        const code = isQuireError(err) ? err.code : 'UNTYPED';
        readFailures.set(code, (readFailures.get(code) ?? 0) + 1);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  })();
  return {
    longestGapMs(fromMs, toMs = Date.now()) {
      const times = [fromMs, ...ackedAtMs.filter((at) => at > fromMs && at < toMs), toMs];
      let longest = 0;
      for (let k = 1; k < times.length; k++) longest = Math.max(longest, (times[k] as number) - (times[k - 1] as number));
      return longest;
    },
    async stop() {
      running = false;
      await Promise.all([loop, reader]);
      return { acknowledged: ackedAtMs.length, failures, reads, staleReads, readFailures };
    },
  };
}

function outcome(result: WriteLoadResult, lost: readonly string[]): string {
  return (
    `acknowledged ${result.acknowledged.size}, ambiguous ${result.ambiguous.size}, failed ${result.failed}, lost ${lost.length}; ` +
    `failure codes ${JSON.stringify(Object.fromEntries(result.failureCodes))}`
  );
}

describe('leadership transfer with replication factor 3 and sync', () => {
  let t: TestCluster;
  let partitioner: HashPartitioner;
  beforeAll(async () => {
    t = await startTestCluster('transfer', { replicationFactor: 3, partitions, coordinators: 3, nodeLeaseTtlSeconds: 1 });
    partitioner = await loadHashPartitioner();
    await eventually('every partition in sync', 30_000, () => fullyInSync(t, partitions));
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('TransferLeader under a 32-writer load moves the leader to the target at epoch + 1; no write fails and nothing acknowledged is lost', async () => {
    const routerMetrics = t.cluster.process('router-1').spec.metricsAddress;
    const load = startUniqueWrites(t.client, 'transfer', 32);
    await eventually('writes', 30_000, async () => load.acknowledgedCount() > 500);
    const before = await partitionInfos(t);
    const p = before[0] as PartitionInfo;
    const target = p.isr.find((n) => n !== p.leader) as string;
    const probe = startPartitionProbe(t.client, partitioner, p.partitionId, 'transfer-probe');
    await new Promise((r) => setTimeout(r, 300));
    const retriesBefore = await counter(routerMetrics, 'quire_router_stale_map_retries');

    const startedAt = Date.now();
    const moved = await t.client.transferLeader(p.partitionId, { to: target });
    const tookMs = Date.now() - startedAt;
    expect(moved).toEqual({ leader: target, epoch: p.epoch + 1 });
    const after = (await partitionInfos(t)).find((a) => a.partitionId === p.partitionId);
    expect(after).toMatchObject({ leader: target, epoch: p.epoch + 1, leaderLive: true });
    expect(after?.isr).toHaveLength(3);

    // The CLI without --to: the coordinator picks the ISR member leading the fewest partitions.
    const cliStartedAt = Date.now();
    const cli = await runCli(['transfer-leader', '--partition', String(p.partitionId), '--router', t.cluster.routerAddress]);
    const cliTookMs = Date.now() - cliStartedAt;
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    const printed = /^OK partition (\d+) led by (\S+) at epoch (\d+)\n$/.exec(cli.stdout);
    expect(printed?.[1]).toBe(String(p.partitionId));
    expect(printed?.[2]).not.toBe(target);
    expect(Number(printed?.[3])).toBe(p.epoch + 2);
    // Naming the current leader is no change.
    expect(await t.client.transferLeader(p.partitionId, { to: printed?.[2] as string })).toEqual({ leader: printed?.[2], epoch: p.epoch + 2 });

    await new Promise((r) => setTimeout(r, 1_000));
    const longestGapMs = probe.longestGapMs(startedAt - 100);
    const probed = await probe.stop();
    const retries = (await counter(routerMetrics, 'quire_router_stale_map_retries')) - retriesBefore;
    const result = await load.stop();
    const lost = await verifyAcknowledged(t.client, result);
    console.log(
      `transfer of partition ${p.partitionId} from ${p.leader} to ${target} under 32 writers: ${tookMs} ms (epoch ${p.epoch} -> ${moved.epoch}); ` +
        `then quire transfer-leader without --to: ${printed?.[2]} at epoch ${printed?.[3]} in ${cliTookMs} ms (CLI process included); ` +
        `longest gap between acknowledged writes to the partition ${longestGapMs} ms (probe: ${probed.acknowledged} acknowledged, failures ${JSON.stringify(Object.fromEntries(probed.failures))}; ` +
        `${probed.reads} reads of the newest acknowledged key, ${probed.staleReads} stale, failures ${JSON.stringify(Object.fromEntries(probed.readFailures))}); ` +
        `router retries after routing refusals ${retries}; ${outcome(result, lost)}`,
    );
    expect(lost).toEqual([]);
    expect(result.failed).toBe(0);
    expect(result.ambiguous.size).toBe(0);
    expect(probed.failures.size).toBe(0);
    expect(probed.staleReads).toBe(0);
    expect(probed.readFailures.size).toBe(0);
  });

  it('SIGTERM of a data node under load hands every partition it leads over before it exits; writes to them pause well under a second; it rejoins every ISR after a restart', async () => {
    await eventually('every partition in sync', 30_000, () => fullyInSync(t, partitions));
    const load = startUniqueWrites(t.client, 'sigterm', 32);
    await eventually('writes', 30_000, async () => load.acknowledgedCount() > 500);
    const before = await partitionInfos(t);
    const counts = new Map<string, number>();
    for (const p of before) counts.set(p.leader, (counts.get(p.leader) ?? 0) + 1);
    const victimId = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0] as string;
    const led = before.filter((p) => p.leader === victimId);
    expect(led.length).toBeGreaterThan(0);
    const probes = before.map((p) => ({ p, probe: startPartitionProbe(t.client, partitioner, p.partitionId, 'sigterm-probe') }));
    await new Promise((r) => setTimeout(r, 300));

    const victim = t.cluster.process(victimId);
    const logFrom = statSync(victim.spec.logPath).size;
    const stoppedAt = Date.now();
    const exit = await victim.stop(15_000);
    const exitedAt = Date.now();
    expect(exit).toEqual({ code: 0, signal: null });
    const lines = readFileSync(victim.spec.logPath, 'utf8')
      .slice(logFrom)
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg: string; handedOver?: number; of?: number; partitionId?: number; tookMs?: number });
    const finished = lines.find((l) => l.msg === 'Leadership hand-over before stopping finished');
    const handedOverLines = lines.filter((l) => l.msg === 'Handed a partition over');
    // Every partition it led was handed over (not failed over) before it exited.
    expect(finished).toMatchObject({ handedOver: led.length, of: led.length });
    expect(handedOverLines.map((l) => l.partitionId).sort()).toEqual(led.map((p) => p.partitionId).sort());
    const after = await partitionInfos(t);
    for (const p of led) {
      const now = after.find((a) => a.partitionId === p.partitionId);
      expect(now?.leader).not.toBe(victimId);
      expect(now?.epoch).toBe(p.epoch + 1);
    }

    // Writes go on while it is gone: the ISRs drop it (it deregistered) without the lag time.
    await new Promise((r) => setTimeout(r, 2_000));
    const gaps = probes.map(({ p, probe }) => ({ p, gapMs: probe.longestGapMs(stoppedAt - 100) }));
    const probed = await Promise.all(probes.map(({ probe }) => probe.stop()));
    const ledGaps = gaps.filter(({ p }) => p.leader === victimId).map(({ gapMs }) => gapMs);
    const followedGaps = gaps.filter(({ p }) => p.leader !== victimId).map(({ gapMs }) => gapMs);
    const probeFailures = probed.reduce((n, r) => n + [...r.failures.values(), ...r.readFailures.values()].reduce((a, b) => a + b, 0), 0);
    const staleReads = probed.reduce((n, r) => n + r.staleReads, 0);
    const reads = probed.reduce((n, r) => n + r.reads, 0);
    const afterStop = await partitionInfos(t);
    for (const p of afterStop) expect(p.isr).not.toContain(victimId);

    victim.start();
    await eventually(`${victimId} to rejoin every ISR`, 60_000, () => fullyInSync(t, partitions));
    const result = await load.stop();
    const lost = await verifyAcknowledged(t.client, result);
    console.log(
      `SIGTERM of ${victimId} (leading ${led.length} of ${partitions} partitions) under 32 writers: exited after ${exitedAt - stoppedAt} ms ` +
        `(hand-over ${finished?.tookMs ?? '?'} ms, ${finished?.handedOver ?? 0} of ${finished?.of ?? 0} handed over); ` +
        `longest gap between acknowledged writes: partitions it led ${ledGaps.join(', ')} ms, partitions it followed ${followedGaps.join(', ')} ms; ` +
        `probe write and read failures ${probeFailures}, ${reads} reads of the newest acknowledged key, ${staleReads} stale; ${outcome(result, lost)}; rejoined every ISR after restart`,
    );
    expect(lost).toEqual([]);
    expect(staleReads).toBe(0);
    expect(probeFailures).toBe(0);
    expect(Math.max(...ledGaps)).toBeLessThan(1_000);
  });
});
