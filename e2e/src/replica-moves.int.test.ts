/**
 * Replica moves on the data nodes (RFC 0003 "Data node side (step 2)"), on real processes: four
 * data nodes, replication factor 3, `sync`. There is no move executor in this test: it changes
 * partition records itself, writing to etcd the way a fenced coordinator write does (the same
 * key, the PartitionRecord codec, epoch + 1, the leader kept, leader ∈ isr ⊆ replicas, compared
 * against the record's mod revision), while clients write unique keys all along and record every
 * acknowledged one. What it proves:
 *  (a) a learner added with an epoch bump catches up and its leader admits it to the ISR
 *      (AlterIsr), and the bump that kept the leader fails no write: none AMBIGUOUS_RESULT;
 *  (b) a follower removed from a partition deletes its replica (log line, metric, and it no
 *      longer answers for it), and writes go on;
 *  (c) a follower stopped before its removal deletes the replica when it starts again;
 *  (d) a replication-factor-1 partition gets a second replica, hands its leadership to it and
 *      loses the original, writes going on throughout;
 * and at the end every acknowledged write of every phase is readable, with the counts logged.
 */
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QuireClient } from '@quire/client';
import { PartitionRecord, type PartitionInfo } from '@quire/proto';
import { fromGrpcError, isQuireError, partitionKey, partitionRecordProblem } from '@quire/common';
import { runCli } from './harness/cli.js';
import { logLines } from './harness/log-lines.js';
import { converged, fullyInSync, getLogEnd, nodeAddresses, partitionInfos } from './harness/partitions.js';
import { eventually, startTestCluster, type TestCluster } from './harness/test-cluster.js';
import { startUniqueWrites, verifyAcknowledged, type WriteLoad, type WriteLoadResult } from './workloads/unique-writes.js';

const partitions = 4;
const logRetainEntries = 100;
const nodeIds = ['node-1', 'node-2', 'node-3', 'node-4'];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The replica changes a step makes; the epoch goes up by one and everything else is kept. */
type RecordChange = (record: PartitionRecord) => { replicas: string[]; isr: string[]; leader?: string };

