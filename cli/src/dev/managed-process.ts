/**
 * A child process of a local cluster: started with fixed arguments, its output appended to a
 * log file, stoppable gracefully (SIGTERM, then SIGKILL after a grace period) or killed, and
 * restartable with the same arguments.
 *
 * Supervised (`supervise()`), it is started again after an exit nobody asked for, with the
 * delay `restart-policy.ts` decides, as a kubelet restarts a container: same command line,
 * environment, data directory, ports and log file.
 *
 * Invariants:
 * - An exit asked for through stop() or kill(SIGKILL|SIGTERM|SIGINT) is never restarted.
 * - Once stop() or unsupervise() was called, no pending restart starts the process: both cancel
 *   the timer synchronously, and the timer re-checks before it starts anything.
 * - Each run reports its end once, even when the child emits both 'error' and 'exit'.
 * - The exit streak (restart-policy.ts) lives here between runs; the decision is the policy's.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { decideRestart, restartPolicyDefaults, validateRestartPolicy, type RestartDecision, type RestartPolicy } from './restart-policy.js';

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

/** An exit nobody asked for, and what the supervisor does about it. */
export interface UnexpectedExit {
  readonly exit: ProcessExit;
  /** How long the run lasted. */
  readonly uptimeMs: number;
  /** A restart after `delayMs`, or staying down (`restarts-off` when not supervised). */
  readonly decision: RestartDecision;
}

/** One child process, optionally supervised. */
export class ManagedProcess {
  private child: ChildProcess | undefined;
  private exitPromise: Promise<ProcessExit> = Promise.resolve({ code: 0, signal: null });
  private expectingExit = false;
  private startedAtMs = 0;
  private lastPidSeen: number | undefined;
  private restartPolicy: RestartPolicy | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private exitStreak = 0;
  /** Called when the process exits without stop()/kill() having been asked for. */
  onUnexpectedExit: (process: ManagedProcess, report: UnexpectedExit) => void = () => undefined;
  /** Called after every start, by hand or by the supervisor; `pid` is the new pid. */
  onStart: (process: ManagedProcess) => void = () => undefined;
  /** Called when the supervisor has started the process again (after onStart). */
  onRestart: (process: ManagedProcess) => void = () => undefined;
  /** Called when a scheduled restart could not start the process (e.g. its log file is gone), with the next attempt. */
  onRestartError: (process: ManagedProcess, error: Error, decision: RestartDecision) => void = () => undefined;

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

  /** The pid of the current or last run (undefined before the first start). */
  get lastPid(): number | undefined {
    return this.lastPidSeen;
  }

  /** Whether the process is running. */
  get running(): boolean {
    return this.child !== undefined;
  }

  /** Whether the process is down and a restart is scheduled. */
  get restartPending(): boolean {
    return this.restartTimer !== undefined;
  }

  /** Resolves when the current (or last) run ends. */
  get exited(): Promise<ProcessExit> {
    return this.exitPromise;
  }

  /** Whether unexpected exits are restarted. */
  get supervised(): boolean {
    return this.restartPolicy !== undefined;
  }

  /** From now on, restarts the process after each unexpected exit, with the delays of `policy`. */
  supervise(policy: RestartPolicy): void {
    validateRestartPolicy(policy);
    this.restartPolicy = policy;
  }

  /** Stops restarting it, and cancels a restart that is scheduled. */
  unsupervise(): void {
    this.restartPolicy = undefined;
    this.cancelRestart();
  }

  /** Starts the process (it must not be running); cancels a scheduled restart. */
  start(): void {
    if (this.child !== undefined) throw new Error(`${this.spec.id} is already running`);
    this.cancelRestart();
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
    this.lastPidSeen = child.pid ?? this.lastPidSeen;
    this.expectingExit = false;
    this.startedAtMs = Date.now();
    this.exitPromise = new Promise<ProcessExit>((resolve) => {
      let ended = false;
      const end = (exit: ProcessExit): void => {
        if (ended) return;
        ended = true;
        if (this.child === child) this.child = undefined;
        resolve(exit);
        this.exitedRun(exit);
      };
      // 'error' also reports a signal that could not be sent to a live child; only a spawn
      // failure (no pid: ENOENT, EACCES) ends the run, read as the shell's "command not found".
      child.on('error', () => {
        if (child.pid === undefined) end({ code: 127, signal: null });
      });
      child.once('exit', (code, signal) => end({ code, signal }));
    });
    this.onStart(this);
  }

  /**
   * Sends a signal (e.g. SIGKILL, SIGSTOP) without waiting. A terminating signal is a requested
   * exit (a deliberate fault): it is not restarted, and a scheduled restart is cancelled.
   */
  kill(signal: NodeJS.Signals): void {
    if (signal === 'SIGKILL' || signal === 'SIGTERM' || signal === 'SIGINT') {
      this.expectingExit = true;
      this.cancelRestart();
    }
    this.child?.kill(signal);
  }

  /** Stops gracefully: SIGTERM, then SIGKILL after `graceMs`; cancels a scheduled restart. */
  async stop(graceMs: number): Promise<ProcessExit> {
    this.cancelRestart();
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

  private exitedRun(exit: ProcessExit): void {
    const policy = this.restartPolicy;
    const uptimeMs = Math.max(0, Date.now() - this.startedAtMs);
    const decision = decideRestart(policy ?? restartPolicyDefaults, {
      requested: this.expectingExit,
      restartsOn: policy !== undefined,
      uptimeMs,
      exitStreak: this.exitStreak,
    });
    this.exitStreak = decision.exitStreak;
    if (decision.action === 'restart') this.scheduleRestart(decision.delayMs);
    if (!this.expectingExit) this.onUnexpectedExit(this, { exit, uptimeMs, decision });
  }

  private scheduleRestart(delayMs: number): void {
    this.cancelRestart();
    const policy = this.restartPolicy;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      // Re-check: supervision may have ended, or the process been started by hand, meanwhile.
      if (this.restartPolicy !== policy || policy === undefined || this.child !== undefined) return;
      try {
        this.start();
      } catch (err) {
        // Spawning itself failed: try again later, as after an exit at once.
        const decision = decideRestart(policy, { requested: false, restartsOn: true, uptimeMs: 0, exitStreak: this.exitStreak });
        this.exitStreak = decision.exitStreak;
        if (decision.action === 'restart') this.scheduleRestart(decision.delayMs);
        this.onRestartError(this, err as Error, decision);
        return;
      }
      this.onRestart(this);
    }, delayMs);
  }

  private cancelRestart(): void {
    if (this.restartTimer !== undefined) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
  }
}
