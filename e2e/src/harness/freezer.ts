/**
 * Cleanup of the cgroup v1 freezer groups the freeze nemesis creates
 * (`/sys/fs/cgroup/freezer/quire-chaos-<pid>-<process>`): a frozen process cannot even die of
 * SIGKILL until it is thawed, so teardown thaws and removes every group of a run, and a new
 * run does the same for runs whose process is gone.
 */
import { existsSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { processAlive } from './pids.js';

/** The cgroup v1 freezer hierarchy. */
export const freezerRoot = '/sys/fs/cgroup/freezer';

/** Thaws one freezer group, moves its processes back to the root group and removes it. */
export function thawGroup(group: string): void {
  writeFileSync(join(group, 'freezer.state'), 'THAWED');
  for (const pid of readFileSync(join(group, 'cgroup.procs'), 'utf8').split('\n').filter((l) => l !== '')) {
    writeFileSync(join(freezerRoot, 'cgroup.procs'), pid);
  }
  rmdirSync(group);
}

/** Thaws and removes the freezer groups of run `runPid`, or of every dead run when undefined. */
export function thawFreezerGroups(runPid?: number): string[] {
  if (!existsSync(freezerRoot)) return [];
  const thawed: string[] = [];
  for (const name of readdirSync(freezerRoot)) {
    const m = /^quire-chaos-(\d+)-/.exec(name);
    if (m === null) continue;
    const owner = Number(m[1]);
    if (runPid === undefined ? processAlive(owner) : owner !== runPid) continue;
    const group = join(freezerRoot, name);
    try {
      thawGroup(group);
      thawed.push(name);
    } catch {
      // A process that exited meanwhile leaves nothing to move; the next cleanup retries.
    }
  }
  return thawed;
}
