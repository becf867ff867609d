/**
 * `quire trace`: reads the span files `quire dev --trace` makes every process write (one
 * `<process>.jsonl` per process under <data-dir>/traces) and prints where traced requests
 * waited: stage percentiles, then the slowest requests (trace/summary.ts).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseSpanRecord, type SpanRecord } from '@quire/common';
import { UsageError } from '../command-line.js';
import { breakDown, formatSummary } from './summary.js';

export const traceHelp = `Usage: quire trace [--dir DIR] [--slowest N] [--json]

Summarizes the spans a local cluster started with \`quire dev --trace\` wrote: how many requests
were traced, percentiles of each stage (router: routing, holds and resends; leader queue,
commit, and waiting for followers), and the slowest requests with where each waited.

  --dir DIR     Directory of span files [default: .quire/traces]
  --slowest N   Slowest requests to list [default: 10]
  --json        One JSON object per request, slowest first
`;

/** Reads every span file in `dir`; returns the spans and how many lines were not spans. */
export function readSpanFiles(dir: string): { readonly spans: SpanRecord[]; readonly malformed: number; readonly files: number } {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.jsonl'));
  } catch (err) {
    throw new UsageError(`cannot read ${dir}: ${(err as Error).message} (start the cluster with quire dev --trace, or pass --dir)`);
  }
  const spans: SpanRecord[] = [];
  let malformed = 0;
  for (const name of names) {
    for (const line of readFileSync(join(dir, name), 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      try {
        spans.push(parseSpanRecord(line));
      } catch {
        malformed++;
      }
    }
  }
  return { spans, malformed, files: names.length };
}

/** Runs `quire trace`; returns the exit code. */
export function runTrace(argv: readonly string[], json: boolean, out: (line: string) => void): number {
  const { values } = parseArgs({ args: [...argv], options: { dir: { type: 'string' }, slowest: { type: 'string' } }, strict: true, allowPositionals: false });
  const slowest = values.slowest === undefined ? 10 : Number(values.slowest);
  if (!Number.isSafeInteger(slowest) || slowest < 1) throw new UsageError(`--slowest must be an integer >= 1, got "${values.slowest}"`);
  const dir = values.dir ?? join('.quire', 'traces');
  const { spans, malformed, files } = readSpanFiles(dir);
  const requests = breakDown(spans);
  if (json) {
    for (const r of requests) out(JSON.stringify(r));
    return 0;
  }
  out(`${spans.length} spans from ${files} files in ${dir}${malformed > 0 ? ` (${malformed} malformed lines skipped)` : ''}`);
  for (const line of formatSummary(requests, slowest)) out(line);
  return 0;
}
