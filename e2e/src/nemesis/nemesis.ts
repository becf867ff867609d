/**
 * The nemesis contract and its log. A nemesis injects one kind of fault: `start` injects it,
 * `stop` ends it the way the fault naturally ends (a killed process restarts, a paused one
 * resumes), and `heal` undoes whatever is still in effect — safe to call at any time, and
 * always called before final reads. Every action is recorded with the run's monotonic time, so
 * the report can draw faults on the same timeline as operations, and a run whose planned fault
 * never happened fails ("fault coverage").
 */
import { writeFileSync } from 'node:fs';
import { type RunClock } from '../workloads/recorder.js';

/** One nemesis action. */
export interface FaultEvent {
  /** Nanoseconds on the run clock. */
  readonly time: number;
  readonly nemesis: string;
  readonly action: 'start' | 'stop' | 'heal';
  /** Process or host ids affected. */
  readonly targets: readonly string[];
  /** Whether the action took effect. */
  readonly ok: boolean;
  /** What exactly was done (signal, grudge, offset, …), or the error. */
  readonly details: Readonly<Record<string, unknown>>;
}

/** The record of every nemesis action of a run. */
export class NemesisLog {
  private readonly list: FaultEvent[] = [];

  constructor(readonly clock: RunClock) {}

  /** Records an action. */
  record(nemesis: string, action: FaultEvent['action'], targets: readonly string[], ok: boolean, details: Readonly<Record<string, unknown>> = {}): FaultEvent {
    const e: FaultEvent = { time: this.clock.nowNs(), nemesis, action, targets: [...targets], ok, details };
    this.list.push(e);
    return e;
  }

  /** The events so far. */
  get events(): readonly FaultEvent[] {
    return this.list;
  }

  /** Faults that took effect (successful starts). */
  injected(nemesis?: string): FaultEvent[] {
    return this.list.filter((e) => e.action === 'start' && e.ok && (nemesis === undefined || e.nemesis === nemesis));
  }

  /** Writes the log as JSON lines. */
  write(path: string): void {
    writeFileSync(path, this.list.map((e) => JSON.stringify(e)).join('\n') + (this.list.length > 0 ? '\n' : ''));
  }
}

/** A fault injector. */
export interface Nemesis {
  readonly name: string;
  /** Injects the fault. */
  start(): Promise<void>;
  /** Ends the fault naturally (restart, resume, reconnect). */
  stop(): Promise<void>;
  /** Undoes anything still in effect; idempotent. */
  heal(): Promise<void>;
}

/** Runs start/stop cycles of `nemesis` every `intervalMs` until `signal` aborts, then heals. */
export async function cycle(nemesis: Nemesis, options: { readonly faultMs: number; readonly quietMs: number; readonly signal: AbortSignal }): Promise<void> {
  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      options.signal.addEventListener('abort', () => {
        clearTimeout(t);
        resolve();
      }, { once: true });
    });
  try {
    while (!options.signal.aborted) {
      await sleep(options.quietMs);
      if (options.signal.aborted) break;
      await nemesis.start();
      await sleep(options.faultMs);
      await nemesis.stop();
    }
  } finally {
    await nemesis.heal();
  }
}

/**
 * Several nemeses as one fault: start() starts each in order (a slow clock, then the cut that
 * makes it matter), stop() stops them in reverse order, heal() heals every one. Each records
 * its own actions under its own name, so fault coverage counts each.
 */
export class CombinedNemesis implements Nemesis {
  readonly name: string;

  constructor(private readonly parts: readonly Nemesis[]) {
    if (parts.length === 0) throw new Error('CombinedNemesis needs at least one nemesis');
    this.name = parts.map((p) => p.name).join('+');
  }

  async start(): Promise<void> {
    for (const p of this.parts) await p.start();
  }

  async stop(): Promise<void> {
    for (const p of [...this.parts].reverse()) await p.stop();
  }

  async heal(): Promise<void> {
    for (const p of [...this.parts].reverse()) await p.heal();
  }
}
