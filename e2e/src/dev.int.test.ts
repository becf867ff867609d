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
  afterAll(() => {
    child?.kill('SIGKILL');
    if (process.env.QUIRE_KEEP_TEST_DIRS !== '1') rmSync(dir, { recursive: true, force: true });
  });

  async function startDev(): Promise<{ json: ClusterJson; output: () => string }> {
    let output = '';
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('QUIRE_')));
    child = spawn(process.execPath, [cliPath, 'dev', '--data-dir', dir, '--nodes', '2', '--partitions', '8'], { env: clean });
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    await eventually('quire dev to be ready', 90_000, async () => output.includes('Quire is ready'));
    const json = JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')) as ClusterJson;
    return { json, output: () => output };
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

  it('starts etcd, a coordinator, the data nodes and a router, shows progress and writes cluster.json', async () => {
    const { json, output } = await startDev();
    expect(output()).toMatch(/Starting etcd on 127\.0\.0\.1:\d+/);
    expect(output()).toMatch(/Cluster ready: data nodes live 2\/2, partitions with a live leader 8\/8/);
    expect(output()).toContain(`Router: ${json.router}`);
    expect(json.processes.map((p) => `${p.role}:${p.id}`)).toEqual(['etcd:etcd', 'coordinator:coordinator-1', 'datanode:node-1', 'datanode:node-2', 'router:router-1']);
    for (const p of json.processes) {
      expect(alive(p.pid)).toBe(true);
      expect(p.address).toMatch(/^127\.0\.0\.1:\d+$/);
    }
    expect(json.processes.filter((p) => p.metrics !== undefined)).toHaveLength(4);
    expect((await runCli(['put', 'persist', 'me'], { QUIRE_ROUTER: json.router })).code).toBe(0);
  });

  it('stops every process on Ctrl-C and keeps the data for the next start on the same directory', async () => {
    const before = JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')) as ClusterJson;
    expect(await stopDev()).toBe(0);
    for (const p of before.processes) expect(alive(p.pid)).toBe(false);
    expect(existsSync(join(dir, 'cluster.json'))).toBe(false);
    const { json, output } = await startDev();
    expect(output()).toContain('restarting a cluster');
    const got = await runCli(['get', 'persist'], { QUIRE_ROUTER: json.router });
    expect(got).toMatchObject({ code: 0, stdout: 'me\n' });
    expect(await stopDev()).toBe(0);
  });
});
