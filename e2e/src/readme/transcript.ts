/**
 * The README as a test script, pure: parsing its terminal transcripts into steps, and matching
 * what a command printed against what the README shows.
 *
 * A ```console block is a terminal session. `$ COMMAND` starts a command; the lines after it,
 * up to the next command, are what it prints (stdout and stderr as a terminal shows them). A
 * line `^C` is Ctrl-C in the terminal running `make up`; the lines after it are what that
 * terminal prints from then on. A line `...` (with an optional `# comment`) stands for any
 * number of lines, none included. A command with no lines after it prints nothing.
 *
 * A code block whose info string names a file (```ts example.mjs) is a file the reader saves in
 * the directory their terminal is in; the test writes it there.
 *
 * Addresses, durations and timings differ from run to run, so both sides are normalized before
 * comparing: 127.0.0.1:PORT, "N ms", "in N s" (and npm's "in 2s").
 */

/** One thing the reader does, in README order. */
export type Step =
  | { readonly kind: 'command'; readonly line: number; readonly command: string; readonly expected: readonly string[] }
  | { readonly kind: 'interrupt'; readonly line: number; readonly expected: readonly string[] }
  | { readonly kind: 'file'; readonly line: number; readonly name: string; readonly content: string };

/** Where the README's steps start and end: the first heading at or after `from`, up to the heading `to` (exclusive). */
export interface TranscriptRange {
  readonly from: string;
  readonly to?: string;
}

const fence = /^```(\S*)\s*(\S*)\s*$/;
const fileName = /^[\w.-]+\.(mjs|cjs|js|ts)$/;

/** Parses the steps of the README between two headings (see the header for the conventions). */
export function parseTranscript(markdown: string, range: TranscriptRange): Step[] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.startsWith('#') && l.replace(/^#+\s*/, '') === range.from);
  if (start === -1) throw new Error(`The README has no heading "${range.from}"`);
  let end = lines.length;
  if (range.to !== undefined) {
    const to = lines.findIndex((l, i) => i > start && l.startsWith('#') && l.replace(/^#+\s*/, '') === range.to);
    if (to === -1) throw new Error(`The README has no heading "${range.to}" after "${range.from}"`);
    end = to;
  }
  const steps: Step[] = [];
  let i = start + 1;
  while (i < end) {
    const open = fence.exec(lines[i] ?? '');
    if (open === null) {
      i++;
      continue;
    }
    const [, language = '', name = ''] = open;
    const body: { text: string; line: number }[] = [];
    i++;
    while (i < end && !(lines[i] ?? '').startsWith('```')) {
      body.push({ text: lines[i] ?? '', line: i + 1 });
      i++;
    }
    if (i >= end) throw new Error(`A code block opened at line ${open.index + 1} is not closed before the end of the range`);
    i++; // the closing fence
    if (language === 'console') steps.push(...consoleSteps(body));
    else if (fileName.test(name)) steps.push({ kind: 'file', line: (body[0]?.line ?? i) - 1, name, content: `${body.map((b) => b.text).join('\n')}\n` });
  }
  return steps;
}

function consoleSteps(body: readonly { readonly text: string; readonly line: number }[]): Step[] {
  const steps: { kind: 'command' | 'interrupt'; line: number; command: string; expected: string[] }[] = [];
  for (const { text, line } of body) {
    if (text.startsWith('$ ')) steps.push({ kind: 'command', line, command: text.slice(2).trim(), expected: [] });
    else if (text.trim() === '^C') steps.push({ kind: 'interrupt', line, command: '', expected: [] });
    else {
      const current = steps.at(-1);
      if (current === undefined) throw new Error(`Line ${line}: output "${text}" before any command in a console block`);
      current.expected.push(text);
    }
  }
  return steps.map((s) => {
    const expected = [...s.expected];
    while (expected.length > 0 && (expected.at(-1) ?? '').trim() === '') expected.pop();
    return s.kind === 'command' ? { kind: 'command', line: s.line, command: s.command, expected } : { kind: 'interrupt', line: s.line, expected };
  });
}

/** Whether an expected line is the `...` wildcard. */
export function isWildcard(line: string): boolean {
  return /^\.\.\.\s*(#.*)?$/.test(line.trim());
}

/** The command without its trailing `# comment` (bash drops it too): a `#` after a space, outside quotes. */
export function commandText(command: string): string {
  let quote: string | undefined;
  for (let i = 0; i < command.length; i++) {
    const c = command[i];
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"') i++;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === '\\') i++;
    else if (c === '#' && (i === 0 || /\s/.test(command[i - 1] ?? ''))) return command.slice(0, i).trimEnd();
  }
  return command.trimEnd();
}

/** Replaces what differs between runs: addresses, durations and timings. */
export function normalizeLine(line: string): string {
  return line
    .trimEnd()
    .replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:PORT')
    .replace(/\bin \d+(\.\d+)? ?(ms|s|m)\b/g, 'in TIME')
    .replace(/\b\d+(\.\d+)? ms\b/g, 'N ms');
}

/** The outcome of matching output against the README. */
export type MatchResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/**
 * Matches `actual` lines against `expected` (with `...` wildcards), after normalizing both.
 * Blank lines at either end of `actual` are ignored.
 */
export function matchLines(expected: readonly string[], actual: readonly string[]): MatchResult {
  const want = expected.map((l) => (isWildcard(l) ? null : normalizeLine(l)));
  const got = trimBlank(actual).map(normalizeLine);
  // memo[i][j]: whether want[i..] matches got[j..]
  const memo = new Map<number, boolean>();
  const matches = (i: number, j: number): boolean => {
    const key = i * (got.length + 1) + j;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let result: boolean;
    if (i === want.length) result = j === got.length;
    else if (want[i] === null) result = matches(i + 1, j) || (j < got.length && matches(i, j + 1));
    else result = j < got.length && want[i] === got[j] && matches(i + 1, j + 1);
    memo.set(key, result);
    return result;
  };
  if (matches(0, 0)) return { ok: true };
  return { ok: false, reason: `the README shows\n${indent(expected)}\nbut it printed\n${indent(actual)}\n(compared after normalizing: ${firstDifference(want, got)})` };
}

function trimBlank(lines: readonly string[]): string[] {
  let from = 0;
  let to = lines.length;
  while (from < to && (lines[from] ?? '').trim() === '') from++;
  while (to > from && (lines[to - 1] ?? '').trim() === '') to--;
  return lines.slice(from, to);
}

function indent(lines: readonly string[]): string {
  return lines.length === 0 ? '    (nothing)' : lines.map((l) => `    | ${l}`).join('\n');
}

/** The first expected line (not a wildcard) that the output lacks, for the failure message. */
function firstDifference(want: readonly (string | null)[], got: readonly string[]): string {
  let j = 0;
  for (const w of want) {
    if (w === null) continue;
    const at = got.indexOf(w, j);
    if (at === -1) return `no line "${w}" where the README has it`;
    j = at + 1;
  }
  return got.length > j ? `"${got[j] ?? ''}" is not in the README` : 'the lines are there but not in this order or with extra lines between them';
}
