/**
 * The set workload (Jepsen's set-full): clients add unique integers — each element is its own
 * key `${prefix}/${n}`, so adds spread over every partition — and the final read scans the
 * prefix once the faults are healed. The set checker then finds every acknowledged add that
 * the final read misses (lost), every element read that was never added (unexpected), and
 * duplicates.
 */
import type { QuireClient } from '@quire/client';
import { errorLabel, writeErrorType } from './outcome.js';
import { type HistoryRecorder } from './recorder.js';
import { type OperationOutcome, type Workload } from './runner.js';

/** Options of the set workload. */
export interface SetWorkloadOptions {
  readonly prefix: string;
  readonly clientFor: (process: number) => QuireClient;
}

/** The store key of set element `n`. */
export const setElementKey = (prefix: string, n: number): string => `${prefix}/${String(n).padStart(10, '0')}`;

/** Creates the set workload: every operation adds the next integer. */
export function setWorkload(o: SetWorkloadOptions): Workload {
  let next = 0;
  const add = async (client: QuireClient, n: number): Promise<OperationOutcome> => {
    try {
      await client.put(setElementKey(o.prefix, n), String(n));
      return { type: 'ok', value: n };
    } catch (err) {
      return { type: writeErrorType(err), value: n, error: errorLabel(err) };
    }
  };
  return {
    name: 'set',
    next(process) {
      const n = next++;
      const client = o.clientFor(process);
      return { f: 'add', key: null, value: n, run: () => add(client, n) };
    },
  };
}

/**
 * Records one read of the whole set as process `process`: a scan of the prefix, retried until
 * it succeeds or `attemptsMax` scans failed (each failure is recorded as a failed read).
 */
export async function readSet(client: QuireClient, recorder: HistoryRecorder, prefix: string, process: number, attemptsMax = 20): Promise<number[] | undefined> {
  for (let attempt = 0; attempt < attemptsMax; attempt++) {
    const invocation = recorder.invoke(process, 'read', null, null);
    try {
      const elements: number[] = [];
      for await (const entry of client.scan({ prefix: `${prefix}/`, keysOnly: true })) {
        elements.push(Number(entry.key.toString().slice(prefix.length + 1)));
      }
      recorder.complete(invocation, 'ok', elements);
      return elements;
    } catch {
      recorder.complete(invocation, 'fail', null);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  return undefined;
}
