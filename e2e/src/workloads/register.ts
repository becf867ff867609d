/**
 * The register workload (Jepsen's linearizable register on independent keys): reads, writes
 * and compare-and-set of small values on a few keys at a time, so operations on a key overlap
 * and the linearizability checker has real work. Each key takes at most `opsPerKeyMax`
 * operations, then a fresh key replaces it, which keeps every per-key search small.
 *
 * Quire's compare-and-set is on the version, so `cas [expected, new]` reads the key and, if
 * its value is `expected`, puts `new` with the read version as the expected version: it takes
 * effect at the put's linearization point, when the value was still `expected`. A read that
 * shows another value, or a version conflict, is a `fail` — the cas definitely did not apply.
 */
import type { QuireClient } from '@quire/client';
import { isQuireError, type Rng } from '@quire/common';
import { errorLabel, writeErrorType } from './outcome.js';
import { keyRotation } from './key-rotation.js';
import { type HistoryRecorder } from './recorder.js';
import { type OperationOutcome, type Workload } from './runner.js';

/** Options of the register workload. */
export interface RegisterWorkloadOptions {
  /** Distinct key prefix for this run (keys are `${prefix}/${n}`). */
  readonly prefix: string;
  /** Keys in use at once. */
  readonly activeKeys: number;
  /** Operations on one key before it is retired. */
  readonly opsPerKeyMax: number;
  /** Values are drawn from 0..valuesMax-1 (as strings). */
  readonly valuesMax: number;
  readonly rng: Rng;
  /** A client per logical process (e.g. spread over routers). */
  readonly clientFor: (process: number) => QuireClient;
  /**
   * Processes that only read (default none): e.g. the clients of a router cut off from etcd,
   * so that nothing but reads reaches a leader that router still believes in.
   */
  readonly readOnly?: (process: number) => boolean;
}

/**
 * Compare-and-set of a register's value: reads the key and, if its value is `expected` (null:
 * absent), puts `next` with the read version as the expected version (0: only if absent). A
 * read that shows another value, or a version conflict, is a definite `fail`.
 */
export async function casRegister(client: QuireClient, storeKey: string, expected: string | null, next: string): Promise<OperationOutcome> {
  const pair = [expected, next];
  let version: number;
  try {
    const r = await client.get(storeKey);
    const current = r.found ? r.value.toString() : null;
    if (current !== expected) return { type: 'fail', value: pair };
    version = r.found ? r.version : 0;
  } catch (err) {
    return { type: 'fail', value: pair, error: errorLabel(err) };
  }
  try {
    await client.put(storeKey, next, { expectedVersion: version });
    return { type: 'ok', value: pair };
  } catch (err) {
    if (isQuireError(err, 'CONDITION_FAILED')) return { type: 'fail', value: pair };
    return { type: writeErrorType(err), value: pair, error: errorLabel(err) };
  }
}

/** Creates the register workload. */
export function registerWorkload(o: RegisterWorkloadOptions): Workload {
  const pickKey = keyRotation(o.activeKeys, o.opsPerKeyMax, o.rng);
  const storeKey = (key: number): string => `${o.prefix}/${key}`;
  const value = (): string => String(o.rng.below(o.valuesMax));

  const read = async (client: QuireClient, key: number): Promise<OperationOutcome> => {
    try {
      const r = await client.get(storeKey(key));
      return { type: 'ok', value: r.found ? r.value.toString() : null };
    } catch (err) {
      return { type: 'fail', value: null, error: errorLabel(err) };
    }
  };
  const write = async (client: QuireClient, key: number, v: string): Promise<OperationOutcome> => {
    try {
      await client.put(storeKey(key), v);
      return { type: 'ok', value: v };
    } catch (err) {
      return { type: writeErrorType(err), value: v, error: errorLabel(err) };
    }
  };
  const cas = (client: QuireClient, key: number, expected: string, next: string): Promise<OperationOutcome> => casRegister(client, storeKey(key), expected, next);

  return {
    name: 'register',
    next(process) {
      const client = o.clientFor(process);
      const key = pickKey();
      const dice = o.rng.next();
      if (dice < 0.5 || o.readOnly?.(process) === true) return { f: 'read', key, value: null, run: () => read(client, key) };
      if (dice < 0.75) {
        const v = value();
        return { f: 'write', key, value: v, run: () => write(client, key, v) };
      }
      const pair: [string, string] = [value(), value()];
      return { f: 'cas', key, value: pair, run: () => cas(client, key, pair[0], pair[1]) };
    },
  };
}

/** Keys read at once by readRegisters. */
const finalReadsInFlightMax = 8;

/**
 * Reads every key the register history in `recorder` touched once more, recording each read as
 * a new process (numbers above any the history used), `finalReadsInFlightMax` at a time. Run
 * after the workload stopped and the cluster healed: the linearizability check then also sees
 * the final value of keys the workload had retired, so a write lost on one of them is a
 * violation. A read that fails is recorded as failed (it observed nothing).
 */
export async function readRegisters(client: QuireClient, recorder: HistoryRecorder, prefix: string): Promise<{ keys: number; ok: number; failed: number }> {
  const keys = [...new Set(recorder.events.map((e) => e.key).filter((k): k is number | string => k !== null))];
  let nextProcess = recorder.events.reduce((m, e) => Math.max(m, e.process), -1) + 1;
  let ok = 0;
  let failed = 0;
  let next = 0;
  const reader = async (): Promise<void> => {
    for (let i = next++; i < keys.length; i = next++) {
      const key = keys[i] as number | string;
      const invocation = recorder.invoke(nextProcess++, 'read', key, null);
      try {
        const r = await client.get(`${prefix}/${key}`);
        recorder.complete(invocation, 'ok', r.found ? r.value.toString() : null);
        ok++;
      } catch {
        recorder.complete(invocation, 'fail', null);
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: finalReadsInFlightMax }, () => reader()));
  return { keys: keys.length, ok, failed };
}
