/**
 * The README, run literally as a new user would, from a fresh clone of the commit under test
 * (the working tree, uncommitted changes included). Its terminal transcripts from "A
 * five-minute tour" through "Using the client library" are the script (transcript.ts has the
 * conventions): `make up` runs in a terminal of its own (the first run installs npm packages
 * and builds, as on a new machine), every other command in a second terminal whose output must
 * match what the README shows, `^C` is Ctrl-C in the first terminal, and a code block naming
 * a file is saved where the second terminal is. The environment is a new user's: no
 * node_modules/.bin on PATH, no QUIRE_* variables, the machine's own Node.js and npm.
 *
 * The client-library part of the README packs @quire/proto, @quire/common and @quire/client,
 * installs the tarballs into an empty project and runs the README's example there; this test
 * then checks that project's installed tree: no native module, and no etcd, logger or metrics
 * package. When the README and the code disagree, this test fails, naming the README line.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cloneWorkingTree, newUserEnv, type FreshClone } from './fresh-clone.js';
import { installedPackages } from './installed-tree.js';
import { BackgroundJob, ShellSession } from './shell-session.js';
import { commandText, isWildcard, matchLines, normalizeLine, parseTranscript, type Step } from './transcript.js';

const repo = resolve(import.meta.dirname, '..', '..', '..');
/** The README range that is a script. */
const range = { from: 'A five-minute tour', to: 'The CLI' } as const;
/** How long the first `make up` may take: npm ci and the whole build on a cold machine. */
const firstStartMsMax = 20 * 60_000;
/** How long a later `make up` may take (everything installed and built). */
const restartMsMax = 3 * 60_000;
/** How long one command of the second terminal may take. */
const commandMsMax = 5 * 60_000;
/** Packages the client library must not bring: etcd, loggers, metrics, native storage. */
const forbidden = [/^etcd3$/, /^pino(-.*)?$/, /^@opentelemetry\/(?!api$)/, /^lmdb/, /^msgpackr/, /^cockatiel$/, /^@quire\/(?!proto$|common$|client$)/];

/** Where the README is run, and what it has printed. */
interface Run {
  readonly clone: FreshClone;
  readonly env: NodeJS.ProcessEnv;
  readonly terminal: ShellSession;
  /** The first terminal's `make up`, while it runs. */
  makeUp: BackgroundJob | undefined;
  /** The router addresses `make up` printed last, in its order. */
  routers: string[];
  /** The directory of the last file the README had the reader save. */
  fileDir: string | undefined;
  readonly report: string[];
}

function where(step: Step): string {
  return `README.md line ${step.line}${step.kind === 'command' ? ` ($ ${commandText(step.command)})` : step.kind === 'interrupt' ? ' (^C)' : ` (${step.name})`}`;
}

async function startMakeUp(run: Run, step: Step & { kind: 'command' }): Promise<void> {
  const previous = run.makeUp;
  expect(previous === undefined || previous.ended !== undefined, `${where(step)}: a make up is already running`).toBe(true);
  const started = Date.now();
  const job = new BackgroundJob(step.command, run.clone.dir, run.env);
  run.makeUp = job;
  const last = step.expected.filter((l) => !isWildcard(l)).at(-1);
  expect(last, `${where(step)}: the README shows no output for make up`).toBeDefined();
  const wanted = normalizeLine(last ?? '');
  const ready = await job.waitFor(() => job.ended !== undefined || job.lines.some((l) => normalizeLine(l) === wanted), previous === undefined ? firstStartMsMax : restartMsMax);
  const match = matchLines(step.expected, job.lines);
  expect(match.ok ? 'matches' : match.reason, `${where(step)}${ready ? '' : ' (timed out)'}${job.ended ? `; make up ended ${JSON.stringify(job.ended)}` : ''}`).toBe('matches');
  const routerLine = job.lines.map((l) => /Routers?: (127\.0\.0\.1:\d+(?:, 127\.0\.0\.1:\d+)*)/.exec(l)).find((m) => m !== null);
  run.routers = routerLine?.[1]?.split(', ') ?? run.routers;
  run.report.push(`make up (README line ${step.line}): ready in ${((Date.now() - started) / 1000).toFixed(1)} s, routers ${run.routers.join(', ')}`);
}

