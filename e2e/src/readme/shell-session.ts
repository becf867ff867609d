/**
 * A terminal, as the README's reader uses one: one bash process that keeps its working
 * directory and exports between commands, with stderr interleaved into stdout as a terminal
 * shows them. Commands read nothing from the terminal (stdin is /dev/null).
 *
 * A second kind of terminal runs one long command in the background (`make up`) in a process
 * group of its own, so that Ctrl-C can be delivered to that group as a terminal would.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

/** The end of a command's output: a byte no README output contains, then the exit code. */
const marker = '\u001eQUIRE-README-DONE';

/** What a command printed and how it exited. */
export interface CommandOutput {
  readonly lines: string[];
  readonly exitCode: number;
}

/** How a bash process ended. */
export interface BashExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A bash process whose stdout and stderr are collected as one text, and that can be waited on. */
class BashProcess {
  protected readonly child: ChildProcess;
  protected text = '';
  private exit: BashExit | undefined;
  private readonly listeners = new Set<() => void>();

  constructor(args: readonly string[], options: SpawnOptions) {
    this.child = spawn('bash', ['--noprofile', '--norc', ...args], options);
    const changed = (): void => {
      for (const listener of this.listeners) listener();
    };
    const take = (chunk: Buffer): void => {
      this.text += chunk.toString('utf8');
      changed();
    };
    this.child.stdout?.on('data', take);
    this.child.stderr?.on('data', take);
    this.child.on('exit', (code, signal) => {
      this.exit = { code, signal };
      changed();
    });
  }

  /** How it ended, once it has. */
  get ended(): BashExit | undefined {
    return this.exit;
  }

  /** Waits until `done()` holds (checked whenever it prints or ends) or `timeoutMs` passes; returns whether it held. */
  async waitFor(done: () => boolean, timeoutMs: number): Promise<boolean> {
    if (done()) return true;
    return new Promise((resolve) => {
      const check = (): void => {
        if (done()) finish(true);
      };
      const timer = setTimeout(() => finish(done()), timeoutMs);
      const finish = (result: boolean): void => {
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve(result);
      };
      this.listeners.add(check);
    });
  }
}

/** A persistent bash session. */
export class ShellSession extends BashProcess {
  constructor(cwd: string, env: NodeJS.ProcessEnv) {
    super(['-s'], { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdin?.write('exec 2>&1\n');
  }

  /** Runs one command line and returns what it printed, failing after `timeoutMs`. */
  async run(command: string, timeoutMs: number): Promise<CommandOutput> {
    if (this.ended !== undefined) throw new Error('The shell session has ended');
    this.text = '';
    // The exit code is kept for the next command line, so `$ echo $?` shows the previous one's.
    this.child.stdin?.write(`{ ${command}\n} </dev/null; quire_status=$?; printf '\\n${marker} %d\\n' $quire_status; (exit $quire_status)\n`);
    const markerLine = (): RegExpExecArray | null => new RegExp(`${marker} (\\d+)\\n`).exec(this.text);
    if (!(await this.waitFor(() => markerLine() !== null || this.ended !== undefined, timeoutMs))) {
      throw new Error(`Timed out after ${timeoutMs} ms running: ${command}\nOutput so far:\n${this.text}`);
    }
    const found = markerLine();
    if (found === null) throw new Error(`The shell exited while running: ${command}\n${this.text}`);
    // The printf starts with a newline so the marker is on a line of its own even after output
    // without one; drop that newline again.
    const text = this.text.slice(0, found.index).replace(/\n$/, '');
    return { lines: text === '' ? [] : text.split('\n'), exitCode: Number(found[1]) };
  }

  /** Ends the session. */
  close(): void {
    this.child.stdin?.end();
    if (this.ended === undefined) this.child.kill('SIGKILL');
  }
}

/** A command running in the background in its own process group (a terminal's foreground job). */
export class BackgroundJob extends BashProcess {
  constructor(
    readonly command: string,
    cwd: string,
    env: NodeJS.ProcessEnv,
  ) {
    super(['-c', `exec 2>&1; ${command}`], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  }

  /** Everything it printed so far, as lines. */
  get lines(): string[] {
    return this.text.split('\n');
  }

  /** The number of characters printed so far (an offset for `linesSince`). */
  get printed(): number {
    return this.text.length;
  }

  /** The lines printed after `offset`. */
  linesSince(offset: number): string[] {
    return this.text.slice(offset).split('\n');
  }

  /** Ctrl-C: SIGINT to the whole process group, as a terminal sends it. */
  interrupt(): void {
    if (this.ended === undefined && this.child.pid !== undefined) process.kill(-this.child.pid, 'SIGINT');
  }

  /** Stops it for good (cleanup): Ctrl-C, then SIGKILL to the group after `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    if (this.ended !== undefined || this.child.pid === undefined) return;
    this.interrupt();
    if (await this.waitFor(() => this.ended !== undefined, graceMs)) return;
    try {
      process.kill(-this.child.pid, 'SIGKILL');
    } catch {
      // The group is already gone.
    }
    await this.waitFor(() => this.ended !== undefined, 5_000);
  }
}
