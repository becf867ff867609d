/**
 * The report of one chaos run: one verdict line per check with its figures (operations,
 * faults injected, acknowledged writes lost, violations, unknowns, recovery times), a fault
 * coverage verdict (a run whose planned fault never happened fails), and files under
 * e2e/results/<run>-<time>/: history.jsonl (and history-<name>.jsonl for a second workload's
 * history), nemesis.jsonl, report.json, and timeline.html for the failing key of a failed check.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ProcessRecord } from '../harness/chaos-cluster.js';
import { type NemesisLog } from '../nemesis/nemesis.js';
import { type HistoryRecorder, type RecordedEvent } from '../workloads/recorder.js';
import { type RunFigures } from '../workloads/runner.js';
import { renderTimeline } from './timeline.js';

/** The outcome of one checker on the run's history. */
export interface CheckOutcome {
  /** e.g. "linearizable", "set". */
  readonly name: string;
  readonly valid: boolean | 'unknown';
  /** Figures to print on the verdict line (acknowledged lost, violations, unknowns, …). */
  readonly figures: Readonly<Record<string, number | string>>;
  /** The checker's own text: evidence for a violation, or why it could not decide. */
  readonly text: string;
  /** The key whose timeline to draw when the check fails (null: the whole history). */
  readonly failingKey?: string | number | null;
  /** Instead of a key: the events to draw (e.g. the adds of lost elements and the reads). */
  readonly focus?: (event: RecordedEvent) => boolean;
  /** The name of the further history (RunReportInput.histories) this check judged; absent: the main one. */
  readonly history?: string;
}

/** Everything a run report is made of. */
export interface RunReportInput {
  readonly run: string;
  readonly recorder: HistoryRecorder;
  readonly nemesis: NemesisLog;
  readonly processes: readonly ProcessRecord[];
  readonly workload: RunFigures;
  /** Nemesis names that must have injected at least one fault. */
  readonly plannedFaults: readonly string[];
  readonly checks: readonly CheckOutcome[];
  /** Further figures (e.g. recovery times). */
  readonly figures?: Readonly<Record<string, number | string>>;
  /** Histories of further workloads run alongside, by name: written as history-<name>.jsonl. */
  readonly histories?: Readonly<Record<string, HistoryRecorder>>;
}

/** What writeRunReport produced. */
export interface RunReport {
  readonly passed: boolean;
  readonly dir: string;
  readonly lines: readonly string[];
}

/** e2e/results, next to this package's dist/ or src/. */
const resultsRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'results');

/** Most lines of a failed check's evidence printed to stdout (report.json has all of it). */
const printedEvidenceLinesMax = 60;

/** Most events drawn in one timeline. */
const timelineEventsMax = 4_000;

const verdict = (valid: boolean | 'unknown'): string => (valid === true ? 'PASS' : valid === false ? 'FAIL' : 'UNKNOWN');

/** Writes the report files and returns the verdict lines (also printed to stdout). */
export function writeRunReport(input: RunReportInput): RunReport {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dir = join(resultsRoot, `${input.run}-${stamp}`);
  mkdirSync(dir, { recursive: true });
  input.recorder.write(join(dir, 'history.jsonl'));
  for (const [name, recorder] of Object.entries(input.histories ?? {})) recorder.write(join(dir, `history-${name}.jsonl`));
  input.nemesis.write(join(dir, 'nemesis.jsonl'));

  const injected: Record<string, number> = {};
  for (const e of input.nemesis.injected()) injected[e.nemesis] = (injected[e.nemesis] ?? 0) + 1;
  const faultCount = Object.values(injected).reduce((a, b) => a + b, 0);
  const faultText = faultCount === 0 ? 'faults injected 0' : `faults injected ${faultCount} (${Object.entries(injected).map(([k, v]) => `${k} ${v}`).join(', ')})`;
  const w = input.workload;
  const opsText = `operations ${w.operations} (ok ${w.ok}, fail ${w.fail}, info ${w.info})`;
  const extra = Object.entries(input.figures ?? {}).map(([k, v]) => `${k} ${v}`);

  const lines: string[] = [];
  for (const c of input.checks) {
    const figures = Object.entries(c.figures).map(([k, v]) => `${k} ${v}`);
    lines.push(`chaos ${input.run} / ${c.name}: ${verdict(c.valid)} — ${[opsText, faultText, ...figures, ...extra].join('; ')}`);
  }
  const missing = input.plannedFaults.filter((n) => (injected[n] ?? 0) === 0);
  const coverageOk = missing.length === 0;
  lines.push(
    `chaos ${input.run} / fault coverage: ${coverageOk ? 'PASS' : 'FAIL'} — planned ${input.plannedFaults.length === 0 ? 'none' : input.plannedFaults.map((n) => `${n} (${injected[n] ?? 0} injected)`).join(', ')}${coverageOk ? '' : `; never happened: ${missing.join(', ')}`}`,
  );
  const passed = coverageOk && input.checks.every((c) => c.valid === true);

  for (const c of input.checks) {
    if (c.valid === true) continue;
    const all = (c.history === undefined ? input.recorder : (input.histories?.[c.history] ?? input.recorder)).events;
    const chosen = c.focus !== undefined ? all.filter(c.focus) : c.failingKey === undefined || c.failingKey === null ? all : all.filter((e) => e.key === c.failingKey);
    // A page with more bars than this is unreadable and slow; the history file has them all.
    const events = chosen.slice(0, timelineEventsMax);
    const title = `${input.run}: ${c.name} ${verdict(c.valid)}${c.failingKey === undefined || c.failingKey === null ? '' : ` on key ${JSON.stringify(c.failingKey)}`}`;
    writeFileSync(join(dir, `timeline-${c.name}.html`), renderTimeline(title, events, input.nemesis.events, c.text));
  }
  writeFileSync(
    join(dir, 'report.json'),
    `${JSON.stringify({ run: input.run, passed, lines, workload: input.workload, faults: { planned: input.plannedFaults, injected }, checks: input.checks, figures: input.figures ?? {}, processes: input.processes }, null, 2)}\n`,
  );
  lines.push(`chaos ${input.run}: ${passed ? 'PASS' : 'FAIL'} — report in ${dir}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  for (const c of input.checks) {
    if (c.valid === true) continue;
    const text = c.text.split('\n');
    const shown = text.slice(0, printedEvidenceLinesMax).join('\n');
    process.stdout.write(`${shown}\n${text.length > printedEvidenceLinesMax ? `… ${text.length - printedEvidenceLinesMax} more lines in ${join(dir, 'report.json')}\n` : ''}`);
  }
  return { passed, dir, lines };
}
