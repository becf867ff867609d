/**
 * Follower reads (RFC 0001, "Follower reads") and follower lag in `quire status`, on real
 * processes: three data nodes, replication factor 3 with `sync`, a router, real etcd. What these
 * tests prove:
 *  - SESSION reads give read-your-writes and monotonic reads to many concurrent clients, while
 *    followers serve a real share of them (the data nodes' quire_datanode_reads counters);
 *  - STALE reads keep being answered by followers, with a growing staleness, after the
 *    partition's leader is killed with kill -9 and before the failover completes;
 *  - a SESSION read a follower cannot serve in time is refused by it (REPLICA_BEHIND, after
 *    its bounded wait), and through the router it is answered by the leader;
 *  - `quire status` (table and JSON) shows every follower's lag, and a paused follower shows a
 *    non-zero lag while a leader that does not answer shows its followers' lag as unknown.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metadata } from '@grpc/grpc-js';
import { DataNodeClient, ReadConsistency, type NodeOperation, type OperationResult, type PartitionInfo } from '@quire/proto';
import { QuireClient } from '@quire/client';
import { clientCredentials, loadHashPartitioner } from '@quire/common';
import { runCli } from './harness/cli.js';
import { fullyInSync, nodeAddresses, partitionInfos } from './harness/partitions.js';
import { startTestCluster, eventually, type TestCluster } from './harness/test-cluster.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const partitions = 8;

/** The sum of quire_datanode_reads_total samples on one node whose labels contain every `labels` pair. */
async function readsCounted(address: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`http://${address}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('quire_datanode_reads_total{')) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** Sums readsCounted over every data node. */
async function readsOnAllNodes(t: TestCluster, labels: Record<string, string>): Promise<number> {
  let sum = 0;
  for (const id of ['node-1', 'node-2', 'node-3']) sum += await readsCounted(t.cluster.process(id).spec.metricsAddress ?? '', labels);
  return sum;
}

/** A key of partition `partitionId` (`${prefix}-${i}`). */
async function keyOf(prefix: string, partitionId: number): Promise<string> {
  const partitioner = await loadHashPartitioner();
  for (let i = 0; ; i++) {
    const key = `${prefix}-${i}`;
    if (partitioner.partitionOf(Buffer.from(key), partitions) === partitionId) return key;
  }
}

describe('follower reads with replication factor 3 and sync', () => {
  let t: TestCluster;
  beforeAll(async () => {
    t = await startTestCluster('follower-reads', { replicationFactor: 3, partitions });
    await eventually('every partition in sync', 30_000, () => fullyInSync(t, partitions));
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('SESSION reads: every client reads its own writes and never goes back, and followers serve a real share', async () => {
    const clientsCount = 16;
    const rounds = 40;
    const counters = {
      followerServed: { consistency: 'session', role: 'follower', outcome: 'served' },
      followerServedAfterWait: { consistency: 'session', role: 'follower', outcome: 'served_after_wait' },
      followerRefused: { consistency: 'session', role: 'follower', outcome: 'refused' },
      leaderServed: { consistency: 'session', role: 'leader', outcome: 'served' },
    };
    const countAll = async (): Promise<Record<keyof typeof counters, number>> => ({
      followerServed: await readsOnAllNodes(t, counters.followerServed),
      followerServedAfterWait: await readsOnAllNodes(t, counters.followerServedAfterWait),
      followerRefused: await readsOnAllNodes(t, counters.followerRefused),
      leaderServed: await readsOnAllNodes(t, counters.leaderServed),
    });
    const before = await countAll();
    let reads = 0;
    const violations: string[] = [];
    const clients = Array.from({ length: clientsCount }, () => new QuireClient({ router: t.cluster.routerAddress, requestTimeoutMs: 10_000 }));
    try {
      await Promise.all(
        clients.map(async (client, c) => {
          /** Per partition, the largest index this client's reads reflected (monotonic reads). */
          const seen = new Map<number, number>();
          for (let r = 0; r < rounds; r++) {
            const key = `ryw-${c}-${r % 8}`;
            const value = `v-${c}-${r}`;
            const written = await client.put(key, value);
            const got = await client.get(key, { consistency: 'session' });
            reads++;
            if (!got.found || got.value.toString() !== value || got.version < written.version) {
              violations.push(`client ${c} wrote ${key}=${value} at version ${written.version}, then read found=${got.found} ${got.value.toString()} at version ${got.version}`);
            }
            // Another key of this client (often another partition): its reads must not go back either.
            const other = await client.get(`ryw-${c}-${(r + 3) % 8}`, { consistency: 'session' });
            reads++;
            for (const g of [got, other]) {
              const p = g.position;
              if (p === undefined) {
                violations.push(`client ${c}: a SESSION read reported no position`);
                continue;
              }
              if (p.index < (seen.get(p.partitionId) ?? 0)) violations.push(`client ${c}: partition ${p.partitionId} read at index ${p.index} after ${seen.get(p.partitionId)}`);
              seen.set(p.partitionId, Math.max(p.index, seen.get(p.partitionId) ?? 0));
            }
          }
        }),
      );
    } finally {
      for (const client of clients) client.close();
    }
    const after = await countAll();
    const delta = (k: keyof typeof counters): number => after[k] - before[k];
    const servedByFollowers = delta('followerServed') + delta('followerServedAfterWait');
    console.log(
      `SESSION reads: ${clientsCount} clients, ${reads} reads (half right after the client's own write), ${violations.length} violations; ` +
        `served by followers ${servedByFollowers} (${delta('followerServedAfterWait')} after waiting for their acknowledged index), ` +
        `refused by followers ${delta('followerRefused')} (then asked the leader), served by leaders ${delta('leaderServed')}`,
    );
    expect(violations).toEqual([]);
    // Every read was served once, by a follower or a leader; followers served at least a third
    // (the router prefers them; what they refuse goes to the leader).
    expect(servedByFollowers + delta('leaderServed')).toBe(reads);
    expect(servedByFollowers).toBeGreaterThan(reads / 3);
  });

  it('a SESSION read a follower cannot serve in time is refused by it after its wait, and the router has the leader answer it', async () => {
    const addresses = await nodeAddresses(t);
    const p = (await partitionInfos(t))[2] as PartitionInfo;
    const key = await keyOf('behind', p.partitionId);
    const written = await t.client.put(key, 'before-pause');
    const follower = p.replicas.find((n) => n !== p.leader) as string;
    // Straight to a follower: an index the partition has not reached waits the session wait (100 ms) and is refused.
    const client = new DataNodeClient(addresses.get(follower) ?? '', clientCredentials());
    const startedAt = Date.now();
    const refused = await new Promise<OperationResult>((resolve, reject) => {
      const call = client.stream(new Metadata());
      call.on('data', (res: { results: OperationResult[] }) => {
        resolve(res.results[0] as OperationResult);
        call.end();
      });
      call.on('error', reject);
      const op: NodeOperation = {
        id: 1,
        partitionId: p.partitionId,
        epoch: p.epoch,
        mapRevision: 0,
        op: { $case: 'get', value: { keyspace: 'default', key: Buffer.from(key), consistency: ReadConsistency.READ_CONSISTENCY_SESSION, session: [], maxStalenessMs: 0 } },
        minIndex: written.version + 1_000,
        traceparent: '',
      };
      call.write({ operations: [op] });
    });
    const waitedMs = Date.now() - startedAt;
    client.close();
    const error = refused.result?.$case === 'error' ? refused.result.value : undefined;
    expect(error?.code).toBe('REPLICA_BEHIND');
    expect(error?.leaderHint).toBe(p.leader);
    expect(error?.message).toMatch(/below the session index .* after waiting 100 ms/);
    expect(waitedMs).toBeGreaterThanOrEqual(100);

    // Staleness on an idle partition: the leader's heartbeat (an empty Append every 250 ms) keeps
    // the followers' figure near that interval; a bound below what a follower can promise sends
    // the read to the leader, and no follower ever answers over its bound.
    await sleep(1_000);
    const unbounded = await t.client.get(key, { consistency: 'stale' });
    const bounded = await t.client.get(key, { consistency: 'stale', maxStalenessMs: 1 });
    console.log(
      `STALE read on an idle partition: a follower answered with staleness ${unbounded.staleness?.sinceLeaderContactMs} ms (leader heartbeat every 250 ms); ` +
        `with max_staleness_ms 1 the ${bounded.staleness?.follower === true ? `follower (${bounded.staleness.sinceLeaderContactMs} ms)` : 'leader'} answered`,
    );
    expect(unbounded.staleness).toMatchObject({ follower: true, index: expect.any(Number) as number });
    expect(unbounded.staleness?.sinceLeaderContactMs).toBeLessThan(1_000);
    if (bounded.staleness?.follower === true) expect(bounded.staleness.sinceLeaderContactMs).toBeLessThanOrEqual(1);
    else expect(bounded.staleness).toMatchObject({ follower: false, sinceLeaderContactMs: 0 });
    expect(bounded.value.toString()).toBe('before-pause');

    // The CLI: the value on stdout, the staleness on stderr (in --json, a field); a bad value is a usage error.
    const env = { QUIRE_ROUTER: t.cluster.routerAddress };
    const cli = await runCli(['get', key, '--consistency', 'stale'], env);
    expect([cli.code, cli.stdout]).toEqual([0, 'before-pause\n']);
    expect(cli.stderr).toMatch(/^quire: stale read served by a follower at index \d+, \d+ ms since it last caught up with its leader\n$/);
    const cliJson = await runCli(['get', key, '--consistency', 'session', '--json'], env);
    expect(JSON.parse(cliJson.stdout)).toMatchObject({ key, found: true, value: 'before-pause', staleness: { follower: true } });
    const cliBad = await runCli(['get', key, '--consistency', 'eventual'], env);
    expect(cliBad.code).toBe(64);
    expect(cliBad.stderr).toContain('--consistency must be linearizable, session or stale');

    // Through the router, with both followers paused: each attempt on a follower times out
    // (--follower-read-timeout-ms, 500 ms) and the leader answers.
    const reader = new QuireClient({ router: t.cluster.routerAddress, requestTimeoutMs: 10_000 });
    const followers = p.replicas.filter((n) => n !== p.leader);
    const paused = followers.map((id) => t.cluster.process(id));
    try {
      await reader.put(key, 'session-value');
      for (const f of paused) f.kill('SIGSTOP');
      const readAt = Date.now();
      const got = await reader.get(key, { consistency: 'session' });
      const tookMs = Date.now() - readAt;
      for (const f of paused) f.kill('SIGCONT');
      console.log(`SESSION read with both followers of partition ${p.partitionId} paused: answered by ${got.staleness?.follower === true ? 'a follower' : 'the leader'} in ${tookMs} ms (follower refused in ${waitedMs} ms when asked directly)`);
      expect(got.value.toString()).toBe('session-value');
      expect(got.staleness?.follower).toBe(false);
      expect(tookMs).toBeLessThan(5_000);
    } finally {
      for (const f of paused) f.kill('SIGCONT');
      reader.close();
    }
    await eventually('every partition in sync again', 30_000, () => fullyInSync(t, partitions));
  });

  it('quire status shows every follower\'s lag (table and JSON), non-zero for a paused follower, unknown for a leader that does not answer', async () => {
    const env = { QUIRE_ROUTER: t.cluster.routerAddress };
    const json = await runCli(['status', '--json'], env);
    expect(json.code).toBe(0);
    type Lag = { nodeId: string; known: boolean; lagEntries: number; lagMs: number };
    const parsed = JSON.parse(json.stdout) as { keyspaces: { keyspace: string; partitions: { partitionId: number; leader: string; replicas: string[]; followers: Lag[] }[] }[] };
    const ks = parsed.keyspaces.find((k) => k.keyspace === 'default');
    expect(ks?.partitions).toHaveLength(partitions);
    for (const p of ks?.partitions ?? []) {
      expect(p.followers.map((f) => f.nodeId).sort()).toEqual(p.replicas.filter((n) => n !== p.leader).sort());
      expect(p.followers.every((f) => f.known)).toBe(true);
    }
    const table = await runCli(['status'], env);
    expect(table.stdout).toContain('FOLLOWER LAG (entries/ms)');
    expect(table.stdout).toMatch(/node-\d:\d+\/\d+ms node-\d:\d+\/\d+ms/);

    // Pause one node under writes: as a follower it lags; as a leader it does not answer.
    const victimId = 'node-3';
    const victim = t.cluster.process(victimId);
    const writer = new QuireClient({ router: t.cluster.routerAddress, requestTimeoutMs: 10_000 });
    const infos = await partitionInfos(t);
    const followed = infos.filter((p) => p.leader !== victimId && p.replicas.includes(victimId));
    const led = infos.filter((p) => p.leader === victimId);
    const keys = await Promise.all(followed.map((p) => keyOf('lag', p.partitionId)));
    let lagged: { partitionId: number; lagEntries: number; lagMs: number } | undefined;
    let unknownLed = 0;
    let statusMs = 0;
    victim.kill('SIGSTOP');
    try {
      // These writes wait for the paused follower (sync): they are in the leaders' logs, not on it.
      const pending = keys.map((k) => writer.put(k, 'during-pause').catch(() => undefined));
      const deadline = Date.now() + 1_200;
      while (Date.now() < deadline && lagged === undefined) {
        const startedAt = Date.now();
        const s = await t.client.clusterStatus();
        statusMs = Math.max(statusMs, Date.now() - startedAt);
        const ps = s.keyspaces.find((k) => k.keyspace === 'default')?.partitions ?? [];
        for (const p of ps) {
          const f = p.followers.find((x) => x.nodeId === victimId && x.known && x.lagEntries > 0 && x.lagMs > 0);
          if (f !== undefined) lagged = { partitionId: p.partitionId, lagEntries: f.lagEntries, lagMs: f.lagMs };
        }
        unknownLed = ps.filter((p) => p.leader === victimId && p.followers.every((x) => !x.known)).length;
        await sleep(100);
      }
      victim.kill('SIGCONT');
      await Promise.all(pending);
    } finally {
      victim.kill('SIGCONT');
      writer.close();
    }
    console.log(
      `follower lag: ${victimId} paused; ${lagged === undefined ? 'no lag seen' : `partition ${lagged.partitionId} showed it ${lagged.lagEntries} entries / ${lagged.lagMs} ms behind`}; ` +
        `${unknownLed} of ${led.length} partitions it leads showed their followers' lag as unknown; slowest status ${statusMs} ms`,
    );
    expect(lagged).toBeDefined();
    expect(unknownLed).toBe(led.length);
    // The status waited for the paused leader at most its deadline (500 ms), plus margin.
    expect(statusMs).toBeLessThan(2_000);
    await eventually('every partition in sync again', 30_000, () => fullyInSync(t, partitions));
    await eventually('every follower caught up', 30_000, async () => (await partitionInfos(t)).every((p) => p.followers.every((f) => f.known && f.lagEntries === 0)));
  });

  it('STALE reads keep answering from followers, reporting staleness, after the leader is killed with kill -9 and before the failover completes', async () => {
    const infos = await partitionInfos(t);
    const victimId = 'node-1';
    const p = infos.find((x) => x.leader === victimId) as PartitionInfo;
    const key = await keyOf('stale', p.partitionId);
    await t.client.put(key, 'stale-value');
    const reader = new QuireClient({ router: t.cluster.routerAddress, requestTimeoutMs: 2_000 });
    const observer = new QuireClient({ router: t.cluster.routerAddress, requestTimeoutMs: 2_000 });
    // Followers have heard the write acknowledged once a stale read returns it.
    await eventually('followers to return the write', 5_000, async () => (await reader.get(key, { consistency: 'stale' })).value.toString() === 'stale-value');
    // Writes to another key of the partition keep the followers in contact with the leader
    // at write speed rather than at the 250 ms heartbeat.
    const writer = new QuireClient({ router: t.cluster.routerAddress, requestTimeoutMs: 1_000 });
    const busyKey = await keyOf('stale-busy', p.partitionId);
    let writing = true;
    const writes = (async () => {
      for (let n = 0; writing; n++) {
        await writer.put(busyKey, `w-${n}`).catch(() => undefined);
        await sleep(10);
      }
    })();
    let stalenessBeforeMs = 0;
    for (let i = 0; i < 20; i++) {
      const got = await reader.get(key, { consistency: 'stale' });
      if (got.staleness?.follower === true) stalenessBeforeMs = Math.max(stalenessBeforeMs, got.staleness.sinceLeaderContactMs);
      await sleep(20);
    }
    let failedOverAt: number | undefined;
    const killedAt = Date.now();
    const watch = (async () => {
      while (failedOverAt === undefined && Date.now() - killedAt < 30_000) {
        try {
          const now = (await observer.clusterStatus()).keyspaces.find((k) => k.keyspace === 'default')?.partitions[p.partitionId];
          if (now !== undefined && now.epoch > p.epoch && now.leader !== victimId) failedOverAt = Date.now();
        } catch {
          // The coordinator answers again in a moment.
        }
        await sleep(50);
      }
    })();
    t.cluster.process(victimId).kill('SIGKILL');
    writing = false;
    let served = 0;
    let wrong = 0;
    let failed = 0;
    let stalenessMaxMs = 0;
    /** When a leader first answered: the old one is dead, so a new one has been promoted by then. */
    let leaderAnsweredAt: number | undefined;
    while (failedOverAt === undefined && leaderAnsweredAt === undefined && Date.now() - killedAt < 30_000) {
      try {
        const got = await reader.get(key, { consistency: 'stale' });
        if (failedOverAt !== undefined) break;
        if (got.staleness?.follower !== true) {
          leaderAnsweredAt = Date.now();
          break;
        }
        served++;
        if (got.value.toString() !== 'stale-value') wrong++;
        stalenessMaxMs = Math.max(stalenessMaxMs, got.staleness.sinceLeaderContactMs);
      } catch (err) {
        failed++;
        if (failed <= 3) console.log(`STALE read failed: ${String(err)}`);
      }
      await sleep(20);
    }
    await watch;
    await writes;
    writer.close();
    reader.close();
    observer.close();
    console.log(
      `STALE reads after kill -9 of ${victimId} (leader of partition ${p.partitionId}): failover took ${(failedOverAt ?? Date.now()) - killedAt} ms; ` +
        `before it completed ${served} reads served by followers (${wrong} wrong values), ${failed} failed; staleness reached ${stalenessMaxMs} ms (at most ${stalenessBeforeMs} ms under writes before the kill)`,
    );
    expect(failedOverAt).toBeDefined();
    expect(served).toBeGreaterThan(10);
    expect(wrong).toBe(0);
    expect(failed).toBe(0);
    // Under writes the followers were in close contact; after the kill the figure grows with the time without a leader.
    expect(stalenessBeforeMs).toBeLessThan(500);
    expect(stalenessMaxMs).toBeGreaterThan(stalenessBeforeMs + 500);
  });
});
