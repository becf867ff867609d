/**
 * ManagedProcess's supervision with real child processes (small `node -e` scripts) and short
 * backoff delays: unexpected exits are restarted on the policy's schedule, requested ones are
 * not, and a restart that is pending when stop() or unsupervise() is called never happens.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ManagedProcess, type UnexpectedExit } from './managed-process.js';
import type { RestartPolicy } from './restart-policy.js';

const dir = mkdtempSync(join(tmpdir(), 'quire-managed-process-'));
const fast: RestartPolicy = { backoffMsMin: 50, backoffMsMax: 200, stableUptimeMsMin: 60_000 };
const started: ManagedProcess[] = [];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(10);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A process running `script` under Node.js, with every report recorded. */
function child(id: string, script: string): { p: ManagedProcess; exits: UnexpectedExit[]; restarts: number[]; starts: number[] } {
  const p = new ManagedProcess({ role: 'datanode', id, command: process.execPath, args: ['-e', script], env: {}, address: '127.0.0.1:1', metricsAddress: undefined, logPath: join(dir, `${id}.log`) });
  const record = { p, exits: [] as UnexpectedExit[], restarts: [] as number[], starts: [] as number[] };
  p.onUnexpectedExit = (_, report) => record.exits.push(report);
  p.onRestart = (proc) => record.restarts.push(proc.pid ?? 0);
  p.onStart = (proc) => record.starts.push(proc.pid ?? 0);
  started.push(p);
  return record;
}

const forever = 'setInterval(() => {}, 1000)';

afterEach(async () => {
  await Promise.all(started.splice(0).map((p) => p.stop(2_000)));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ManagedProcess supervision', () => {
  it('restarts a process that keeps exiting, doubling the delay up to the cap', async () => {
    const c = child('crasher', 'setTimeout(() => process.exit(3), 20)');
    c.p.supervise(fast);
    c.p.start();
    await until('four exits', () => c.exits.length >= 4);
    c.p.unsupervise();
    expect(c.exits.slice(0, 4).map((e) => e.exit)).toEqual(Array(4).fill({ code: 3, signal: null }));
    expect(c.exits.slice(0, 4).map((e) => e.decision)).toEqual([
      { action: 'restart', delayMs: 50, exitStreak: 1 },
      { action: 'restart', delayMs: 100, exitStreak: 2 },
      { action: 'restart', delayMs: 200, exitStreak: 3 },
      { action: 'restart', delayMs: 200, exitStreak: 4 },
    ]);
    expect(c.restarts.length).toBeGreaterThanOrEqual(3);
    expect(new Set(c.starts).size).toBe(c.starts.length);
  });

  it('restarts a process killed from outside (kill -9 of its pid) with a new pid, and reports the signal', async () => {
    const c = child('victim', forever);
    c.p.supervise(fast);
    c.p.start();
    const first = c.p.pid ?? 0;
    process.kill(first, 'SIGKILL');
    await until('the restart', () => c.restarts.length === 1);
    expect(c.exits).toHaveLength(1);
    expect(c.exits[0]?.exit).toEqual({ code: null, signal: 'SIGKILL' });
    expect(c.exits[0]?.decision).toEqual({ action: 'restart', delayMs: 50, exitStreak: 1 });
    expect(c.p.pid).toBeDefined();
    expect(c.p.pid).not.toBe(first);
    expect(c.p.lastPid).toBe(c.p.pid);
    expect(alive(c.p.pid ?? 0)).toBe(true);
  });

  it('starts a new streak after a run longer than the stable uptime', async () => {
    const c = child('stable', 'setTimeout(() => process.exit(1), 150)');
    c.p.supervise({ ...fast, stableUptimeMsMin: 100 });
    c.p.start();
    await until('three exits', () => c.exits.length >= 3);
    c.p.unsupervise();
    expect(c.exits.slice(0, 3).map((e) => e.decision)).toEqual(Array(3).fill({ action: 'restart', delayMs: 50, exitStreak: 1 }));
    expect(c.exits[0]?.uptimeMs).toBeGreaterThanOrEqual(100);
  });

  it('does not restart a process killed or stopped through the API (a deliberate fault)', async () => {
    const c = child('deliberate', forever);
    c.p.supervise(fast);
    c.p.start();
    c.p.kill('SIGKILL');
    await c.p.exited;
    c.p.start();
    await c.p.stop(2_000);
    await sleep(300);
    expect(c.p.running).toBe(false);
    expect(c.p.restartPending).toBe(false);
    expect(c.exits).toEqual([]);
    expect(c.starts).toHaveLength(2);
  });

  it('never starts a process whose restart was pending when stop() began', async () => {
    const c = child('pending-stop', forever);
    c.p.supervise({ ...fast, backoffMsMin: 1_000, backoffMsMax: 1_000 });
    c.p.start();
    process.kill(c.p.pid ?? 0, 'SIGKILL');
    await until('the exit', () => c.exits.length === 1);
    expect(c.p.restartPending).toBe(true);
    await c.p.stop(2_000);
    expect(c.p.restartPending).toBe(false);
    await sleep(1_300);
    expect(c.p.running).toBe(false);
    expect(c.starts).toHaveLength(1);
  });

  it('never starts a process whose restart was pending when supervision ended', async () => {
    const c = child('pending-unsupervise', forever);
    c.p.supervise({ ...fast, backoffMsMin: 1_000, backoffMsMax: 1_000 });
    c.p.start();
    process.kill(c.p.pid ?? 0, 'SIGKILL');
    await until('the exit', () => c.exits.length === 1);
    c.p.unsupervise();
    await sleep(1_300);
    expect(c.p.running).toBe(false);
    expect(c.starts).toHaveLength(1);
  });

  it('lets a start by hand take the place of a pending restart', async () => {
    const c = child('by-hand', forever);
    c.p.supervise({ ...fast, backoffMsMin: 1_000, backoffMsMax: 1_000 });
    c.p.start();
    process.kill(c.p.pid ?? 0, 'SIGKILL');
    await until('the exit', () => c.exits.length === 1);
    c.p.start();
    expect(c.p.restartPending).toBe(false);
    await sleep(1_300);
    expect(c.starts).toHaveLength(2);
    expect(c.restarts).toEqual([]);
  });

  it('reports an unexpected exit of an unsupervised process as staying down', async () => {
    const c = child('unsupervised', 'process.exit(5)');
    c.p.start();
    await until('the exit', () => c.exits.length === 1);
    expect(c.exits[0]?.exit).toEqual({ code: 5, signal: null });
    expect(c.exits[0]?.decision).toEqual({ action: 'stay-down', reason: 'restarts-off', exitStreak: 0 });
    await sleep(200);
    expect(c.starts).toHaveLength(1);
  });

  it('retries with backoff when the command cannot be spawned at all', async () => {
    const p = new ManagedProcess({ role: 'etcd', id: 'missing', command: join(dir, 'no-such-binary'), args: [], env: {}, address: '127.0.0.1:1', metricsAddress: undefined, logPath: join(dir, 'missing.log') });
    started.push(p);
    const exits: UnexpectedExit[] = [];
    p.onUnexpectedExit = (_, report) => exits.push(report);
    p.supervise(fast);
    p.start();
    await until('two failed spawns', () => exits.length >= 2);
    p.unsupervise();
    expect(exits[0]?.exit).toEqual({ code: 127, signal: null });
    expect(exits.slice(0, 2).map((e) => e.decision)).toEqual([
      { action: 'restart', delayMs: 50, exitStreak: 1 },
      { action: 'restart', delayMs: 100, exitStreak: 2 },
    ]);
  });
});
