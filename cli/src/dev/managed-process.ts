/**
 * A child process of a local cluster: started with fixed arguments, its output appended to a
 * log file, stoppable gracefully (SIGTERM, then SIGKILL after a grace period) or killed, and
 * restartable with the same arguments.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

/** The roles of cluster processes. */
export type ProcessRole = 'etcd' | 'coordinator' | 'datanode' | 'router';

/** How a process ended. */
export interface ProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Everything needed to (re)start a process. */
export interface ProcessSpec {
  readonly role: ProcessRole;
  readonly id: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  /** host:port it serves on. */
  readonly address: string;
  /** host:port of its /metrics endpoint, when it has one. */
  readonly metricsAddress: string | undefined;
  readonly logPath: string;
}

/** One supervised child process. */
export class ManagedProcess {
  private child: ChildProcess | undefined;
  private exitPromise: Promise<ProcessExit> = Promise.resolve({ code: 0, signal: null });
  private expectingExit = false;
  /** Called when the process exits without stop()/kill() having been asked for. */
  onUnexpectedExit: (process: ManagedProcess, exit: ProcessExit) => void = () => undefined;

  constructor(readonly spec: ProcessSpec) {}

  get role(): ProcessRole {
    return this.spec.role;
  }

  get id(): string {
    return this.spec.id;
  }

  /** The pid while running. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Whether the process is running. */
  get running(): boolean {
    return this.child !== undefined;
  }

  /** Resolves when the current (or last) run ends. */
  get exited(): Promise<ProcessExit> {
    return this.exitPromise;
  }

  /** Starts the process (it must not be running). */
  start(): void {
    if (this.child !== undefined) throw new Error(`${this.spec.id} is already running`);
    const fd = openSync(this.spec.logPath, 'a');
    let child: ChildProcess;
    try {
      // Own process group: a terminal's Ctrl-C reaches only the supervisor, which stops
      // children in order (servers started with QUIRE_STOP_WITH_PARENT=1 also stop if it dies).
      child = spawn(this.spec.command, [...this.spec.args], { env: this.spec.env, stdio: ['ignore', fd, fd], detached: true });
    } finally {
      closeSync(fd);
    }
    this.child = child;
    this.expectingExit = false;
    this.exitPromise = new Promise<ProcessExit>((resolve) => {
      child.once('error', (err) => {
        this.child = undefined;
        resolve({ code: 127, signal: null });
        if (!this.expectingExit) this.onUnexpectedExit(this, { code: 127, signal: null });
        void err;
      });
      child.once('exit', (code, signal) => {
        this.child = undefined;
        const exit = { code, signal };
        resolve(exit);
        if (!this.expectingExit) this.onUnexpectedExit(this, exit);
      });
    });
  }

  /** Sends a signal (e.g. SIGKILL, SIGSTOP) without waiting. */
  kill(signal: NodeJS.Signals): void {
    if (signal === 'SIGKILL' || signal === 'SIGTERM' || signal === 'SIGINT') this.expectingExit = true;
    this.child?.kill(signal);
  }

  /** Stops gracefully: SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs: number): Promise<ProcessExit> {
    const child = this.child;
    if (child === undefined) return this.exitPromise;
    this.expectingExit = true;
    child.kill('SIGCONT');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    try {
      return await this.exitPromise;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The last `lines` lines of the log, for error messages. */
  logTail(lines = 20): string {
    try {
      return readFileSync(this.spec.logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }
}
