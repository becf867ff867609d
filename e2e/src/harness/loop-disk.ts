/**
 * A data node's disk as a loop-mounted ext4 image (§6.7 of the test plan), so the harness can
 * lose exactly what was not fsynced: power loss kills the node, copies the backing image at
 * once (the copy holds only what reached the loop device) and remounts the copy in place.
 * A small image gives ENOSPC for disk-full faults.
 *
 * Mount points carry the creating process id (`quire-chaos-<pid>-`), so a later run unmounts
 * what a killed run left behind (`removeStaleMounts`).
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { run, succeeds } from './exec.js';
import { processAlive } from './pids.js';

/** One loop-mounted filesystem. */
export class LoopDisk {
  /** The image currently mounted (changes after a power loss). */
  private image: string;
  private mounted = false;
  private generation = 0;

  private constructor(
    readonly name: string,
    /** Where the filesystem is mounted: the data node's --data-dir. */
    readonly mountPoint: string,
    private readonly imageDir: string,
  ) {
    this.image = join(imageDir, `${name}.img`);
  }

  /** Creates a sparse ext4 image of `sizeBytes` and mounts it at `mountPoint`. */
  static async create(name: string, imageDir: string, mountPoint: string, sizeBytes: number): Promise<LoopDisk> {
    mkdirSync(imageDir, { recursive: true });
    mkdirSync(mountPoint, { recursive: true });
    const disk = new LoopDisk(name, mountPoint, imageDir);
    await run('truncate', ['-s', String(sizeBytes), disk.image]);
    // -m 0: no blocks reserved for root (the servers run as root), so a full disk is full.
    await run('mkfs.ext4', ['-q', '-F', '-m', '0', disk.image]);
    await disk.mount();
    return disk;
  }

  /** The image file mounted now. */
  get imagePath(): string {
    return this.image;
  }

  private async mount(): Promise<void> {
    await run('mount', ['-o', 'loop', this.image, this.mountPoint]);
    this.mounted = true;
  }

  /** Unmounts (the process using it must be stopped first). */
  async unmount(): Promise<void> {
    if (!this.mounted) return;
    await run('umount', [this.mountPoint], { timeoutMs: 60_000 });
    this.mounted = false;
  }

  /**
   * Simulates power loss of a stopped node: copies the backing image as it is now (what the
   * loop device received, i.e. what was written back or fsynced), unmounts the original and
   * mounts the copy in its place. Call it immediately after kill -9.
   */
  async powerLoss(): Promise<{ crashImage: string }> {
    const crashImage = join(this.imageDir, `${this.name}.crash-${++this.generation}.img`);
    await run('cp', ['--sparse=always', this.image, crashImage], { timeoutMs: 120_000 });
    await this.unmount();
    const previous = this.image;
    this.image = crashImage;
    await this.mount();
    rmSync(previous, { force: true });
    return { crashImage };
  }

  /** Unmounts and deletes the images. */
  async destroy(): Promise<void> {
    await succeeds('umount', [this.mountPoint]);
    this.mounted = false;
    rmSync(this.imageDir, { recursive: true, force: true });
  }
}

/** Unmounts loop filesystems of harness runs whose process is gone. */
export async function removeStaleMounts(): Promise<string[]> {
  const removed: string[] = [];
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n');
  for (const line of mounts) {
    const mountPoint = line.split(' ')[1];
    const m = mountPoint === undefined ? null : /quire-chaos-(\d+)-/.exec(mountPoint);
    if (m === null || mountPoint === undefined) continue;
    if (!processAlive(Number(m[1])) && (await succeeds('umount', ['-l', mountPoint]))) removed.push(mountPoint);
  }
  return removed;
}
