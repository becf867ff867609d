/**
 * Disk-full faults (§6.7 of the test plan): fill a data node's loop-mounted filesystem with a
 * preallocated filler file so its next writes get ENOSPC; stop() and heal() delete the filler.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { type Rng } from '@quire/common';
import { run } from '../harness/exec.js';
import { type ChaosCluster } from '../harness/chaos-cluster.js';
import { type Nemesis, type NemesisLog } from './nemesis.js';
import { selectTargets, type TargetSelector } from './targets.js';

const fillerName = 'quire-chaos-filler';

/** Fills the selected data nodes' disks. */
export class DiskFullNemesis implements Nemesis {
  readonly name = 'disk-full';
  private filled: string[] = [];

  constructor(
    private readonly deps: { readonly cluster: ChaosCluster; readonly log: NemesisLog; readonly rng: Rng },
    private readonly selector: TargetSelector,
  ) {}

  private mountPoint(id: string): string {
    const disk = this.deps.cluster.process(id).disk;
    if (disk === undefined) throw new Error(`${id} has no loop disk; start the cluster with diskBytes`);
    return disk.mountPoint;
  }

  async start(): Promise<void> {
    const targets = await selectTargets(this.deps.cluster, this.selector, this.deps.rng);
    for (const p of targets) {
      try {
        const mount = this.mountPoint(p.id);
        const free = Number((await run('df', ['--output=avail', '-B1', mount])).split('\n')[1]?.trim() ?? '0');
        await run('fallocate', ['-l', String(Math.max(free, 4096)), join(mount, fillerName)]).catch(async () => {
          // fallocate stops at ENOSPC having allocated what it could; the disk is full either way.
        });
        this.filled.push(p.id);
        const left = Number((await run('df', ['--output=avail', '-B1', mount])).split('\n')[1]?.trim() ?? '-1');
        this.deps.log.record(this.name, 'start', [p.id], true, { filledBytes: free, freeBytesLeft: left });
      } catch (err) {
        this.deps.log.record(this.name, 'start', [p.id], false, { error: (err as Error).message });
      }
    }
  }

  async stop(): Promise<void> {
    const list = this.filled;
    this.filled = [];
    for (const id of list) rmSync(join(this.mountPoint(id), fillerName), { force: true });
    this.deps.log.record(this.name, 'stop', list, true);
  }

  async heal(): Promise<void> {
    if (this.filled.length > 0) await this.stop();
  }
}
