/**
 * Retrying an etcd step until it succeeds: used where a process cannot do anything useful
 * until etcd answers (first metadata read, node registration). Logs the first failure and
 * every twentieth after it, so an outage is visible without flooding the log.
 */
import type { Logger } from '@quire/common';

/** Options of retryUntilDone. */
export interface RetryOptions {
  readonly log: Logger;
  /** What is being attempted, for the log. */
  readonly what: string;
  readonly delayMs: number;
  /** Stops retrying (returns) once this turns true. */
  readonly stopped: () => boolean;
}

/** Runs `attempt` until it resolves or `stopped()` turns true. */
export async function retryUntilDone(attempt: () => Promise<void>, options: RetryOptions): Promise<void> {
  for (let failures = 0; !options.stopped(); ) {
    try {
      await attempt();
      return;
    } catch (err) {
      failures++;
      if (failures === 1 || failures % 20 === 0) options.log.warn(`Cannot ${options.what}; retrying`, { attempt: failures, err: String(err) });
      await new Promise((r) => setTimeout(r, options.delayMs));
    }
  }
}
