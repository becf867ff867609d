/**
 * A terminal, as the README's reader uses one: one bash process that keeps its working
 * directory and exports between commands, with stderr interleaved into stdout as a terminal
 * shows them. Commands read nothing from the terminal (stdin is /dev/null).
 *
 * A second kind of terminal runs one long command in the background (`make up`) in a process
 * group of its own, so that Ctrl-C can be delivered to that group as a terminal would.
 */
import { spawn, type ChildProcess } from 'node:child_process';

/** The end of a command's output: a byte no README output contains, then the exit code. */
const marker = '\u001eQUIRE-README-DONE';

/** What a command printed and how it exited. */
export interface CommandOutput {
  readonly lines: string[];
  readonly exitCode: number;
}

/** A persistent bash session. */
export class ShellSession {
  private readonly bash: ChildProcess;
  private buffer = '';
  private waiter: (() => void) | undefined;
  private exited = false;

  constructor(cwd: string, env: NodeJS.ProcessEnv) {
    this.bash = spawn('bash', ['--noprofile', '--norc', '-s'], { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    const take = (chunk: Buffer): void => {
      this.buffer += chunk.toString('utf8');
      this.waiter?.();
    };
    this.bash.stdout?.on('data', take);
    this.bash.stderr?.on('data', take);
    this.bash.on('exit', () => {
      this.exited = true;
      this.waiter?.();
    });
    this.bash.stdin?.write('exec 2>&1\n');
  }

  /** Runs one command line and returns what it printed, failing after `timeoutMs`. */
  async run(command: string, timeoutMs: number): Promise<CommandOutput> {
    if (this.exited) throw new Error('The shell session has ended');
    this.buffer = '';
    // The exit code is kept for the next command line, so `$ echo $?` shows the previous one's.
    this.bash.stdin?.write(`{ ${command}\n} </dev/null; quire_status=$?; printf '\\n${marker} %d\\n' $quire_status; (exit $quire_status)\n`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const at = this.buffer.indexOf(`${marker} `);
      if (at !== -1 && this.buffer.indexOf('\n', at) !== -1) {
        const code = Number(this.buffer.slice(at + marker.length + 1, this.buffer.indexOf('\n', at)));
        // The printf starts with a newline so the marker is on a line of its own even after
        // output without one; drop that newline again.
        const text = this.buffer.slice(0, at).replace(/\n$/, '');
        return { lines: text === '' ? [] : text.split('\n'), exitCode: code };
      }
      if (this.exited) throw new Error(`The shell exited while running: ${command}\n${this.buffer}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`Timed out after ${timeoutMs} ms running: ${command}\nOutput so far:\n${this.buffer}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1_000));
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
  }

  /** Ends the session. */
  close(): void {
    this.bash.stdin?.end();
    if (!this.exited) this.bash.kill('SIGKILL');
  }
}

/** A command running in the background in its own process group (a terminal's foreground job). */
export class BackgroundJob {
  private readonly child: ChildProcess;
  private text = '';
  private exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly listeners = new Set<() => void>();

  constructor(
    readonly command: string,
    cwd: string,
    env: NodeJS.ProcessEnv,
  ) {
    this.child = spawn('bash', ['--noprofile', '--norc', '-c', `exec 2>&1; ${command}`], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const take = (chunk: Buffer): void => {
      this.text += chunk.toString('utf8');
      for (const l of this.listeners) l();
    };
    this.child.stdout?.on('data', take);
    this.child.stderr?.on('data', take);
    this.child.on('exit', (code, signal) => {
      this.exit = { code, signal };
      for (const l of this.listeners) l();
    });
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

  /** How it ended, once it has. */
  get ended(): { code: number | null; signal: NodeJS.Signals | null } | undefined {
    return this.exit;
  }

  /** Waits until `done()` holds (checked whenever it prints or ends) or `timeoutMs` passes; returns whether it held. */
  async waitFor(done: () => boolean, timeoutMs: number): Promise<boolean> {
    if (done()) return true;
    return new Promise((resolve) => {
      const check = (): void => {
        if (!done()) return;
        finish(true);
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

  /** Ctrl-C: SIGINT to the whole process group, as a terminal sends it. */
  interrupt(): void {
    if (this.exit === undefined && this.child.pid !== undefined) process.kill(-this.child.pid, 'SIGINT');
  }

  /** Stops it for good (cleanup): Ctrl-C, then SIGKILL to the group after `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    if (this.exit !== undefined || this.child.pid === undefined) return;
    this.interrupt();
    if (await this.waitFor(() => this.exit !== undefined, graceMs)) return;
    try {
      process.kill(-this.child.pid, 'SIGKILL');
    } catch {
      // The group is already gone.
    }
    await this.waitFor(() => this.exit !== undefined, 5_000);
  }
}
