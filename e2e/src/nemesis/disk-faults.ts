/**
 * Disk faults (§6.7 of the test plan). Disk full: fill a data node's loop-mounted filesystem
 * with a preallocated filler file so its next writes get ENOSPC; stop() deletes the filler and
 * restarts the node if the failed commit stopped it. fsync errors: below.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { QuireClient } from '@quire/client';
import type { Rng } from '@quire/common';
import { run } from '../harness/exec.js';
import { type ChaosCluster, type ChaosProcess } from '../harness/chaos-cluster.js';
import { type Nemesis, type NemesisLog } from './nemesis.js';
import { selectTargets, type TargetSelector } from './targets.js';

/** What a disk nemesis needs; the client reads the cluster status for leader-of and follower-only targets. */
export interface DiskNemesisDeps {
  readonly cluster: ChaosCluster;
  readonly log: NemesisLog;
  readonly rng: Rng;
  readonly client?: QuireClient;
}

const fillerName = 'quire-chaos-filler';
/** libfiu's failure points of fsync and fdatasync (one wildcard). */
const fsyncPoints = 'posix/io/sync/*';
/** How long a fiu-ctrl command may wait for the node to read it. */
const fiuControlTimeoutMs = 2_000;

/** How long a node that hit the fault may take to finish exiting before stop() decides it lives. */
const exitSettleMs = 1_000;

/**
 * How long heal() requires the nodes a disk fault touched to stay up. A node can stop well
 * after stop() looked: an fsync or write that began while the fault was on fails late, and a
 * restarted node reports the kernel's write-back error of its predecessor's failed writes on its
 * own first sync (Linux errseq: an error no one saw goes to the next opener), which with the WAL
 * engine comes with its first apply, seconds after it started serving.
 */
const lateCrashQuietMs = 5_000;
/** The longest heal() supervises them (a node failing for longer is a failure the run reports). */
const lateCrashWatchMaxMs = 30_000;
/** How often the supervisor looks. */
const lateCrashPollMs = 200;

/**
 * Restarts every node in `ids` that is down (the supervisor's part, as a kubelet restarts a
 * pod): a node that hit the fault stops by design, possibly after stop() decided it lived.
 * With `quietMs` 0 it looks once; otherwise it keeps looking until every node in `ids` has
 * stayed up for `quietMs` since the last restart (at most lateCrashWatchMaxMs). Records what it
 * restarted, so the report shows each late crash.
 */
async function restartLateCrashes(deps: { readonly cluster: ChaosCluster; readonly log: NemesisLog }, name: string, ids: ReadonlySet<string>, quietMs: number): Promise<void> {
  if (ids.size === 0) return;
  const restarted: string[] = [];
  const deadline = Date.now() + lateCrashWatchMaxMs;
  let quietSince = Date.now();
  for (;;) {
    for (const id of ids) {
      const p = deps.cluster.process(id);
      if (p.managed.running) continue;
      p.managed.start();
      restarted.push(id);
      quietSince = Date.now();
    }
    if (Date.now() - quietSince >= quietMs || Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, lateCrashPollMs));
  }
  if (restarted.length > 0) deps.log.record(name, 'heal', restarted, true, { restartedAfterLateCrash: restarted });
}

/**
 * Waits until `p` has exited or exitSettleMs passed: a node whose commit just failed is
 * exiting, and restarting must wait for that, or the restart is skipped and the node stays down.
 */
async function settle(p: ChaosProcess): Promise<void> {
  if (!p.managed.running) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p.managed.exited, new Promise<void>((resolve) => (timer = setTimeout(resolve, exitSettleMs)))]);
  clearTimeout(timer);
}

/** Fills the selected data nodes' disks. */
export class DiskFullNemesis implements Nemesis {
  readonly name = 'disk-full';
  private filled: string[] = [];
  /** Every node this nemesis has filled: one may crash of it after stop() (restartLateCrashes). */
  private readonly touched = new Set<string>();

  constructor(
    private readonly deps: DiskNemesisDeps,
    private readonly selector: TargetSelector,
  ) {}

  private mountPoint(id: string): string {
    const disk = this.deps.cluster.process(id).disk;
    if (disk === undefined) throw new Error(`${id} has no loop disk; start the cluster with diskBytes`);
    return disk.mountPoint;
  }

  async start(): Promise<void> {
    let targets: ChaosProcess[];
    try {
      targets = await selectTargets(this.deps.cluster, this.selector, this.deps.rng, this.deps.client);
    } catch (err) {
      // No leader now (a failover under way), or no node that leads nothing: this cycle injects nothing.
      this.deps.log.record(this.name, 'start', [], false, { error: (err as Error).message, selector: this.selector.kind });
      return;
    }
    for (const p of targets) {
      try {
        const mount = this.mountPoint(p.id);
        const free = Number((await run('df', ['--output=avail', '-B1', mount])).split('\n')[1]?.trim() ?? '0');
        await run('fallocate', ['-l', String(Math.max(free, 4096)), join(mount, fillerName)]).catch(async () => {
          // fallocate stops at ENOSPC having allocated what it could; the disk is full either way.
        });
        this.filled.push(p.id);
        this.touched.add(p.id);
        const left = Number((await run('df', ['--output=avail', '-B1', mount])).split('\n')[1]?.trim() ?? '-1');
        this.deps.log.record(this.name, 'start', [p.id], true, { filledBytes: free, freeBytesLeft: left, selector: this.selector.kind });
      } catch (err) {
        this.deps.log.record(this.name, 'start', [p.id], false, { error: (err as Error).message });
      }
    }
  }

