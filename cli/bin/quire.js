#!/usr/bin/env node
// The `quire` command as npm links it (node_modules/.bin/quire, `npx quire`). This launcher is
// committed, unlike the compiled CLI it loads (../dist/main.js), because `npm ci` links a
// package's bin only if the file exists at install time, which is before the build runs.
//
// It runs the CLI under Node.js 24 or newer. Under an older Node.js (a machine's own Node 20,
// say) it re-runs the CLI with the Node.js 24 that the repository's `node` devDependency put
// in node_modules; without one it says in one line what to do. Keep this file to syntax and
// modules that any Node.js since 14 parses, so that the version check itself always runs.
import { spawn } from 'child_process';
import { existsSync } from 'fs';
import { dirname, join } from 'path';
import { fileURLToPath, pathToFileURL } from 'url';

const nodeMajorMin = 24;
const here = dirname(fileURLToPath(import.meta.url));
const cliMain = join(here, '..', 'dist', 'main.js');
const major = Number(process.versions.node.split('.')[0]);

function fail(message) {
  process.stderr.write('quire: ' + message + '\n');
  process.exit(1);
}

/** The Node.js binary of the `node` devDependency, in the workspace root's or this package's node_modules. */
function pinnedNode() {
  const candidates = [join(here, '..', '..', 'node_modules', 'node', 'bin', 'node'), join(here, '..', 'node_modules', 'node', 'bin', 'node')];
  return candidates.find((path) => existsSync(path));
}

if (!existsSync(cliMain)) {
  fail('the CLI is not built yet (' + cliMain + ' is missing): run `make build` (or `npm run build`) in the repository first');
} else if (major >= nodeMajorMin) {
  import(pathToFileURL(cliMain).href).catch((err) => fail(err && err.stack ? err.stack : String(err)));
} else {
  const node = pinnedNode();
  if (node === undefined) {
    fail('needs Node.js ' + nodeMajorMin + ' or newer and this is ' + process.version + ': run `npm ci` in the repository (it installs Node.js ' + nodeMajorMin + ' into node_modules) or put Node.js ' + nodeMajorMin + ' first on PATH');
  } else {
    const child = spawn(node, [cliMain].concat(process.argv.slice(2)), { stdio: 'inherit' });
    // Ctrl-C reaches the child from the terminal (same process group); a SIGTERM or SIGHUP sent
    // to this launcher alone is passed on, so the CLI stops the way it would if run directly.
    process.on('SIGINT', () => undefined);
    for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
    child.on('error', (err) => fail('could not start ' + node + ': ' + err.message));
    child.on('exit', (code, signal) => {
      if (signal === null) process.exit(code === null ? 1 : code);
      // Die of the same signal, so the caller sees what the CLI saw.
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    });
  }
}