async function interruptMakeUp(run: Run, step: Step & { kind: 'interrupt' }): Promise<void> {
  const job = run.makeUp;
  expect(job?.ended, `${where(step)}: no make up is running to interrupt`).toBeUndefined();
  if (job === undefined) return;
  const offset = job.printed;
  job.interrupt();
  const ended = await job.waitFor(() => job.ended !== undefined, 60_000);
  expect(ended, `${where(step)}: make up still runs 60 s after Ctrl-C`).toBe(true);
  const match = matchLines(step.expected, job.linesSince(offset));
  expect(match.ok ? 'matches' : match.reason, where(step)).toBe('matches');
  run.report.push(`^C (README line ${step.line}): make up stopped ${JSON.stringify(job.ended)}`);
}

async function runCommand(run: Run, step: Step & { kind: 'command' }): Promise<void> {
  // Addresses are the README's examples; the reader types the ones make up printed, in order.
  let nth = 0;
  const command = step.command.replace(/127\.0\.0\.1:\d+/g, () => run.routers[nth++] ?? run.routers[0] ?? '');
  const started = Date.now();
  const out = await run.terminal.run(command, commandMsMax);
  const match = matchLines(step.expected, out.lines);
  expect(match.ok ? 'matches' : match.reason, where(step)).toBe('matches');
  run.report.push(`$ ${commandText(step.command)} (README line ${step.line}): as shown, exit ${out.exitCode}, ${Date.now() - started} ms`);
}

async function saveFile(run: Run, step: Step & { kind: 'file' }): Promise<void> {
  const cwd = (await run.terminal.run('pwd', 10_000)).lines[0] ?? run.clone.dir;
  writeFileSync(join(cwd, step.name), step.content);
  run.fileDir = cwd;
  run.report.push(`saved ${step.name} (README line ${step.line}) in ${cwd}`);
}

describe('the README, run as a new user would on a fresh clone', () => {
  let run: Run | undefined;

  beforeAll(() => {
    const clone = cloneWorkingTree(repo);
    const env = newUserEnv();
    run = { clone, env, terminal: new ShellSession(clone.dir, env), makeUp: undefined, routers: [], fileDir: undefined, report: [] };
    run.report.push(`clone of ${clone.commit.slice(0, 12)}${clone.dirty ? ' (HEAD plus the uncommitted changes of the working tree)' : ''} in ${clone.dir}; PATH=${env.PATH ?? ''}`);
  });

  afterAll(async () => {
    if (run === undefined) return;
    await run.makeUp?.stop(30_000);
    run.terminal.close();
    console.log(`README run:\n  ${run.report.join('\n  ')}`);
    if (process.env.QUIRE_KEEP_README_CLONE === '1') console.log(`kept ${run.clone.root}`);
    else run.clone.remove();
  });

  it('runs the tour and the client-library example with the outputs the README shows, and the packed client installs no native, etcd, logger or metrics package', async () => {
    if (run === undefined) throw new Error('no clone');
    const steps = parseTranscript(readFileSync(join(repo, 'README.md'), 'utf8'), range);
    expect(steps.filter((s) => s.kind === 'command').length, 'README commands found').toBeGreaterThan(10);
    for (const step of steps) {
      if (step.kind === 'interrupt') await interruptMakeUp(run, step);
      else if (step.kind === 'file') await saveFile(run, step);
      else if (commandText(step.command) === 'make up') await startMakeUp(run, step);
      else await runCommand(run, step);
    }

    // The project the README installed the client library into.
    expect(run.fileDir, 'the README saves the client example in a project').toBeDefined();
    run.report.push(`the reader's own Node.js and npm (which ran the example and npm install): ${(await run.terminal.run('node --version; npm --version', 10_000)).lines.join(', ')}`);
    const packages = installedPackages(run.fileDir ?? '', run.env);
    const names = packages.map((p) => p.name);
    run.report.push(`installed tree of ${run.fileDir ?? ''}: ${packages.length} packages (npm ls --omit=dev --all): ${names.join(', ')}`);
    const scripts = packages.filter((p) => p.installScripts.length > 0).map((p) => `${p.name} (${p.installScripts.join('; ')})`);
    if (scripts.length > 0) run.report.push(`install scripts (not native builds): ${scripts.join(', ')}`);
    expect(names).toEqual(expect.arrayContaining(['@quire/client', '@quire/common', '@quire/proto', '@grpc/grpc-js']));
    expect(packages.filter((p) => p.nativeSigns.length > 0).map((p) => `${p.name}: ${p.nativeSigns.join(', ')}`)).toEqual([]);
    expect(names.filter((n) => forbidden.some((f) => f.test(n)))).toEqual([]);
  });
});
