/**
 * Running the host tools the harness and nemeses drive (ip, iptables, mount, cp): one call,
 * its output captured, and a failure that names the command and what it printed.
 */
import { execFile } from 'node:child_process';

/** A host command that exited non-zero. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    readonly command: readonly string[],
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(`\`${command.join(' ')}\` failed (exit ${exitCode ?? 'signal'}): ${stderr.trim() || '(no output)'}`);
  }
}

/** Runs `command args…` and resolves with its stdout; rejects with CommandError. */
export async function run(command: string, args: readonly string[], options: { readonly timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, [...args], { timeout: options.timeoutMs ?? 30_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err === null) {
        resolve(stdout);
        return;
      }
      const code = typeof err.code === 'number' ? err.code : null;
      reject(new CommandError([command, ...args], code, `${stderr}${err.killed ? ' (timed out)' : ''}`));
    });
  });
}

/** Runs a command and returns whether it succeeded (for probes and best-effort cleanup). */
export async function succeeds(command: string, args: readonly string[]): Promise<boolean> {
  try {
    await run(command, args);
    return true;
  } catch {
    return false;
  }
}
