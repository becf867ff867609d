/**
 * Process faults (§6.5 of the test plan): kill -9 and restart, pause with SIGSTOP and resume
 * with SIGCONT, and power loss — kill -9, then keep only what the node's loop-mounted disk had
 * received (loop-disk.ts), then restart on that copy.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { QuireClient } from '@quire/client';
import type { Rng } from '@quire/common';
import { type ChaosCluster, type ChaosProcess } from '../harness/chaos-cluster.js';
import { freezerRoot, thawGroup } from '../harness/freezer.js';
import { type Nemesis, type NemesisLog } from './nemesis.js';
import { selectTargets, type TargetSelector } from './targets.js';

/** What a process nemesis needs. */
export interface ProcessNemesisDeps {
  readonly cluster: ChaosCluster;
  readonly log: NemesisLog;
  readonly rng: Rng;
  /** For selectors that read the cluster status (leader-of). */
  readonly client?: QuireClient;
}

abstract class ProcessNemesis implements Nemesis {
  abstract readonly name: string;
  protected affected: ChaosProcess[] = [];

  constructor(
    protected readonly deps: ProcessNemesisDeps,
    protected readonly selector: TargetSelector,
  ) {}

  protected abstract inject(p: ChaosProcess): Promise<Record<string, unknown>>;
  protected abstract recover(p: ChaosProcess): Promise<void>;

  async start(): Promise<void> {
    if (this.affected.length > 0) return;
    let targets: ChaosProcess[];
    try {
      targets = await selectTargets(this.deps.cluster, this.selector, this.deps.rng, this.deps.client);
    } catch (err) {
      this.deps.log.record(this.name, 'start', [], false, { error: (err as Error).message });
      return;
    }
    // Which partitions each data node leads right before the fault: with replication they move,
    // and the recovery time is measured on the partitions the victim led when it was hit.
    const led = await this.leadership(targets);
    for (const p of targets) {
      try {
        const details = { ...(await this.inject(p)), ...(led.has(p.id) ? { led: led.get(p.id) } : {}) };
        this.affected.push(p);
        this.deps.log.record(this.name, 'start', [p.id], true, details);
      } catch (err) {
        this.deps.log.record(this.name, 'start', [p.id], false, { error: (err as Error).message });
      }
    }
  }

  /** Partitions led by each targeted data node, from the cluster status (empty without a client). */
  private async leadership(targets: readonly ChaosProcess[]): Promise<Map<string, number[]>> {
    const out = new Map<string, number[]>();
    if (this.deps.client === undefined || !targets.some((p) => p.role === 'datanode')) return out;
    try {
      const status = await this.deps.client.clusterStatus();
      for (const ks of status.keyspaces) {
        for (const part of ks.partitions) {
          if (!targets.some((p) => p.id === part.leader)) continue;
          out.set(part.leader, [...(out.get(part.leader) ?? []), part.partitionId]);
        }
      }
    } catch {
      // No status (e.g. the router is cut off): the scenario falls back to the map at the start.
    }
    return out;
  }

  async stop(): Promise<void> {
    const list = this.affected;
    this.affected = [];
    for (const p of list) {
      try {
        await this.recover(p);
        this.deps.log.record(this.name, 'stop', [p.id], true, { pid: p.managed.pid });
      } catch (err) {
        this.deps.log.record(this.name, 'stop', [p.id], false, { error: (err as Error).message });
      }
    }
  }

  async heal(): Promise<void> {
    if (this.affected.length > 0) await this.stop();
  }
}

/** kill -9, and on stop() restart with the same arguments and data. */
export class KillNemesis extends ProcessNemesis {
  readonly name = 'kill';

  protected async inject(p: ChaosProcess): Promise<Record<string, unknown>> {
    const pid = p.managed.pid;
    if (pid === undefined) throw new Error(`${p.id} is not running`);
    p.managed.kill('SIGKILL');
    await p.managed.exited;
    return { signal: 'SIGKILL', pid };
  }

  protected async recover(p: ChaosProcess): Promise<void> {
    if (!p.managed.running) p.managed.start();
  }
}

/** SIGSTOP, and on stop() SIGCONT. */
export class PauseNemesis extends ProcessNemesis {
  readonly name = 'pause';

  protected async inject(p: ChaosProcess): Promise<Record<string, unknown>> {
    const pid = p.managed.pid;
    if (pid === undefined) throw new Error(`${p.id} is not running`);
    p.managed.kill('SIGSTOP');
    return { signal: 'SIGSTOP', pid };
  }

  protected async recover(p: ChaosProcess): Promise<void> {
    p.managed.kill('SIGCONT');
  }
}

/**
 * Freezes the process with the cgroup v1 freezer (every thread at once, invisible to the
 * process: no SIGSTOP/SIGCONT it could observe), and on stop() thaws it and moves it back.
 */
export class FreezeNemesis extends ProcessNemesis {
  readonly name = 'freeze';

  private group(p: ChaosProcess): string {
    return join(freezerRoot, `quire-chaos-${process.pid}-${p.id}`);
  }

  protected async inject(p: ChaosProcess): Promise<Record<string, unknown>> {
    const pid = p.managed.pid;
    if (pid === undefined) throw new Error(`${p.id} is not running`);
    if (!existsSync(freezerRoot)) throw new Error(`No cgroup v1 freezer at ${freezerRoot}`);
    const group = this.group(p);
    mkdirSync(group, { recursive: true });
    writeFileSync(join(group, 'cgroup.procs'), String(pid));
    writeFileSync(join(group, 'freezer.state'), 'FROZEN');
    return { cgroup: group, pid };
  }

  protected async recover(p: ChaosProcess): Promise<void> {
    const group = this.group(p);
    if (existsSync(group)) thawGroup(group);
  }
}

/** kill -9, then replace the node's disk with a crash copy (only what reached the device), then restart. */
export class PowerLossNemesis extends ProcessNemesis {
  readonly name = 'power-loss';

  protected async inject(p: ChaosProcess): Promise<Record<string, unknown>> {
    if (p.disk === undefined) throw new Error(`${p.id} has no loop disk; start the cluster with diskBytes`);
    const pid = p.managed.pid;
    if (pid === undefined) throw new Error(`${p.id} is not running`);
    p.managed.kill('SIGKILL');
    await p.managed.exited;
    const { crashImage } = await p.disk.powerLoss();
    return { signal: 'SIGKILL', pid, crashImage };
  }

  protected async recover(p: ChaosProcess): Promise<void> {
    if (!p.managed.running) p.managed.start();
  }
}
