/**
 * Whether a process still exists — how the harness tells a dead run's leftovers (namespaces,
 * mounts, freezer groups named after its pid) from a live run's.
 */

/** True while `pid` exists (EPERM means it exists but belongs to someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