  async stop(): Promise<void> {
    const list = this.filled;
    this.filled = [];
    const restarted: string[] = [];
    for (const id of list) {
      rmSync(join(this.mountPoint(id), fillerName), { force: true });
      const p = this.deps.cluster.process(id);
      await settle(p);
      if (!p.managed.running) {
        p.managed.start();
        restarted.push(id);
      }
    }
    this.deps.log.record(this.name, 'stop', list, true, { restartedAfterCrash: restarted });
    // A node filled in an earlier cycle that crashed after that cycle's stop().
    await restartLateCrashes(this.deps, this.name, this.touched, 0);
  }

  async heal(): Promise<void> {
    if (this.filled.length > 0) await this.stop();
    await restartLateCrashes(this.deps, this.name, this.touched, lateCrashQuietMs);
  }
}

/**
 * fsync errors (§6.7 of the test plan): data nodes started with libfiu (`fiu: true`) get EIO
 * from every fsync and fdatasync while the fault lasts (`fiu-ctrl` over the node's control
 * FIFO). A data node must stop on a failed commit rather than retry or serve unsynced state
 * (PostgreSQL's fsyncgate lesson), so stop() disables the failure and restarts a node that
 * exited; the log records whether it did.
 */
export class FsyncErrorNemesis implements Nemesis {
  readonly name = 'fsync-error';
  /** Processes this nemesis touched (even when the command failed), with the pid it targeted. */
  private failing: { id: string; pid: number }[] = [];
  /** Every node this nemesis has failed: one may crash of it after stop() (restartLateCrashes). */
  private readonly touched = new Set<string>();

  constructor(
    private readonly deps: DiskNemesisDeps,
    private readonly selector: TargetSelector,
  ) {}

  /**
   * Sends one fiu-ctrl command. One wildcard command covers fsync and fdatasync at once: the
   * node may die on the very next commit, and a second command would then block on a FIFO
   * nobody reads. The short timeout covers a node that died before it read the command.
   */
  private async control(id: string, pid: number, command: 'enable' | 'disable'): Promise<void> {
    const prefix = this.deps.cluster.process(id).fiuControl;
    if (prefix === undefined) throw new Error(`${id} was not started under libfiu; start the cluster with fiu: true`);
    await run('fiu-ctrl', ['-f', prefix, '-c', `${command} name=${fsyncPoints}`, String(pid)], { timeoutMs: fiuControlTimeoutMs });
  }

  async start(): Promise<void> {
    let targets: ChaosProcess[];
    try {
      targets = await selectTargets(this.deps.cluster, this.selector, this.deps.rng, this.deps.client);
    } catch (err) {
      // No leader now (a failover under way), or no node that leads nothing: this cycle injects nothing.
      this.deps.log.record(this.name, 'start', [], false, { error: (err as Error).message, selector: this.selector.kind });
      return;
    }
    for (const p of targets) {
      const pid = p.managed.pid;
      if (pid === undefined) {
        this.deps.log.record(this.name, 'start', [p.id], false, { error: `${p.id} is not running` });
        continue;
      }
      this.failing.push({ id: p.id, pid });
      this.touched.add(p.id);
      try {
        await this.control(p.id, pid, 'enable');
        this.deps.log.record(this.name, 'start', [p.id], true, { pid, points: fsyncPoints, selector: this.selector.kind });
      } catch (err) {
        // The command can only fail to be read when the node is gone — killed by the fault itself.
        const diedOfIt = p.managed.pid !== pid;
        this.deps.log.record(this.name, 'start', [p.id], diedOfIt, diedOfIt ? { pid, points: fsyncPoints, exitedBeforeAcknowledging: true, selector: this.selector.kind } : { error: (err as Error).message });
      }
    }
  }

  async stop(): Promise<void> {
    const list = this.failing;
    this.failing = [];
    for (const { id, pid } of list) {
      const p = this.deps.cluster.process(id);
      // The FIFO belongs to the pid: a node that already exited needs no disabling.
      if (p.managed.pid === pid) await this.control(id, pid, 'disable').catch(() => undefined);
      await settle(p);
      const crashed = p.managed.pid !== pid;
      if (!p.managed.running) p.managed.start();
      this.deps.log.record(this.name, 'stop', [id], true, { crashedOnFsyncError: crashed, pid: p.managed.pid });
    }
    await restartLateCrashes(this.deps, this.name, this.touched, 0);
  }

  async heal(): Promise<void> {
    if (this.failing.length > 0) await this.stop();
    await restartLateCrashes(this.deps, this.name, this.touched, lateCrashQuietMs);
  }
}
