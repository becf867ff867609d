/**
 * A client outlives a router (issue 15, item 3), on real processes: etcd, a coordinator, two
 * data nodes and two routers on 127.0.0.1, one QuireClient given both routers. Writers and
 * readers run through it; the router it uses is killed with SIGKILL. Checked:
 *  - every write is acknowledged or AMBIGUOUS_RESULT, every read answered — nothing else;
 *  - no acknowledged write is lost: each reads back with its value and acknowledged version;
 *  - no write is applied twice: writes are create-only (expected version 0) on fresh keys, so a
 *    write that reached a data node twice without being recognised by its request id would be
 *    refused the second time and reach the client as CONDITION_FAILED;
 *  - the client moved to the other router, and the longest interval without a successful
 *    operation stayed below 2 s (printed).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManagedProcess, freePort, routerArgs } from '@quire/cli';
import { QuireClient } from '@quire/client';
import { isQuireError } from '@quire/common';
import { runCli } from './harness/cli.js';
import { eventually, startTestCluster, type TestCluster } from './harness/test-cluster.js';

const writers = 8;
const readers = 4;
const runBeforeKillMs = 1_500;
const runAfterKillMs = 2_500;
const longestGapMsMax = 2_000;

interface Outcome {
  readonly kind: 'write' | 'read';
  readonly endMs: number;
  readonly ok: boolean;
  readonly code?: string;
}

describe('a client given two routers when the router it uses is killed', () => {
  let t: TestCluster;
  let router2: ManagedProcess;
  let client: QuireClient;
  /** The router killed by the first test, and the one left. */
  let dead = '';
  let live = '';

  beforeAll(async () => {
    t = await startTestCluster('router-failover', { nodes: 2, partitions: 8 });
    const listen = `127.0.0.1:${await freePort()}`;
    const metricsListen = `127.0.0.1:${await freePort()}`;
    const router1 = t.cluster.process('router-1');
    router2 = new ManagedProcess({
      ...router1.spec,
      id: 'router-2',
      args: routerArgs({ id: 'router-2', listen, metricsListen, etcd: [t.cluster.etcdEndpoint], logLevel: 'info' }),
      address: listen,
      metricsAddress: metricsListen,
      logPath: join(t.dataDir, 'logs', 'router-2.log'),
    });
    router2.start();
    const probe = new QuireClient({ router: listen, requestTimeoutMs: 2_000, connectTimeoutMs: 1_000 });
    try {
      await eventually('router-2 to serve', 30_000, async () => (await probe.put('router-failover/probe', 'x')).version > 0);
    } finally {
      probe.close();
    }
    client = new QuireClient({ routers: [t.cluster.routerAddress, listen], requestTimeoutMs: 5_000, connectTimeoutMs: 2_000 });
    await client.clusterStatus();
  });
  afterAll(async () => {
    client?.close();
    await router2?.stop(5_000);
    await t?.stop();
  });

  it('keeps every acknowledged write, applies none twice, and moves to the other router within 2 s', async () => {
    const startedMs = performance.now();
    const outcomes: Outcome[] = [];
    const acknowledged = new Map<string, { value: string; version: number }>();
    let stopping = false;

    const writer = async (w: number): Promise<void> => {
      for (let seq = 0; !stopping; seq++) {
        const key = `router-failover/w${w}/${seq}`;
        const value = `${w}-${seq}`;
        try {
          const { version } = await client.put(key, value, { expectedVersion: 0 });
          acknowledged.set(key, { value, version });
          outcomes.push({ kind: 'write', endMs: performance.now() - startedMs, ok: true });
        } catch (err) {
          outcomes.push({ kind: 'write', endMs: performance.now() - startedMs, ok: false, code: isQuireError(err) ? err.code : String(err) });
        }
      }
    };
    const reader = async (): Promise<void> => {
      for (let i = 0; !stopping; i++) {
        const keys = [...acknowledged.keys()];
        const key = keys[(i * 7919) % Math.max(1, keys.length)] ?? 'router-failover/probe';
        try {
          await client.get(key);
          outcomes.push({ kind: 'read', endMs: performance.now() - startedMs, ok: true });
        } catch (err) {
          outcomes.push({ kind: 'read', endMs: performance.now() - startedMs, ok: false, code: isQuireError(err) ? err.code : String(err) });
        }
      }
    };
    const running = [...Array.from({ length: writers }, (_, w) => writer(w)), ...Array.from({ length: readers }, () => reader())];

    await new Promise((r) => setTimeout(r, runBeforeKillMs));
    const killed = client.activeRouter;
    const victim = killed === t.cluster.routerAddress ? t.cluster.process('router-1') : router2;
    const killMs = performance.now() - startedMs;
    victim.kill('SIGKILL');
    await victim.exited;
    await new Promise((r) => setTimeout(r, runAfterKillMs));
    stopping = true;
    await Promise.all(running);

    // The longest stretch without a successful operation, from the first success to the end.
    const successes = outcomes.filter((o) => o.ok).map((o) => o.endMs).sort((a, b) => a - b);
    const endMs = performance.now() - startedMs;
    let longestGapMs = 0;
    let gapEndMs = 0;
    for (let i = 1; i <= successes.length; i++) {
      const gap = (successes[i] ?? endMs) - (successes[i - 1] ?? 0);
      if (gap > longestGapMs) [longestGapMs, gapEndMs] = [gap, successes[i] ?? endMs];
    }
    const failures = outcomes.filter((o) => !o.ok);
    const ambiguous = failures.filter((o) => o.kind === 'write' && o.code === 'AMBIGUOUS_RESULT').length;
    const writes = outcomes.filter((o) => o.kind === 'write').length;
    const afterKill = outcomes.filter((o) => o.ok && o.endMs > killMs).length;
    // The stretch around the kill: from the last success before it to the first after it.
    const lastBeforeKillMs = successes.filter((ms) => ms <= killMs).at(-1) ?? 0;
    const firstAfterKillMs = successes.find((ms) => ms > killMs) ?? endMs;
    console.log(
      `router failover: killed ${killed} (SIGKILL) at ${killMs.toFixed(0)} ms; now on ${client.activeRouter}; ` +
        `${writes} writes (${acknowledged.size} acknowledged, ${ambiguous} AMBIGUOUS_RESULT), ${outcomes.length - writes} reads, ` +
        `${afterKill} successes after the kill, the first ${(firstAfterKillMs - killMs).toFixed(0)} ms after it (no success for ${(firstAfterKillMs - lastBeforeKillMs).toFixed(0)} ms around it); ` +
        `longest interval without a successful operation ${longestGapMs.toFixed(0)} ms (ending at ${gapEndMs.toFixed(0)} ms)`,
    );

    dead = killed;
    live = client.activeRouter;
    expect(client.activeRouter).not.toBe(killed);
    expect(afterKill).toBeGreaterThan(100);
    // Writes: acknowledged or AMBIGUOUS_RESULT (a CONDITION_FAILED here would be a write applied twice); reads: answered.
    expect(failures.filter((o) => !(o.kind === 'write' && o.code === 'AMBIGUOUS_RESULT'))).toEqual([]);
    expect(longestGapMs).toBeLessThan(longestGapMsMax);

    // Nothing acknowledged was lost, and each write holds the version it was acknowledged with.
    const lost: string[] = [];
    const keys = [...acknowledged.keys()];
    for (let i = 0; i < keys.length; i += 64) {
      await Promise.all(
        keys.slice(i, i + 64).map(async (key) => {
          const expected = acknowledged.get(key);
          const r = await client.get(key);
          if (!r.found || r.value.toString() !== expected?.value || r.version !== expected.version) lost.push(key);
        }),
      );
    }
    expect(lost).toEqual([]);
  });

  it('the CLI takes a router list in --router and QUIRE_ROUTER and uses a live router when the first is dead', async () => {
    expect(dead).not.toBe('');
    const put = await runCli(['put', 'router-failover/cli', 'from-the-cli', '--router', `${dead},${live}`]);
    expect(put.stderr).toBe('');
    expect(put.code).toBe(0);
    const get = await runCli(['get', 'router-failover/cli'], { QUIRE_ROUTER: `${dead},${live}` });
    expect(get).toMatchObject({ code: 0, stdout: 'from-the-cli\n' });
    const onlyDead = await runCli(['get', 'router-failover/cli', '--router', dead, '--timeout-ms', '1000']);
    expect(onlyDead.code).toBe(1);
    expect(onlyDead.stderr).toMatch(/UNAVAILABLE/);
    const bad = await runCli(['get', 'router-failover/cli', '--router', `${live},`]);
    expect(bad).toMatchObject({ code: 64 });
    expect(bad.stderr).toMatch(/--router must be a comma-separated list of host:port/);
  });
});
