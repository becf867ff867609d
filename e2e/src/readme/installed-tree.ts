/**
 * What an `npm install` put in a project: the installed production packages and, for each, the
 * signs of a native module (a node-gyp build, a compiled .node file, prebuilt binaries, or a
 * dependency on the usual native loaders).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/** An installed package. */
export interface InstalledPackage {
  readonly name: string;
  readonly version: string;
  readonly dir: string;
  /** Why it counts as native; empty when it does not. */
  readonly nativeSigns: readonly string[];
  /** Its install-time scripts (preinstall, install, postinstall), if any. */
  readonly installScripts: readonly string[];
}

/** Packages that load native code: depending on one makes a package native. */
const nativeLoaders = new Set(['node-gyp-build', 'node-addon-api', 'prebuild-install', 'bindings', 'nan', 'node-gyp-build-optional-packages']);

/** Lists the production packages installed in `project` (`npm ls --omit=dev --all --parseable`), the project itself excluded. */
export function installedPackages(project: string, env: NodeJS.ProcessEnv): InstalledPackage[] {
  const out = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: project, env, encoding: 'utf8' });
  const dirs = [...new Set(out.split('\n').map((l) => l.trim()).filter((l) => l !== '' && l !== project))];
  return dirs.map((dir) => describePackage(dir));
}

function describePackage(dir: string): InstalledPackage {
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
    name?: string;
    version?: string;
    gypfile?: boolean;
    scripts?: Record<string, string>;
    dependencies?: Record<string, string>;
    optionalDependencies?: Record<string, string>;
  };
  const nativeSigns: string[] = [];
  if (existsSync(join(dir, 'binding.gyp'))) nativeSigns.push('binding.gyp');
  if (manifest.gypfile === true) nativeSigns.push('"gypfile": true');
  if (existsSync(join(dir, 'prebuilds'))) nativeSigns.push('prebuilds/');
  for (const dep of Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies })) {
    if (nativeLoaders.has(dep)) nativeSigns.push(`depends on ${dep}`);
  }
  const compiled = findFiles(dir, (name) => name.endsWith('.node'), 5_000);
  for (const file of compiled.slice(0, 3)) nativeSigns.push(relative(dir, file));
  const installScripts = ['preinstall', 'install', 'postinstall'].filter((s) => manifest.scripts?.[s] !== undefined).map((s) => `${s}: ${manifest.scripts?.[s] ?? ''}`);
  return { name: manifest.name ?? dir, version: manifest.version ?? '', dir, nativeSigns, installScripts };
}

/** Files under `dir` (not descending into nested node_modules) whose name passes `wanted`, looking at no more than `entriesMax` entries. */
function findFiles(dir: string, wanted: (name: string) => boolean, entriesMax: number): string[] {
  const found: string[] = [];
  const pending = [dir];
  let seen = 0;
  while (pending.length > 0 && seen < entriesMax) {
    const current = pending.pop() as string;
    for (const entry of readdirSync(current, { withFileTypes: true })) {
      seen++;
      const path = join(current, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules') pending.push(path);
      } else if (entry.isFile() && wanted(entry.name) && statSync(path).size > 0) {
        found.push(path);
      }
    }
  }
  return found;
}
