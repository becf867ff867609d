/**
 * Clock faults with libfaketime (§6.6 of the test plan): each Quire process of a cluster
 * started with `clock: true` reads its wall-clock offset from its own file on every call, so
 * writing "+0.250" or "-1.5" there shifts Date.now() of that process at once (monotonic time
 * and timers are untouched). Bumps follow Jepsen: ±2^k ms for k in 2..18 (4 ms … 262 s).
 *
 * Clock rates: in a cluster started with `clockRate: true`, data nodes fake monotonic time too,
 * so writing "+0 x0.5" makes a node's wall clock, performance.now() and timers all run at half
 * speed from then on (libfaketime's speed factor, smoothed by FAKETIME_XRESET) — the slow clock
 * that leader leases assume away (RFC 0001 "Leader leases": rates differ by less than 1 %).
 */
import { writeFileSync } from 'node:fs';
import type { QuireClient } from '@quire/client';
import type { Rng } from '@quire/common';
import { type ChaosCluster } from '../harness/chaos-cluster.js';
import { type Nemesis, type NemesisLog } from './nemesis.js';
import { selectTargets, type TargetSelector } from './targets.js';

/** Renders an offset in milliseconds as libfaketime's relative format ("+0.250", "-1.500"). */
export function faketimeOffset(offsetMs: number): string {
  const sign = offsetMs < 0 ? '-' : '+';
  return `${sign}${(Math.abs(offsetMs) / 1000).toFixed(3)}`;
}

/** Renders a clock rate as libfaketime's speed setting with a zero offset ("+0 x0.5"). */
export function faketimeRate(rate: number): string {
  if (!(Number.isFinite(rate) && rate > 0 && rate <= 100)) throw new Error(`Clock rate ${rate} must be in (0, 100]`);
  return `+0 x${rate}`;
}

/** What a clock nemesis needs; the client reads the cluster status for leader-of and follower-only targets. */
export interface ClockNemesisDeps {
  readonly cluster: ChaosCluster;
  readonly log: NemesisLog;
  readonly rng: Rng;
  readonly client?: QuireClient;
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
    private readonly deps: ClockNemesisDeps,
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
      const targets = await selectTargets(this.deps.cluster, this.selector, this.deps.rng, this.deps.client);
      const offsetMs = this.offsetMs ?? randomBumpMs(this.deps.rng);
      for (const p of targets) {
        this.set(p.id, offsetMs);
        this.bumped.push(p.id);
      }
      this.deps.log.record(this.name, 'start', targets.map((p) => p.id), true, { offsetMs, selector: this.selector.kind });
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
    private readonly deps: ClockNemesisDeps,
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
      const targets = await selectTargets(this.deps.cluster, this.selector, this.deps.rng, this.deps.client);
      this.strobed = targets.map((p) => p.id);
      let shifted = false;
      const flip = (): void => {
        shifted = !shifted;
        for (const id of this.strobed) this.set(id, shifted ? this.settings.deltaMs : 0);
      };
      flip();
      this.timer = setInterval(flip, this.settings.periodMs);
      this.deps.log.record(this.name, 'start', this.strobed, true, { ...this.settings, selector: this.selector.kind });
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

/**
 * Changes the clock rate of the selected data nodes (a cluster started with `clockRate: true`):
 * while the fault lasts their wall clock, monotonic clock and timers run at `rate` times real
 * speed; stop() and heal() set the rate back to 1. The change is continuous (no jump).
 */
export class ClockRateNemesis implements Nemesis {
  readonly name = 'clock-rate';
  private changed: string[] = [];

  constructor(
    private readonly deps: ClockNemesisDeps,
    private readonly selector: TargetSelector,
    private readonly rate: number,
  ) {
    faketimeRate(rate);
  }

  private set(id: string, rate: number): void {
    const p = this.deps.cluster.process(id);
    if (p.clockFile === undefined || p.role !== 'datanode' || this.deps.cluster.options.clockRate !== true) {
      throw new Error(`${id} cannot change its clock rate; start the cluster with clockRate: true and target data nodes`);
    }
    writeFileSync(p.clockFile, `${faketimeRate(rate)}\n`);
  }

  async start(): Promise<void> {
    try {
      const targets = await selectTargets(this.deps.cluster, this.selector, this.deps.rng, this.deps.client);
      for (const p of targets) {
        this.set(p.id, this.rate);
        this.changed.push(p.id);
      }
      this.deps.log.record(this.name, 'start', targets.map((p) => p.id), true, { rate: this.rate, selector: this.selector.kind });
    } catch (err) {
      this.deps.log.record(this.name, 'start', this.changed, false, { error: (err as Error).message });
    }
  }

  async stop(): Promise<void> {
    const reset = this.changed;
    this.changed = [];
    for (const id of reset) this.set(id, 1);
    this.deps.log.record(this.name, 'stop', reset, true, { rate: 1 });
  }

  async heal(): Promise<void> {
    if (this.changed.length > 0) await this.stop();
  }
}
