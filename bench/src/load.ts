/**
 * A closed-loop load generator: `inFlight` workers each issue one operation, await it, and
 * issue the next, for a warm-up period (not recorded) and then a measured period. Latency is
 * measured per operation with the monotonic clock, in microseconds.
 */
import { performance } from 'node:perf_hooks';

/** One measured phase. */
export interface LoadResult {
  readonly ops: number;
  readonly errors: number;
  /** The first error seen, to explain a non-zero error count. */
  readonly firstError: string | undefined;
  readonly elapsedMs: number;
  readonly latenciesUs: Float64Array;
}

/** Options of a load phase. */
export interface LoadOptions {
  readonly inFlight: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Runs operation number `i`. */
  readonly op: (i: number) => Promise<unknown>;
  /** Called about every `progressIntervalMs` with the measured ops so far. */
  readonly onProgress?: (opsSoFar: number, elapsedMs: number) => void;
  readonly progressIntervalMs?: number;
}

/** What a measured period collects: latencies of completed operations, and failures. */
class Tally {
  private latencies = new Float64Array(1 << 16);
  ops = 0;
  errors = 0;
  firstError: string | undefined;

  /** Records a completed operation's latency in µs. */
  completed(latencyUs: number): void {
    if (this.ops === this.latencies.length) {
      const grown = new Float64Array(this.latencies.length * 2);
      grown.set(this.latencies);
      this.latencies = grown;
    }
    this.latencies[this.ops++] = latencyUs;
  }

  failed(err: unknown): void {
    this.errors++;
    this.firstError ??= err instanceof Error ? err.message : String(err);
  }

  result(elapsedMs: number): LoadResult {
    return { ops: this.ops, errors: this.errors, firstError: this.firstError, elapsedMs, latenciesUs: this.latencies.subarray(0, this.ops) };
  }
}

/** Runs a closed-loop load and returns the measured period's figures. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const tally = new Tally();
  let issued = 0;
  const start = performance.now();
  const measureFrom = start + options.warmupMs;
  const end = measureFrom + options.durationMs;
  const progressIntervalMs = options.progressIntervalMs ?? 2_000;
  let nextProgress = measureFrom + progressIntervalMs;

  const worker = async (): Promise<void> => {
    for (;;) {
      const t0 = performance.now();
      if (t0 >= end) return;
      let failed = false;
      try {
        await options.op(issued++);
      } catch (err) {
        failed = true;
        if (t0 >= measureFrom) tally.failed(err);
      }
      const t1 = performance.now();
      // Only operations that started and finished inside the measured window count.
      if (!failed && t0 >= measureFrom && t1 <= end) tally.completed((t1 - t0) * 1_000);
      if (t1 >= nextProgress) {
        nextProgress += progressIntervalMs;
        options.onProgress?.(tally.ops, t1 - measureFrom);
      }
    }
  };
  await Promise.all(Array.from({ length: options.inFlight }, worker));
  return tally.result(options.durationMs);
}

/** Options of a fixed-rate (open-loop) load phase. */
export interface FixedRateOptions {
  /** Operations started per second. */
  readonly ratePerSecond: number;
  /** Most operations in flight; a start that would exceed it waits (and the phase falls behind). */
  readonly inFlightMax: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Runs operation number `i`. */
  readonly op: (i: number) => Promise<unknown>;
  /** Called when the measured period starts, and once it ended and its operations finished. */
  readonly onMeasureStart?: () => void;
  readonly onMeasureEnd?: () => void;
}

/** What a fixed-rate phase did in its measured period. */
export interface FixedRateResult extends LoadResult {
  /** Operations started in the measured period; below the rate's due count when it fell behind. */
  readonly started: number;
  /** Operations the rate asked for in the measured period. */
  readonly due: number;
}

/**
 * Starts operations at a fixed rate (open loop, at most `inFlightMax` at once) for a warm-up
 * and then a measured period, and waits for the measured period's operations to finish. Latency
 * counts from each operation's start, so a system that falls behind shows it in `started`.
 */
export async function runFixedRate(options: FixedRateOptions): Promise<FixedRateResult> {
  const tally = new Tally();
  let issued = 0;
  let inFlight = 0;
  let drained: (() => void) | undefined;
  const one = async (i: number, measured: boolean): Promise<void> => {
    inFlight++;
    const t0 = performance.now();
    try {
      await options.op(i);
      if (measured) tally.completed((performance.now() - t0) * 1_000);
    } catch (err) {
      if (measured) tally.failed(err);
    }
    inFlight--;
    if (inFlight === 0) drained?.();
  };
  /** Starts operations at the rate for `ms`; returns how many it started and how many were due. */
  const drive = async (ms: number, measured: boolean): Promise<{ started: number; due: number }> => {
    const start = performance.now();
    let started = 0;
    let due = 0;
    for (;;) {
      const elapsed = performance.now() - start;
      due = Math.floor(Math.min(elapsed, ms) * options.ratePerSecond / 1_000);
      while (started < due && inFlight < options.inFlightMax) {
        started++;
        void one(issued++, measured);
      }
      if (elapsed >= ms) return { started, due };
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  };
  const drain = async (): Promise<void> => {
    if (inFlight > 0) await new Promise<void>((resolve) => (drained = resolve));
    drained = undefined;
  };
  await drive(options.warmupMs, false);
  await drain();
  options.onMeasureStart?.();
  const measureStart = performance.now();
  const { started, due } = await drive(options.durationMs, true);
  await drain();
  options.onMeasureEnd?.();
  return { ...tally.result(performance.now() - measureStart), started, due };
}
