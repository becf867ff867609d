/**
 * A process's structured log, as the tests read it: the JSON lines with a given message, from
 * the log file LocalCluster gives every process.
 */
import { readFileSync } from 'node:fs';
import type { TestCluster } from './test-cluster.js';

/** The JSON log lines of a process with message `msg`. */
export function logLines(t: TestCluster, processId: string, msg: string): Record<string, unknown>[] {
  const text = readFileSync(t.cluster.process(processId).spec.logPath, 'utf8');
  const out: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    if (!line.includes(msg)) continue;
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      if (parsed['msg'] === msg) out.push(parsed);
    } catch {
      // Not a log line (a stack trace, say).
      continue;
    }
  }
  return out;
}
