/**
 * A fresh clone of the commit under test, as a new user gets one, and the environment of a new
 * user's shell.
 *
 * The clone holds the working tree as it is, uncommitted changes and new files included (what
 * `.gitignore` leaves out stays out): a commit of it is made with a temporary index, so the
 * repository's own index, branches and stash are untouched. On a clean checkout (CI) that
 * commit's tree is HEAD's. The clone has no node_modules, no build output and no .quire.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A clone in a temporary directory. */
export interface FreshClone {
  /** The directory holding the clone (`<root>/quire`) and anything the test puts beside it. */
  readonly root: string;
  /** The clone's working tree. */
  readonly dir: string;
  /** The commit checked out: HEAD, or a commit of the working tree on top of it. */
  readonly commit: string;
  /** Whether the working tree had changes that HEAD lacks. */
  readonly dirty: boolean;
  remove(): void;
}

function git(cwd: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync('git', args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** Clones the working tree of the repository at `repo` into a new temporary directory. */
export function cloneWorkingTree(repo: string): FreshClone {
  const root = mkdtempSync(join(tmpdir(), 'quire-readme-'));
  const index = join(root, 'index');
  const head = git(repo, ['rev-parse', 'HEAD']);
  const indexEnv = { ...process.env, GIT_INDEX_FILE: index };
  git(repo, ['read-tree', 'HEAD'], indexEnv);
  git(repo, ['add', '-A', '.'], indexEnv);
  const tree = git(repo, ['write-tree'], indexEnv);
  const dirty = tree !== git(repo, ['rev-parse', 'HEAD^{tree}']);
  const commit = dirty
    ? git(repo, ['commit-tree', tree, '-p', head, '-m', 'The working tree under test'], { ...indexEnv, GIT_AUTHOR_NAME: 'readme-test', GIT_AUTHOR_EMAIL: 'readme-test@localhost', GIT_COMMITTER_NAME: 'readme-test', GIT_COMMITTER_EMAIL: 'readme-test@localhost' })
    : head;
  rmSync(index, { force: true });
  const dir = join(root, 'quire');
  // A local clone copies the object store, so the unreferenced commit above is in it.
  git(root, ['clone', '--quiet', '--no-checkout', repo, dir]);
  git(dir, ['checkout', '--quiet', '--detach', commit]);
  return { root, dir, commit, dirty, remove: () => rmSync(root, { recursive: true, force: true }) };
}

/**
 * The environment of a new user's shell: this process's, without anything this repository's
 * tooling added (node_modules/.bin on PATH, npm's and Quire's variables).
 */
export function newUserEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || key.startsWith('QUIRE_') || key.startsWith('npm_') || key.startsWith('VITEST') || ['NODE_OPTIONS', 'INIT_CWD', 'MAKEFLAGS', 'MAKELEVEL', 'MFLAGS', 'NODE_ENV', 'TEST'].includes(key)) continue;
    env[key] = value;
  }
  env.PATH = (process.env.PATH ?? '')
    .split(':')
    .filter((p) => p !== '' && !p.includes('node_modules'))
    .join(':');
  return env;
}
