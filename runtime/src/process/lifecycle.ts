/**
 * Process lifecycle shared by every server process: crash handlers that log and exit (an
 * assertion failure or an unexpected exception must stop the process, not leave it serving),
 * and a wait for SIGINT/SIGTERM followed by a graceful stop. A second signal exits at once.
 */
import type { LogFields, Logger } from '@quire/common';

/** Exit code when a process stops because of a bug or a failed invariant. */
export const exitCodeCrash = 70;

/**
 * Stops the process at once after logging why (synchronously): SIGKILL to itself, without
 * `process.exit`. For a data node whose storage failed: `process.exit` runs libc's `exit()`,
 * whose libuv shutdown joins the thread pool, and an LMDB write worker that waits for this
 * thread to run its callbacks then never ends — the process hung, neither serving nor exiting,
 * about once in thirty fatal stops in the chaos suite. A supervisor sees signal SIGKILL.
 */
export function killSelf(log: Logger, message: string, fields: LogFields): never {
  log.error(message, { ...fields, stopping: 'SIGKILL to itself (no exit handlers run)' });
  process.kill(process.pid, 'SIGKILL');
  // The signal is delivered before kill() returns to a single-threaded caller; never reached.
  throw new Error('SIGKILL did not stop the process');
}

/** Logs uncaught exceptions and unhandled rejections as fatal, then exits. */
export function installCrashHandlers(log: Logger): void {
  const crash = (kind: string) => (err: unknown) => {
    log.error('Fatal error; exiting', {
      kind,
      err: err instanceof Error ? { name: err.name, message: err.message, stack: err.stack } : String(err),
    });
    process.exit(exitCodeCrash);
  };
  process.on('uncaughtException', crash('uncaughtException'));
  process.on('unhandledRejection', crash('unhandledRejection'));
}

/** Options of waitForStopSignal. */
export interface StopSignalOptions {
  /**
   * Also stop when the parent process goes away (checked twice a second). Set by `quire dev`,
   * whose children run in their own process group so that Ctrl-C reaches only the
   * supervisor, which then stops them in order.
   */
  readonly stopWithParent?: boolean;
}

/**
 * Resolves with the reason (signal name, or "parent-exited") when the process should stop.
 * A second SIGINT/SIGTERM exits at once.
 */
export async function waitForStopSignal(log: Logger, options: StopSignalOptions = {}): Promise<string> {
  return new Promise((resolve) => {
    let received = false;
    const stop = (reason: string): void => {
      if (received) {
        log.warn('Second stop signal; exiting immediately', { reason });
        process.exit(1);
      }
      received = true;
      resolve(reason);
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
    if (options.stopWithParent === true) {
      const parent = process.ppid;
      const timer = setInterval(() => {
        if (process.ppid !== parent && !received) {
          clearInterval(timer);
          stop('parent-exited');
        }
      }, 500);
      timer.unref();
    }
  });
}

/** Whether the environment asks a server to stop with its parent (see StopSignalOptions). */
export function stopWithParentRequested(env: Readonly<Record<string, string | undefined>>): boolean {
  return env.QUIRE_STOP_WITH_PARENT === '1';
}
