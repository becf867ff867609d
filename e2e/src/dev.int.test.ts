import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ClusterJson } from '@quire/cli';
import { cliPath, runCli } from './harness/cli.js';
import { eventually } from './harness/test-cluster.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('quire dev', () => {
  const dir = mkdtempSync(join(tmpdir(), 'quire-dev-'));
  let child: ChildProcess | undefined;
  /** Every pid cluster.json named during the current run of quire dev. */
  const pidsSeen = new Set<number>();
  afterAll(() => {
    child?.kill('SIGKILL');
    if (process.env.QUIRE_KEEP_TEST_DIRS !== '1') rmSync(dir, { recursive: true, force: true });
  });

  function readClusterJson(): ClusterJson {
    const json = JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')) as ClusterJson;
    for (const p of json.processes) pidsSeen.add(p.pid);
    return json;
  }

  const pidOf = (json: ClusterJson, id: string): number => json.processes.find((p) => p.id === id)?.pid ?? 0;

  async function startDev(...extra: string[]): Promise<{ json: ClusterJson; output: () => string }> {
    let output = '';
    pidsSeen.clear();
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('QUIRE_')));
    child = spawn(process.execPath, [cliPath, 'dev', '--data-dir', dir, '--nodes', '2', '--partitions', '8', ...extra], { env: clean });
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    await eventually('quire dev to be ready', 90_000, async () => output.includes('Quire is ready'));
    return { json: readClusterJson(), output: () => output };
  }

  async function stopDev(): Promise<number | null> {
    const c = child;
    if (c === undefined) return null;
    const exit = new Promise<number | null>((resolve) => c.once('exit', (code) => resolve(code)));
    c.kill('SIGINT');
    const code = await exit;
    child = undefined;
    return code;
  }

  /** Puts through router `via` and reads the value back through every router. */
  async function answersThroughEveryRouter(json: ClusterJson, key: string, via: string): Promise<boolean> {
    const put = await runCli(['put', key, via], { QUIRE_ROUTER: via });
    if (put.code !== 0) return false;
    for (const router of json.routers) {
      const got = await runCli(['get', key], { QUIRE_ROUTER: router });
      if (got.code !== 0 || got.stdout !== `${via}\n`) return false;
    }
    return true;
  }

  let dev: { json: ClusterJson; output: () => string };

  it('starts etcd, a coordinator, the data nodes and two routers, shows progress and writes cluster.json', async () => {
    dev = await startDev('--routers', '2');
    const { json, output } = dev;
    expect(output()).toContain('(2 data nodes, 1 coordinator(s), 2 routers)');
    expect(output()).toMatch(/Starting etcd on 127\.0\.0\.1:\d+/);
    expect(output()).toMatch(/Started 1 coordinator\(s\), 2 data node\(s\) and 2 routers on 127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+/);
    expect(output()).toMatch(/Cluster ready: data nodes live 2\/2, partitions with a live leader 8\/8/);
    expect(json.routers).toHaveLength(2);
    expect(json.router).toBe(json.routers[0]);
    expect(new Set(json.routers).size).toBe(2);
    expect(output()).toContain(`Routers: ${json.routers.join(', ')}`);
    expect(output()).toContain(`export QUIRE_ROUTER=${json.routers.join(',')}`);
    expect(json.processes.map((p) => `${p.role}:${p.id}`)).toEqual(['etcd:etcd', 'coordinator:coordinator-1', 'datanode:node-1', 'datanode:node-2', 'router:router-1', 'router:router-2']);
    expect(json.processes.filter((p) => p.role === 'router').map((p) => p.address)).toEqual(json.routers);
    for (const p of json.processes) {
      expect(alive(p.pid)).toBe(true);
      expect(p.address).toMatch(/^127\.0\.0\.1:\d+$/);
    }
    expect(json.processes.filter((p) => p.metrics !== undefined)).toHaveLength(5);
    expect((await runCli(['put', 'persist', 'me'], { QUIRE_ROUTER: json.router })).code).toBe(0);
    for (const router of json.routers) expect(await runCli(['get', 'persist'], { QUIRE_ROUTER: router })).toMatchObject({ code: 0, stdout: 'me\n' });
  });

  it('restarts a data node and a router killed with kill -9, logs each exit and restart, and rewrites cluster.json with their new pids', async () => {
    const before = readClusterJson();
    const killed = { 'node-2': pidOf(before, 'node-2'), 'router-2': pidOf(before, 'router-2') };
    for (const pid of Object.values(killed)) process.kill(pid, 'SIGKILL');
    const after = await eventually('node-2 and router-2 to be restarted with new pids in cluster.json', 30_000, async () => {
      const json = readClusterJson();
      const back = Object.entries(killed).every(([id, old]) => {
        const pid = pidOf(json, id);
        return pid !== old && alive(pid);
      });
      return back ? json : undefined;
    });
    for (const [id, old] of Object.entries(killed)) {
      expect(alive(old)).toBe(false);
      expect(dev.output()).toMatch(new RegExp(`quire dev: ${id} exited unexpectedly \\(signal SIGKILL\\) after [\\d.]+ s; restarting it in 0\\.5 s; its log is \\S+${id}\\.log`));
      expect(dev.output()).toContain(`quire dev: restarted ${id} (pid ${pidOf(after, id)})`);
    }
    // Everything else kept its pid, and the restarted router serves on the same address.
    for (const p of before.processes.filter((x) => !(x.id in killed))) expect(pidOf(after, p.id)).toBe(p.pid);
    expect(after.routers).toEqual(before.routers);
    await eventually('the cluster to answer through both routers', 60_000, async () => {
      for (const router of after.routers) if (!(await answersThroughEveryRouter(after, 'after-restart', router))) return false;
      return true;
    });
  });

  it('stops every process it started on Ctrl-C, restarted ones included, and keeps the data for the next start', async () => {
    const last = readClusterJson();
    expect(pidsSeen.size).toBe(last.processes.length + 2);
    expect(await stopDev()).toBe(0);
    expect(dev.output()).toContain('quire dev: SIGINT: stopping the cluster');
    for (const pid of pidsSeen) expect(alive(pid), `pid ${pid}`).toBe(false);
    expect(existsSync(join(dir, 'cluster.json'))).toBe(false);
    // Stopping is not an unexpected exit: nothing was restarted while stopping.
    expect(dev.output().split('quire dev: SIGINT')[1]).not.toMatch(/restart/);

    const { json, output } = await startDev();
    expect(output()).toContain('restarting a cluster');
    expect(json.routers).toHaveLength(1);
    const got = await runCli(['get', 'persist'], { QUIRE_ROUTER: json.router });
    expect(got).toMatchObject({ code: 0, stdout: 'me\n' });
    expect(await stopDev()).toBe(0);
  });

  it('quire dev node add starts one more data node that gets replicas; quire dev node remove drains and stops one; a restart keeps the new shape', async () => {
    const { json, output } = await startDev();
    const env = { QUIRE_ROUTER: json.router };
    const added = await runCli(['dev', 'node', 'add', '--data-dir', dir]);
    expect(added.stderr).toMatch(/^started node-3 \(pid \d+\); waiting for it to register$/m);
    expect(added.stdout).toMatch(/^OK node-3 joined; the coordinator moves replicas onto it/m);
    expect(added.code).toBe(0);
    expect(output()).toMatch(/quire dev: started node-3 \(pid \d+\); its log is \S+node-3\.log/);
    expect(readClusterJson().processes.map((p) => p.id)).toContain('node-3');
    // 8 partitions x 2 replicas over three nodes: 6/5/5.
    await eventually('node-3 to hold replicas and the moves to end', 60_000, async () => {
      const s = JSON.parse((await runCli(['status', '--json'], env)).stdout) as { nodes: { nodeId: string; replicaCount: number }[]; moves?: unknown[] };
      const counts = s.nodes.map((n) => n.replicaCount).sort();
      return (s.moves ?? []).length === 0 && counts.join(',') === '5,5,6';
    });
    const removed = await runCli(['dev', 'node', 'remove', 'node-1', '--data-dir', dir]);
    expect(removed.stderr).toMatch(/^node-1 is draining: [56] replica\(s\) to move away$/m);
    expect(removed.stdout).toMatch(/^OK node-1 drained and stopped; the coordinator forgot it$/m);
    expect(removed.code).toBe(0);
    expect(readClusterJson().processes.map((p) => p.id)).not.toContain('node-1');
    expect(await runCli(['get', 'persist'], env)).toMatchObject({ code: 0, stdout: 'me\n' });
    await eventually('node-1 to be forgotten', 30_000, async () => !/^node-1\s/m.test((await runCli(['status'], env)).stdout));
    const unknown = await runCli(['dev', 'node', 'remove', 'node-9', '--data-dir', dir]);
    expect(unknown).toMatchObject({ code: 1, stderr: 'quire: no data node "node-9" runs in this quire dev\n' });
    expect(await stopDev()).toBe(0);

    const again = await startDev();
    expect(again.json.processes.filter((p) => p.role === 'datanode').map((p) => p.id)).toEqual(['node-2', 'node-3']);
    expect(await runCli(['get', 'persist'], { QUIRE_ROUTER: again.json.router })).toMatchObject({ code: 0, stdout: 'me\n' });
    expect(await stopDev()).toBe(0);
    const none = await runCli(['dev', 'node', 'add', '--data-dir', dir]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no quire dev is running with this --data-dir/);
  });

  it('with --no-restart, leaves a killed process down and says so', async () => {
    const { json, output } = await startDev('--no-restart');
    const victim = pidOf(json, 'node-2');
    process.kill(victim, 'SIGKILL');
    await eventually('the exit line', 10_000, async () => output().includes('quire dev: node-2 exited unexpectedly (signal SIGKILL)'));
    expect(output()).toMatch(/quire dev: node-2 exited unexpectedly \(signal SIGKILL\) after [\d.]+ s; not restarting it \(--no-restart\); its log is \S+node-2\.log/);
    // Longer than the first backoff (0.5 s) and a data node's start: it would be back by now.
    await new Promise((r) => setTimeout(r, 3_000));
    expect(output()).not.toContain('restarted node-2');
    expect(pidOf(readClusterJson(), 'node-2')).toBe(victim);
    expect(alive(victim)).toBe(false);
    // Data node 2 stays down: once its lease runs out the cluster shows it as not live.
    await eventually('node-2 to show as not live', 15_000, async () => /^node-2\s+-\s+NO\b/m.test((await runCli(['status'], { QUIRE_ROUTER: json.router })).stdout));
    expect(await stopDev()).toBe(0);
    for (const pid of pidsSeen) expect(alive(pid), `pid ${pid}`).toBe(false);
  });
});
