/**
 * Clock faults with libfaketime (§6.6 of the test plan): each Quire process of a cluster
 * started with `clock: true` reads its wall-clock offset from its own file on every call, so
 * writing "+0.250" or "-1.5" there shifts Date.now() of that process at once (monotonic time
 * and timers are untouched). Bumps follow Jepsen: ±2^k ms for k in 2..18 (4 ms … 262 s).
 */
import { writeFileSync } from 'node:fs';
import type { Rng } from '@quire/common';
import { type ChaosCluster } from '../harness/chaos-cluster.js';
import { type Nemesis, type NemesisLog } from './nemesis.js';
import { selectTargets, type TargetSelector } from './targets.js';

/** Renders an offset in milliseconds as libfaketime's relative format ("+0.250", "-1.500"). */
export function faketimeOffset(offsetMs: number): string {
  const sign = offsetMs < 0 ? '-' : '+';
  return `${sign}${(Math.abs(offsetMs) / 1000).toFixed(3)}`;
}

/** A Jepsen-style random bump: ±2^k ms with k uniform in kMin..kMax. */
export function randomBumpMs(rng: Rng, kMin = 2, kMax = 18): number {
  const k = kMin + rng.below(kMax - kMin + 1);
  return (rng.next() < 0.5 ? -1 : 1) * 2 ** k;
}

/** Shifts the wall clock of the selected processes by a random bump; stop() and heal() reset it. */
export class ClockBumpNemesis implements Nemesis {
  readonly name = 'clock-bump';
  private bumped: string[] = [];

  constructor(
    private readonly deps: { readonly cluster: ChaosCluster; readonly log: NemesisLog; readonly rng: Rng },
    private readonly selector: TargetSelector,
    /** A fixed offset instead of a random bump. */
    private readonly offsetMs?: number,
  ) {}

  private set(id: string, offsetMs: number): void {
    const file = this.deps.cluster.process(id).clockFile;
    if (file === undefined) throw new Error(`${id} was not started under libfaketime; start the cluster with clock: true`);
    writeFileSync(file, `${faketimeOffset(offsetMs)}\n`);
  }

  async start(): Promise<void> {
    try {
      const targets = await selectTargets(this.deps.cluster, this.selector, this.deps.rng);
      const offsetMs = this.offsetMs ?? randomBumpMs(this.deps.rng);
      for (const p of targets) {
        this.set(p.id, offsetMs);
        this.bumped.push(p.id);
      }
      this.deps.log.record(this.name, 'start', targets.map((p) => p.id), true, { offsetMs });
    } catch (err) {
      this.deps.log.record(this.name, 'start', this.bumped, false, { error: (err as Error).message });
    }
  }

  async stop(): Promise<void> {
    const reset = this.bumped;
    this.bumped = [];
    for (const id of reset) this.set(id, 0);
    this.deps.log.record(this.name, 'stop', reset, true, { offsetMs: 0 });
  }

  async heal(): Promise<void> {
    if (this.bumped.length > 0) await this.stop();
  }
}

/**
 * Strobes the wall clock of the selected processes (Jepsen's clock strobe): while the fault
 * lasts, their offset flips between 0 and `deltaMs` every `periodMs`, so time runs back and
 * forth; stop() and heal() reset it to 0.
 */
export class ClockStrobeNemesis implements Nemesis {
  readonly name = 'clock-strobe';
  private strobed: string[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: { readonly cluster: ChaosCluster; readonly log: NemesisLog; readonly rng: Rng },
    private readonly selector: TargetSelector,
    private readonly settings: { readonly deltaMs: number; readonly periodMs: number },
  ) {}

  private set(id: string, offsetMs: number): void {
    const file = this.deps.cluster.process(id).clockFile;
    if (file === undefined) throw new Error(`${id} was not started under libfaketime; start the cluster with clock: true`);
    writeFileSync(file, `${faketimeOffset(offsetMs)}\n`);
  }

  async start(): Promise<void> {
    if (this.timer !== undefined) return;
    try {
      const targets = await selectTargets(this.deps.cluster, this.selector, this.deps.rng);
      this.strobed = targets.map((p) => p.id);
      let shifted = false;
      const flip = (): void => {
        shifted = !shifted;
        for (const id of this.strobed) this.set(id, shifted ? this.settings.deltaMs : 0);
      };
      flip();
      this.timer = setInterval(flip, this.settings.periodMs);
      this.deps.log.record(this.name, 'start', this.strobed, true, { ...this.settings });
    } catch (err) {
      this.deps.log.record(this.name, 'start', this.strobed, false, { error: (err as Error).message });
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    const reset = this.strobed;
    this.strobed = [];
    for (const id of reset) this.set(id, 0);
    this.deps.log.record(this.name, 'stop', reset, true, { offsetMs: 0 });
  }

  async heal(): Promise<void> {
    if (this.timer !== undefined || this.strobed.length > 0) await this.stop();
  }
}
