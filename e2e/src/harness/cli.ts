/**
 * Runs the real `quire` CLI (cli/dist/main.js) as a child process and captures its
 * exit code and output.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require_ = createRequire(import.meta.url);
/** Path of the quire CLI entry point. */
export const cliPath = join(dirname(require_.resolve('@quire/cli')), 'main.js');

/** What a CLI run produced. */
export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** Runs `quire ...args` with `env` added to the environment. */
export async function runCli(args: readonly string[], env: Record<string, string> = {}, input?: string): Promise<CliResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('QUIRE_')));
    const child = spawn(process.execPath, [cliPath, ...args], { env: { ...clean, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started }));
    child.stdin.end(input ?? '');
  });
}
