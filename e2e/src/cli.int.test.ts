import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@quire/cli';
import { quireVersion } from '@quire/common';
import { startTestCluster, type TestCluster } from './harness/test-cluster.js';
import { runCli } from './harness/cli.js';

describe('the quire CLI', () => {
  let t: TestCluster;
  let env: Record<string, string>;
  beforeAll(async () => {
    t = await startTestCluster('cli');
    env = { QUIRE_ROUTER: t.cluster.routerAddress };
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('says in one line that a router which is down cannot be reached, and exits 1', async () => {
    const port = await freePort();
    const r = await runCli(['get', 'k', '--router', `127.0.0.1:${port}`]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`Cannot reach router at 127\\.0\\.0\\.1:${port}.*UNAVAILABLE`));
  });

  it('puts, gets, deletes and scans with the documented exit codes', async () => {
    expect(await runCli(['put', 'cli/a', 'apple'], env)).toMatchObject({ code: 0, stdout: expect.stringMatching(/^OK version \d+\n$/) });
    expect(await runCli(['get', 'cli/a'], env)).toMatchObject({ code: 0, stdout: 'apple\n' });
    expect(await runCli(['put', 'cli/b', '-'], env, 'from stdin')).toMatchObject({ code: 0 });
    expect(await runCli(['get', 'cli/b'], env)).toMatchObject({ code: 0, stdout: 'from stdin\n' });
    const missing = await runCli(['get', 'cli/none'], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('not found');
    const scan = await runCli(['scan', '--prefix', 'cli/'], env);
    expect(scan).toMatchObject({ code: 0, stdout: 'cli/a\tapple\ncli/b\tfrom stdin\n' });
    expect(await runCli(['del', 'cli/a'], env)).toMatchObject({ code: 0 });
    expect((await runCli(['del', 'cli/a'], env)).code).toBe(2);
  });

  it('exits 3 on a compare-and-set mismatch and prints JSON with --json', async () => {
    const put = await runCli(['put', 'cli/cas', 'v1', '--json'], env);
    const { version } = JSON.parse(put.stdout) as { version: number };
    const stale = await runCli(['put', 'cli/cas', 'v2', '--expected-version', String(version + 1)], env);
    expect(stale.code).toBe(3);
    expect(stale.stderr).toContain(`current version is ${version}`);
    const ok = await runCli(['put', 'cli/cas', 'v2', '--expected-version', String(version)], env);
    expect(ok.code).toBe(0);
    const get = await runCli(['get', 'cli/cas', '--json'], env);
    expect(JSON.parse(get.stdout)).toEqual({ key: 'cli/cas', found: true, value: 'v2', version: version + 1 });
    const lines = (await runCli(['scan', '--prefix', 'cli/', '--json'], env)).stdout.trim().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as { key: string }).key)).toEqual(['cli/b', 'cli/cas']);
  });

  it('shows status for people and for machines', async () => {
    const human = await runCli(['status'], env);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/node-1 .* yes/);
    expect(human.stdout).toContain('Keyspace default: hash, 16 partitions');
    const json = JSON.parse((await runCli(['status', '--json'], env)).stdout) as { nodes: unknown[]; keyspaces: { partitions: unknown[] }[] };
    expect(json.nodes).toHaveLength(3);
    expect(json.keyspaces[0]?.partitions).toHaveLength(16);
  });

  it('takes --router and --json before the command as well as after it, as kubectl and etcdctl do', async () => {
    const router = t.cluster.routerAddress;
    expect(await runCli(['--router', router, 'put', 'cli/global', 'g1'])).toMatchObject({ code: 0, stdout: expect.stringMatching(/^OK version \d+\n$/) });
    expect(await runCli(['--router', router, '--json', 'get', 'cli/global'])).toMatchObject({ code: 0, stdout: expect.stringContaining('"value":"g1"') });
    expect(await runCli([`--router=${router}`, 'get', 'cli/global', '--json'])).toMatchObject({ code: 0, stdout: expect.stringContaining('"value":"g1"') });
    expect(await runCli(['get', 'cli/global', '--router', router])).toMatchObject({ code: 0, stdout: 'g1\n' });
    const notGlobal = await runCli(['--prefix', 'cli/', 'scan'], env);
    expect(notGlobal.code).toBe(64);
    expect(notGlobal.stderr).toBe('quire: Unknown option "--prefix" before the command; only --router, --keyspace, --timeout-ms, --json may come before it\n');
  });

  it('rejects bad command lines with exit 64 and prints --help and --version', async () => {
    expect((await runCli(['put', 'only-key'], env)).code).toBe(64);
    expect((await runCli(['frobnicate'], env)).code).toBe(64);
    expect((await runCli(['get', 'k', '--bogus'], env)).code).toBe(64);
    expect((await runCli(['datanode', '--bogus-flag', 'x'])).code).toBe(64);
    expect(await runCli(['--version'])).toMatchObject({ code: 0, stdout: `quire ${quireVersion}\n` });
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Exit codes');
    const dnHelp = await runCli(['datanode', '--help']);
    expect(dnHelp.stdout).toContain('--data-dir');
    expect(dnHelp.stdout).toContain('QUIRE_DATA_DIR');
  });
});