describe('replica moves on the data nodes: learners, removals and deletion', () => {
  let t: TestCluster;
  let etcd: Etcd3;
  /** Every load run, with its phase, verified at the end. */
  const finished: { phase: string; client: QuireClient; result: WriteLoadResult }[] = [];
  /** The partition and node of (b)'s removal: (c) gives the node that partition back. */
  let removedInB: { partitionId: number; nodeId: string } | undefined;

  /** Writes the partition record `change` makes of the current one, as a fenced coordinator write would. */
  async function changeRecord(keyspace: string, partitionId: number, change: RecordChange): Promise<PartitionRecord> {
    const key = partitionKey(keyspace, partitionId);
    for (;;) {
      const res = await etcd.get(key).exec();
      const kv = res.kvs[0];
      if (kv === undefined) throw new Error(`No record at ${key}`);
      const current = PartitionRecord.decode(kv.value);
      const next: PartitionRecord = { ...current, leader: current.leader, ...change(current), epoch: current.epoch + 1 };
      const problem = partitionRecordProblem(next);
      if (problem !== undefined) throw new Error(`Record ${key} at epoch ${next.epoch} ${problem}`);
      const written = await etcd.if(key, 'Mod', '==', kv.mod_revision).then(etcd.put(key).value(Buffer.from(PartitionRecord.encode(next).finish()))).commit();
      // Lost to a concurrent change (an AlterIsr of the leader): plan again from the new record.
      if (written.succeeded) return next;
    }
  }

  async function info(partitionId: number, keyspace = 'default'): Promise<PartitionInfo> {
    const p = (await partitionInfos(t, keyspace)).find((x) => x.partitionId === partitionId);
    if (p === undefined) throw new Error(`No partition ${keyspace}/${partitionId} in the cluster status`);
    return p;
  }

  /** Waits until `nodeId` is in the ISR of the partition, as etcd has it. */
  async function inIsr(partitionId: number, nodeId: string, keyspace = 'default'): Promise<void> {
    await eventually(`${nodeId} in the ISR of ${keyspace}/${partitionId}`, 60_000, async () => (await info(partitionId, keyspace)).isr.includes(nodeId));
  }

  /** The `quire_datanode_replicas_deleted` total a node reports. */
  async function deletedCount(nodeId: string): Promise<number> {
    const res = await fetch(`http://${t.cluster.process(nodeId).spec.metricsAddress ?? ''}/metrics`);
    const text = await res.text();
    let total = 0;
    for (const m of text.matchAll(/^quire_datanode_replicas_deleted_total(?:\{[^}]*\})? (\d+)/gm)) total += Number(m[1]);
    return total;
  }

  /** Lines `Deleted partition replica` of `nodeId` for the partition. */
  const deletions = (nodeId: string, partitionId: number, keyspace = 'default'): Record<string, unknown>[] =>
    logLines(t, nodeId, 'Deleted partition replica').filter((l) => l['keyspace'] === keyspace && l['partitionId'] === partitionId);

  /** Whether `nodeId` refuses GetLogEnd for the partition as not its replica (it answers nothing for it any more). */
  async function refusesPartition(nodeId: string, partitionId: number, keyspace = 'default'): Promise<boolean> {
    const address = (await nodeAddresses(t)).get(nodeId) ?? '';
    try {
      await getLogEnd(address, partitionId, keyspace);
      return false;
    } catch (err) {
      return isQuireError(fromGrpcError(err, nodeId), 'WRONG_PARTITION');
    }
  }

  async function stopLoad(phase: string, load: WriteLoad, client = t.client): Promise<WriteLoadResult> {
    const result = await load.stop();
    finished.push({ phase, client, result });
    return result;
  }

  beforeAll(async () => {
    // Replica moves of the coordinator's own (when it has them) would change records under this test.
    const help = await runCli(['coordinator', '--help']);
    const coordinator = help.stdout.includes('--auto-rebalance') ? ['--auto-rebalance=false'] : [];
    // A short log: a learner joins long after the log start, so its leader seeds it with a snapshot.
    t = await startTestCluster('replica-moves', { nodes: 4, replicationFactor: 3, partitions, nodeLeaseTtlSeconds: 1, extraArgs: { coordinator, datanode: ['--log-retain-entries', String(logRetainEntries)] } });
    await eventually('every partition in sync', 60_000, () => fullyInSync(t, partitions));
    etcd = new Etcd3({ hosts: `http://${t.cluster.etcdEndpoint}` });
  });
  afterAll(async () => {
    etcd?.close();
    for (const { client } of finished) if (client !== t?.client) client.close();
    await t?.stop();
  });

  it('(a) adds a learner with an epoch bump: it catches up, joins the ISR, and no write fails', async () => {
    const p = (await partitionInfos(t)).find((x) => x.replicas.length === 3) as PartitionInfo;
    const learner = nodeIds.find((n) => !p.replicas.includes(n)) as string;
    const load = startUniqueWrites(t.client, 'learner', 16);
    await eventually('writes before the change', 60_000, async () => load.acknowledgedCount() >= 1_000);
    const before = load.acknowledgedCount();
    const record = await changeRecord('default', p.partitionId, (r) => ({ replicas: [...r.replicas, learner], isr: r.isr }));
    await inIsr(p.partitionId, learner);
    const joinedAt = load.acknowledgedCount();
    await eventually('writes after the learner joined', 60_000, async () => load.acknowledgedCount() >= joinedAt + 1_000);
    const result = await stopLoad('a', load);
    const states = await eventually('every replica, the learner too, to hold and apply its leader log', 60_000, () => converged(t));
    const learnerState = states.find((s) => s.partitionId === p.partitionId && s.nodeId === learner);
    const installed = logLines(t, learner, 'Installed a snapshot').filter((l) => l['partitionId'] === p.partitionId);
    const now = await info(p.partitionId);
    console.log(
      `(a) learner ${learner} added to partition ${p.partitionId} at epoch ${record.epoch} (leader ${record.leader} kept): in the ISR ${JSON.stringify(now.isr)}; ` +
        `seeded by ${installed.length} snapshot(s) (${String(installed[0]?.['keyCount'])} keys at index ${String(installed[0]?.['appliedIndex'])}), its log end ${learnerState?.state.logEnd?.index}; writes acknowledged ${result.acknowledged.size} (${before} before the change), ambiguous ${result.ambiguous.size}, failed ${result.failed} ${JSON.stringify([...result.failureCodes])}`,
    );
    expect(now).toMatchObject({ leader: record.leader, epoch: record.epoch });
    expect(now.replicas).toContain(learner);
    expect(learnerState?.state.appliedIndex).toBeGreaterThan(0);
    // The leader kept 100 entries and had some 250 when the learner came: it needed a snapshot.
    expect(installed.length).toBeGreaterThanOrEqual(1);
    expect(result.ambiguous.size).toBe(0);
    expect(result.failed).toBe(0);
  });

  it('(b) removes a follower: it deletes its replica, and writes go on', async () => {
    const p = (await partitionInfos(t)).find((x) => x.replicas.length === 4) as PartitionInfo;
    const removed = p.replicas.find((n) => n !== p.leader) as string;
    const deletedBefore = await deletedCount(removed);
    const load = startUniqueWrites(t.client, 'remove', 16);
    await eventually('writes before the removal', 60_000, async () => load.acknowledgedCount() >= 1_000);
    const record = await changeRecord('default', p.partitionId, (r) => ({ replicas: r.replicas.filter((n) => n !== removed), isr: r.isr.filter((n) => n !== removed) }));
    await eventually(`${removed} to delete its replica of partition ${p.partitionId}`, 30_000, async () => deletions(removed, p.partitionId).length === 1);
    removedInB = { partitionId: p.partitionId, nodeId: removed };
    const afterRemoval = load.acknowledgedCount();
    await eventually('writes after the removal', 60_000, async () => load.acknowledgedCount() >= afterRemoval + 1_000);
    const result = await stopLoad('b', load);
    const deletedAfter = await deletedCount(removed);
    console.log(
      `(b) follower ${removed} removed from partition ${p.partitionId} at epoch ${record.epoch}: deleted (${JSON.stringify(deletions(removed, p.partitionId)[0])}), ` +
        `quire_datanode_replicas_deleted ${deletedBefore} -> ${deletedAfter}; writes acknowledged ${result.acknowledged.size} (${afterRemoval} by the deletion), ambiguous ${result.ambiguous.size}, failed ${result.failed}`,
    );
    expect(deletions(removed, p.partitionId)[0]).toMatchObject({ reason: 'not-a-replica' });
    expect(deletedAfter).toBe(deletedBefore + 1);
    expect(await refusesPartition(removed, p.partitionId)).toBe(true);
    expect(await eventually('every remaining replica in sync', 60_000, () => converged(t))).toBeDefined();
    expect(result.ambiguous.size + result.failed).toBe(0);
  });

  it('(c) a follower stopped before its removal deletes the replica when it starts again; the node (b) removed gets it back, empty, and is re-seeded', async () => {
    // (b)'s partition gets the node (b) removed back first, so it never has fewer than three replicas.
    const back = removedInB as { partitionId: number; nodeId: string };
    const p = await info(back.partitionId);
    const target = back.nodeId;
    expect(p.replicas).not.toContain(target);
    const victim = p.replicas.find((n) => n !== p.leader) as string;
    const load = startUniqueWrites(t.client, 'restart', 16);
    await eventually('writes before the change', 60_000, async () => load.acknowledgedCount() >= 1_000);
    await changeRecord('default', p.partitionId, (r) => ({ replicas: [...r.replicas, target], isr: r.isr }));
    await inIsr(p.partitionId, target);
    // Its replica opened empty after (b)'s deletion, and the leader seeded it (a snapshot: the log starts far above 1).
    const reopened = logLines(t, target, 'Opened partition replica').filter((l) => l['keyspace'] === 'default' && l['partitionId'] === p.partitionId).at(-1);
    const seeded = logLines(t, target, 'Installed a snapshot').filter((l) => l['partitionId'] === p.partitionId).at(-1);
    expect(reopened).toMatchObject({ appliedIndex: 0, logEndIndex: 0 });
    expect(seeded?.['appliedIndex']).toEqual(expect.any(Number));
    // Stopped gracefully: it hands over what it leads and deregisters.
    const victimProcess = t.cluster.process(victim);
    await victimProcess.stop(10_000);
    const record = await changeRecord('default', p.partitionId, (r) => ({ replicas: r.replicas.filter((n) => n !== victim), isr: r.isr.filter((n) => n !== victim) }));
    const whileDown = load.acknowledgedCount();
    await eventually('writes while it is down', 60_000, async () => load.acknowledgedCount() >= whileDown + 500);
    victimProcess.start();
    await t.cluster.waitReady(60_000);
    await eventually(`${victim} to delete its replica of partition ${p.partitionId} at start-up`, 30_000, async () => deletions(victim, p.partitionId).length >= 1);
    const deleting = logLines(t, victim, 'Deleting a partition replica this node no longer holds').filter((l) => l['partitionId'] === p.partitionId).at(-1);
    const result = await stopLoad('c', load);
    await eventually(`${victim} back in the ISRs of its other partitions`, 60_000, async () => (await partitionInfos(t)).every((x) => !x.replicas.includes(victim) || x.isr.includes(victim)));
    console.log(
      `(c) ${target} given partition ${p.partitionId} back: opened empty, seeded by a snapshot at index ${String(seeded?.['appliedIndex'])}; ` +
        `${victim} stopped, removed at epoch ${record.epoch}, started: deleted at start-up (open ${String(deleting?.['open'])}), ` +
        `quire_datanode_replicas_deleted ${await deletedCount(victim)}; writes acknowledged ${result.acknowledged.size}, ambiguous ${result.ambiguous.size}, failed ${result.failed} ${JSON.stringify([...result.failureCodes])}`,
    );
    expect(deleting).toMatchObject({ reason: 'not-a-replica', open: false });
    expect(await deletedCount(victim)).toBe(1);
    expect(await refusesPartition(victim, p.partitionId)).toBe(true);
    expect(await eventually('every replica in sync', 60_000, () => converged(t))).toBeDefined();
  });

  it('(d) a replication-factor-1 partition gets a second replica, hands its leadership over and loses the original, losing no write', async () => {
    await t.client.createKeyspace('solo', { partitions: 1, replicationFactor: 1 });
    const solo = new QuireClient({ router: t.cluster.routerAddress, requestTimeoutMs: 10_000, keyspace: 'solo' });
    const first = await info(0, 'solo');
    const original = first.leader;
    const second = nodeIds.find((n) => n !== original) as string;
    const load = startUniqueWrites(solo, 'solo', 16);
    await eventually('writes to the one replica', 60_000, async () => load.acknowledgedCount() >= 1_000);
    await changeRecord('solo', 0, (r) => ({ replicas: [...r.replicas, second], isr: r.isr }));
    await inIsr(0, second, 'solo');
    const joined = load.acknowledgedCount();
    await eventually('writes with two replicas', 60_000, async () => load.acknowledgedCount() >= joined + 500);
    const transferred = await t.client.transferLeader(0, { keyspace: 'solo', to: second });
    const record = await changeRecord('solo', 0, (r) => ({ replicas: r.replicas.filter((n) => n !== original), isr: r.isr.filter((n) => n !== original) }));
    await eventually(`${original} to delete its replica of solo/0`, 30_000, async () => deletions(original, 0, 'solo').length === 1);
    const alone = load.acknowledgedCount();
    await eventually('writes to the new sole replica', 60_000, async () => load.acknowledgedCount() >= alone + 1_000);
    const result = await stopLoad('d', load, solo);
    const lost = await verifyAcknowledged(solo, result);
    console.log(
      `(d) solo/0 moved from ${original} to ${second}: leader ${transferred.leader} at epoch ${transferred.epoch} by hand-over, ` +
        `then ${original} removed at epoch ${record.epoch} and deleted its replica; writes acknowledged ${result.acknowledged.size} (${joined} with one replica, ${alone} before the removal), ` +
        `ambiguous ${result.ambiguous.size}, failed ${result.failed} ${JSON.stringify([...result.failureCodes])}, lost ${lost.length}`,
    );
    expect(await info(0, 'solo')).toMatchObject({ leader: second, replicas: [second], isr: [second] });
    expect(result.ambiguous.size).toBe(0);
    expect(lost).toEqual([]);
  });

  it('keeps every acknowledged write of every phase readable', async () => {
    await sleep(200);
    let acknowledged = 0;
    const lost: string[] = [];
    for (const { client, result } of finished) {
      acknowledged += result.acknowledged.size;
      lost.push(...(await verifyAcknowledged(client, result)));
    }
    console.log(`every phase: ${acknowledged} writes acknowledged in ${finished.map((f) => `${f.phase}:${f.result.acknowledged.size}`).join(' ')}, lost ${lost.length}`);
    expect(finished.map((f) => f.phase)).toEqual(['a', 'b', 'c', 'd']);
    expect(lost).toEqual([]);
  });
});
