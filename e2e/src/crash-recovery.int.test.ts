import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, eventually, type TestCluster } from './harness/test-cluster.js';
import { startUniqueWrites, verifyAcknowledged } from './workloads/unique-writes.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Requests the router sent again after a failure at a data node, from its metrics: writes after
 * an AMBIGUOUS_RESULT (they carry request ids) and requests lost with a node (UNAVAILABLE), every
 * partition and code summed.
 */
async function routerResends(t: TestCluster): Promise<number> {
  const res = await fetch(`http://${t.cluster.process('router-1').spec.metricsAddress ?? ''}/metrics`);
  let total = 0;
  for (const m of (await res.text()).matchAll(/^quire_router_partition_resent_requests_total(?:\{[^}]*\})? (\d+)$/gm)) total += Number(m[1]);
  return total;
}

describe('kill -9 of a data node in the middle of a write load', () => {
  let t: TestCluster;
  beforeAll(async () => {
    t = await startTestCluster('crash');
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('loses no acknowledged write: each is present after restart with its value and version', async () => {
    const load = startUniqueWrites(t.client, 'crash', 64);
    await eventually('writes to be acknowledged', 30_000, async () => load.acknowledgedCount() > 2_000);
    // The victim leads partitions, so the kill hits writes in flight (a node that only follows
    // would only stall its leaders until the ISR shrank, failing nothing).
    const led = new Map<string, number>();
    for (const p of (await t.client.partitionMap()).partitions) led.set(p.leader, (led.get(p.leader) ?? 0) + 1);
    const [victimId, victimLeads] = [...led].filter(([id]) => id !== '').sort((a, b) => b[1] - a[1])[0] ?? ['node-2', 0];
    expect(victimLeads).toBeGreaterThan(0);
    const victim = t.cluster.process(victimId);
    const resendsBefore = await routerResends(t);
    const atKill = load.acknowledgedCount();
    victim.kill('SIGKILL');
    await victim.exited;
    await sleep(1_000);
    victim.start();
    await t.cluster.waitReady(60_000);
    await eventually('writes after the restart', 30_000, async () => load.acknowledgedCount() > atKill + 2_000);
    const result = await load.stop();
    const lost = await verifyAcknowledged(t.client, result);
    // Ambiguous writes may or may not be there, but never with another value.
    let ambiguousPresent = 0;
    for (const key of result.ambiguous) {
      const got = await t.client.get(key);
      if (got.found) {
        ambiguousPresent++;
        expect(got.value.toString()).toMatch(/^value-/);
      }
    }
    const resent = (await routerResends(t)) - resendsBefore;
    console.log(
      `crash test: acknowledged writes checked ${result.acknowledged.size}, lost ${lost.length}; ` +
        `ambiguous ${result.ambiguous.size} (${ambiguousPresent} present), failed ${result.failed}, resent by the router after a failure at the node ${resent}; ` +
        `failure codes ${JSON.stringify(Object.fromEntries(result.failureCodes))}; faults injected 1 (kill -9 ${victimId}, leader of ${victimLeads} partitions)`,
    );
    // The kill disturbed writes: they failed, stayed ambiguous, or the router sent them again
    // (in flight at the kill, or sent to the node while it was down; writes with their request
    // ids) — and those acknowledged carry the version of their one application
    // (verifyAcknowledged compares versions).
    expect(result.failed + result.ambiguous.size + resent).toBeGreaterThan(0);
    expect(lost).toEqual([]);
  });

  it('loses no acknowledged write when every data node is killed at once', async () => {
    const load = startUniqueWrites(t.client, 'crash-all', 64);
    await eventually('writes to be acknowledged', 30_000, async () => load.acknowledgedCount() > 2_000);
    const nodes = t.cluster.all.filter((p) => p.role === 'datanode');
    for (const n of nodes) n.kill('SIGKILL');
    await Promise.all(nodes.map((n) => n.exited));
    for (const n of nodes) n.start();
    await t.cluster.waitReady(60_000);
    const result = await load.stop();
    const lost = await verifyAcknowledged(t.client, result);
    console.log(
      `crash-all test: acknowledged writes checked ${result.acknowledged.size}, lost ${lost.length}; ` +
        `ambiguous ${result.ambiguous.size}, failed ${result.failed}; faults injected ${nodes.length} (kill -9 of every data node)`,
    );
    expect(lost).toEqual([]);
  });
});
