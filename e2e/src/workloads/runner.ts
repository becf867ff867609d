/**
 * Runs a workload: `concurrency` logical clients, each a loop that invokes one operation,
 * waits for it, records the completion and goes on, until the run is told to stop. As in
 * Jepsen, a client whose operation ended indeterminate (`info`) retires its process number
 * and continues as a new one (process + concurrency): the old operation may still be in
 * flight, and a process never has two outstanding operations.
 */
import { errorLabel } from './outcome.js';
import { type HistoryRecorder, type HistoryValue, type Invocation } from './recorder.js';

/** What one operation did. */
export interface OperationOutcome {
  readonly type: 'ok' | 'fail' | 'info';
  readonly value: HistoryValue;
  /** The error code, for fail and info. */
  readonly error?: string;
}

/** A workload: how to pick and run the next operation of a client. */
export interface Workload {
  readonly name: string;
  /** Picks the next operation for `process`: its f, key and invocation value, and how to run it. */
  next(process: number): { f: string; key: string | number | null; value: HistoryValue; run: () => Promise<OperationOutcome> };
}

/** Figures of a workload run. */
export interface RunFigures {
  readonly operations: number;
  readonly ok: number;
  readonly fail: number;
  readonly info: number;
  /** fail and info counts by error code. */
  readonly errors: Readonly<Record<string, number>>;
}

/** A running workload. */
export interface RunningWorkload {
  /** Stops issuing operations and resolves once every client has finished its current one. */
  stop(): Promise<RunFigures>;
}

/** Starts `concurrency` clients of `workload`, recording into `recorder`. */
export function startWorkload(workload: Workload, recorder: HistoryRecorder, concurrency: number, options: { readonly pauseMs?: number } = {}): RunningWorkload {
  let running = true;
  const errors: Record<string, number> = {};
  const figures = { operations: 0, ok: 0, fail: 0, info: 0 };
  const client = async (index: number): Promise<void> => {
    let process = index;
    while (running) {
      const op = workload.next(process);
      const invocation: Invocation = recorder.invoke(process, op.f, op.key, op.value);
      let outcome: OperationOutcome;
      try {
        outcome = await op.run();
      } catch (err) {
        // A workload's run() classifies expected errors itself; anything else is indeterminate.
        outcome = { type: 'info', value: null, error: errorLabel(err) };
      }
      recorder.complete(invocation, outcome.type, outcome.value);
      figures.operations++;
      figures[outcome.type]++;
      if (outcome.error !== undefined) errors[outcome.error] = (errors[outcome.error] ?? 0) + 1;
      if (outcome.type === 'info') process += concurrency;
      if (options.pauseMs !== undefined && options.pauseMs > 0) await new Promise((r) => setTimeout(r, options.pauseMs));
    }
  };
  const clients = Array.from({ length: concurrency }, (_, i) => client(i));
  return {
    async stop() {
      running = false;
      await Promise.all(clients);
      return { ...figures, errors: { ...errors } };
    },
  };
}
