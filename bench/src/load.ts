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

/** Runs a closed-loop load and returns the measured period's figures. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  let latencies = new Float64Array(1 << 16);
  let ops = 0;
  let errors = 0;
  let firstError: string | undefined;
  let issued = 0;
  const start = performance.now();
  const measureFrom = start + options.warmupMs;
  const end = measureFrom + options.durationMs;
  const progressIntervalMs = options.progressIntervalMs ?? 2_000;
  let nextProgress = measureFrom + progressIntervalMs;

  const record = (latencyUs: number): void => {
    if (ops === latencies.length) {
      const grown = new Float64Array(latencies.length * 2);
      grown.set(latencies);
      latencies = grown;
    }
    latencies[ops++] = latencyUs;
  };

  const worker = async (): Promise<void> => {
    for (;;) {
      const t0 = performance.now();
      if (t0 >= end) return;
      let failed = false;
      try {
        await options.op(issued++);
      } catch (err) {
        failed = true;
        if (t0 >= measureFrom) {
          errors++;
          firstError ??= err instanceof Error ? err.message : String(err);
        }
      }
      const t1 = performance.now();
      // Only operations that started and finished inside the measured window count.
      if (!failed && t0 >= measureFrom && t1 <= end) record((t1 - t0) * 1_000);
      if (t1 >= nextProgress) {
        nextProgress += progressIntervalMs;
        options.onProgress?.(ops, t1 - measureFrom);
      }
    }
  };
  await Promise.all(Array.from({ length: options.inFlight }, worker));
  return { ops, errors, firstError, elapsedMs: options.durationMs, latenciesUs: latencies.subarray(0, ops) };
}
