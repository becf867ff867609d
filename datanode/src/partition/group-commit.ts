/**
 * GroupCommitter turns many concurrent writes into few durable storage transactions: writes
 * queue while a transaction is committing and the whole queue (up to batchOpsMax) goes into
 * the next one, so one fsync covers many requests. A write is answered once everything its
 * answer depends on is acknowledged (with one replica: durable); each transaction also applies
 * the entries acknowledged since the previous one (RFC 0001: data holds acknowledged writes
 * only; reads overlay the acknowledged, unapplied ones), so under load a transaction carries
 * both the appends of one batch and the applies of the one before, off the answer path.
 *
 * It schedules through an injected function and owns no timers, so a simulator can drive it.
 * Failpoints (tests and chaos runs) reach it only as decisions through `deps.failpoints`.
 *
 * Invariants: at most one storage transaction is in flight; the queue never exceeds
 * queueOpsMax (submit refuses instead); answers leave in submission order per replica; each
 * write is answered exactly once, never before its entry is durable and acknowledged. The one
 * exception is the ackBeforeDurable failpoint, which exists to break it.
 *
 * Retiring a replica (submitRetirement: its storage is deleted, RFC 0003) is a replica task that
 * runs in order with the tasks before it; from its submission on no task of that replica is
 * accepted (submitTask returns false), so nothing runs on it after it in any transaction, and
 * once it is durable every write of the replica still waiting is answered with the retirement's
 * error and the committer forgets the replica.
 */
import { assert, isQuireError, type QuireError } from '@quire/common';
import type { AppendOutcome, PartitionReplica, WriteRequest, WriteResult } from './replica.js';

/** A write waiting for its transaction. */
export interface PendingWrite {
  readonly replica: CommitReplica;
  readonly request: WriteRequest;
  readonly epoch: number;
  /** Called once, after the write is durable and acknowledged (or never, if the process stops). */
  readonly done: (result: WriteResult) => void;
  /** Hooks of a traced write (tracing on only). */
  readonly trace?: WriteTrace;
}

/** Where a traced write is on the leader (issue 15): its span's events. */
export interface WriteTrace {
  /** Its transaction ran: the outcome's index (the entry's, or the one its answer waits for; 0: none). */
  appended(index: number): void;
  /** That transaction is durable on this node; the answer now waits for the ack policy. */
  durable(): void;
}

/**
 * Storage work for a replica that is not a client write — a follower appending what its leader
 * sent (RFC 0001 "Follower path"). `run` executes inside the transaction, in submission order
 * with the writes; `done` gets its result once that transaction is durable.
 */
export interface ReplicaTask<T = unknown> {
  readonly replica: CommitReplica;
  run(): T;
  done(result: T): void;
}

/**
 * Storage work that ends a replica (its storage is deleted): `run` executes inside the
 * transaction, in submission order with the replica tasks; `done` is called once it is durable.
 * `replica` is the replica retired, or undefined for storage no replica was opened for.
 */
export interface RetirementTask {
  readonly replica: CommitReplica | undefined;
  /** The answer of the replica's writes still waiting for acknowledgement once it is retired. */
  readonly error: QuireError;
  run(): void;
  done(): void;
}

/** A task in the queue: a replica task, or a retirement. */
type QueuedTask = { readonly kind: 'task'; readonly task: ReplicaTask } | { readonly kind: 'retirement'; readonly task: RetirementTask };

/** The parts of a partition replica the committer drives (PartitionReplica; a stub in tests). */
export type CommitReplica = Pick<PartitionReplica, 'appendWrite' | 'applyAcknowledged' | 'appliedDurable' | 'finishWrites' | 'logDurable' | 'acknowledgedIndex' | 'needsApply'>;

/** A result waiting for its replica's acknowledged index. */
interface Waiter {
  readonly answerAfterIndex: number;
  readonly result: WriteResult;
  readonly done: (result: WriteResult) => void;
}

/** What the committer needs from its environment. */
export interface GroupCommitterDeps {
  /** Runs `body` in one durable write transaction (StorageEngine.write). */
  write<T>(body: () => T): Promise<T>;
  /** Schedules `callback` soon, after pending I/O callbacks (setImmediate in production). */
  schedule(callback: () => void): void;
  /** Schedules `callback` after `ms` milliseconds (setTimeout); needed only with commit pacing. */
  scheduleAfter?(ms: number, callback: () => void): void;
  /** Monotonic milliseconds, for commit latency. */
  monotonicMs(): number;
  /** Called after each durable transaction with its size and latency. */
  onCommitted(operations: number, durationMs: number): void;
  /** A transaction failed to commit: the process must stop, in-memory state is ahead of disk. */
  onFatal(err: unknown): void;
  /** Failpoint decisions; absent means none is ever armed. */
  readonly failpoints?: GroupCommitFailpoints;
  /**
   * Called after a durable transaction for every replica whose log it extended, after
   * logDurable() and before answers are given (the replication leader ships the new entries).
   */
  onLogDurable?(replica: CommitReplica): void;
  /**
   * Called, through schedule(), after a transaction body has run, for every replica whose log it
   * extended, before the transaction is durable (the replication leader ships entries to its
   * followers while its own fsync runs). If that transaction then fails to commit, the process
   * stops (onFatal).
   */
  onLogAppended?(replica: CommitReplica): void;
}

/**
 * Failpoint decisions the committer asks for (see common/src/failpoint). The hooks return
 * undefined when their failpoint is not armed, so the normal path stays synchronous. A hook
 * promise rejects with a QuireError when the failpoint injects one; any other rejection is
 * treated like a failed commit (fatal). The hooks are asked only for transactions that carry
 * client writes: a transaction of applies and replica tasks alone (a follower's Append, a
 * leader heartbeat) has no batch to fail, and must not use up a counted failpoint (`1*...`)
 * meant for the next write.
 */
export interface GroupCommitFailpoints {
  /**
   * Before a batch's storage transaction. A rejection answers every write of the batch with
   * that error; nothing of the batch is written.
   */
  beforeCommit(): Promise<void> | undefined;
  /**
   * After a batch's transaction is durable, before its writes are answered. A rejection
   * answers every write of the batch with that error although it is stored.
   */
  afterCommit(): Promise<void> | undefined;
  /**
   * BREAKS DURABILITY when true: the batch's writes are answered inside the transaction, as
   * soon as they are applied, before the commit is fsynced. Asked once per batch.
   */
  ackBeforeDurable(): boolean;
}

/** Limits of the committer. */
export interface GroupCommitterLimits {
  /** Most writes waiting; beyond it submit() refuses (the caller answers OVERLOADED). */
  readonly queueOpsMax: number;
  /** Most writes in one transaction. */
  readonly batchOpsMax: number;
  /**
   * Commit pacing (RFC 0002 "Commit pacing"): when a transaction ends with fewer than
   * `pacingOpsMin` writes and replica tasks queued, the next one waits up to `lingerMs` for more
   * (a commit's fixed CPU cost is paid by fewer, larger transactions under load). Work that finds
   * the committer idle is committed at once. Absent or lingerMs 0: no pacing.
   */
  readonly pacing?: { readonly opsMin: number; readonly lingerMs: number };
}

/** Batches writes into durable transactions. */
export class GroupCommitter {
  private queue: PendingWrite[] = [];
  /** Replica tasks for the next transaction; not bounded by queueOpsMax (their senders bound them). */
  private tasks: QueuedTask[] = [];
  /** Replicas a retirement was submitted for: they take no further task. */
  private readonly retired = new WeakSet<CommitReplica>();
  /** Replicas with acknowledged entries to apply. */
  private readonly toApply = new Set<CommitReplica>();
  /** Per replica, answers waiting for its applied index, in submission order. */
  private readonly waiting = new Map<CommitReplica, Waiter[]>();
  /** Replicas this node stopped leading: their unacknowledged writes get this error at once. */
  private readonly abandoned = new Map<CommitReplica, QuireError>();
  private inFlight = false;
  private scheduled = false;
  /** A paced wait for more work is running (see GroupCommitterLimits.pacing); its generation. */
  private lingering = 0;
  private lingerGeneration = 0;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];
  /** Per replica, writes submitted and not answered yet (a leadership hand-over waits for none). */
  private readonly unanswered = new Map<CommitReplica, number>();

  constructor(
    private readonly deps: GroupCommitterDeps,
    private readonly limits: GroupCommitterLimits,
  ) {
    assert(limits.batchOpsMax >= 1 && limits.queueOpsMax >= limits.batchOpsMax, 'Invalid group commit limits');
    const pacing = limits.pacing;
    assert(pacing === undefined || pacing.lingerMs === 0 || (pacing.opsMin >= 1 && deps.scheduleAfter !== undefined), 'Commit pacing needs opsMin >= 1 and scheduleAfter');
  }

  /** Work waiting for the next transaction, as pacing counts it: client writes and replica tasks. */
  private get queuedWork(): number {
    return this.queue.length + this.tasks.length;
  }

  /** Writes waiting for a transaction. */
  get queuedOps(): number {
    return this.queue.length;
  }

  /** Asks for a transaction that applies `replica`'s acknowledged entries (e.g. after a restart). */
  applyNeeded(replica: CommitReplica): void {
    if (this.stopped || this.retired.has(replica) || !replica.needsApply) return;
    this.toApply.add(replica);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.lingering !== 0) {
      // Enough work arrived while lingering: commit now instead of at the end of the wait.
      const pacing = this.limits.pacing;
      if (pacing === undefined || this.queuedWork < pacing.opsMin) return;
      this.lingering = 0;
    }
    if (!this.inFlight && !this.scheduled) {
      this.scheduled = true;
      this.deps.schedule(() => this.flush());
    }
  }

  /** Queues a replica task for the next transaction; returns false once stopped, or once its replica is retired. */
  submitTask<T>(task: ReplicaTask<T>): boolean {
    if (this.stopped || this.retired.has(task.replica)) return false;
    this.tasks.push({ kind: 'task', task: task as ReplicaTask });
    this.scheduleFlush();
    return true;
  }

  /**
   * Queues the retirement of a replica (its storage deleted in `run`); returns false once
   * stopped. From now on the replica takes no task; once the retirement is durable its writes
   * still waiting are answered with `task.error` and the committer forgets it.
   */
  submitRetirement(task: RetirementTask): boolean {
    if (this.stopped || (task.replica !== undefined && this.retired.has(task.replica))) return false;
    if (task.replica !== undefined) this.retired.add(task.replica);
    this.tasks.push({ kind: 'retirement', task });
    this.scheduleFlush();
    return true;
  }

  /** Whether a retirement of `replica` was submitted. */
  isRetired(replica: CommitReplica): boolean {
    return this.retired.has(replica);
  }

  /**
   * A replica's acknowledged index moved outside a commit (a follower acknowledged): answers
   * the writes waiting for it and queues the apply of the newly acknowledged entries.
   */
  acknowledged(replica: CommitReplica): void {
    this.answerWaiting();
    if (!this.stopped && !this.retired.has(replica) && replica.needsApply) {
      this.toApply.add(replica);
      this.scheduleFlush();
    }
    this.notifyIdle();
  }

  /**
   * Answers every write of `replica` still waiting for its acknowledgement with `error` (the
   * node stopped leading the partition: whether those writes survive is unknown).
   */
  abandon(replica: CommitReplica, error: QuireError): number {
    // Writes of a batch still committing are answered the same way once it is durable.
    this.abandoned.set(replica, error);
    const list = this.waiting.get(replica);
    if (list === undefined) return 0;
    this.waiting.delete(replica);
    for (const w of list) w.done({ ok: false, error });
    this.notifyIdle();
    return list.length;
  }

  /** The node leads `replica`'s partition again: its writes wait for acknowledgements as usual. */
  resume(replica: CommitReplica): void {
    this.abandoned.delete(replica);
  }

  /** Queues a write; returns false (and queues nothing) when the queue is full or stopped. */
  submit(write: PendingWrite): boolean {
    if (this.stopped || this.queue.length >= this.limits.queueOpsMax) return false;
    const { replica, done } = write;
    this.unanswered.set(replica, (this.unanswered.get(replica) ?? 0) + 1);
    this.queue.push({
      ...write,
      done: (result) => {
        const left = (this.unanswered.get(replica) ?? 0) - 1;
        assert(left >= 0, 'A write was answered twice');
        if (left === 0) this.unanswered.delete(replica);
        else this.unanswered.set(replica, left);
        done(result);
      },
    });
    this.scheduleFlush();
    return true;
  }

  /** Writes of `replica` submitted and not answered yet: queued, being written, or waiting for acknowledgement. */
  unansweredWrites(replica: CommitReplica): number {
    return this.unanswered.get(replica) ?? 0;
  }

  private flush(): void {
    this.scheduled = false;
    // A flush for any reason ends a paced wait; its timer then finds another generation.
    this.lingering = 0;
    if (this.inFlight || (this.queue.length === 0 && this.toApply.size === 0 && this.tasks.length === 0)) {
      this.notifyIdle();
      return;
    }
    const batch = this.queue.length <= this.limits.batchOpsMax ? this.queue : this.queue.slice(0, this.limits.batchOpsMax);
    this.queue = batch === this.queue ? [] : this.queue.slice(batch.length);
    const tasks = this.tasks;
    this.tasks = [];
    this.inFlight = true;
    const gate = batch.length > 0 ? this.deps.failpoints?.beforeCommit() : undefined;
    if (gate === undefined) {
      this.commit(batch, tasks);
    } else {
      gate.then(
        () => this.commit(batch, tasks),
        (err: unknown) => {
          // Replica tasks are not client writes: they wait for the next transaction.
          this.tasks = [...tasks, ...this.tasks];
          this.refuse(batch, err);
        },
      );
    }
  }

  /**
   * Writes `batch` — and the applies of acknowledged entries — in one storage transaction; once
   * it is durable, marks the appended logs durable and answers what the replicas have applied.
   */
  private commit(batch: readonly PendingWrite[], tasks: readonly QueuedTask[]): void {
    assert(this.inFlight, 'A batch is committed only while marked in flight');
    const startedMs = this.deps.monotonicMs();
    const ackBeforeDurable = batch.length > 0 && (this.deps.failpoints?.ackBeforeDurable() ?? false);
    const applying = [...this.toApply];
    this.toApply.clear();
    this.deps
      .write(() => {
        const touched = new Set<CommitReplica>(applying);
        for (const replica of applying) replica.applyAcknowledged();
        const taskResults = tasks.map((queued) => {
          if (queued.kind === 'retirement') {
            queued.task.run();
            return undefined;
          }
          touched.add(queued.task.replica);
          return queued.task.run();
        });
        const outcomes: AppendOutcome[] = new Array<AppendOutcome>(batch.length);
        for (let i = 0; i < batch.length; i++) {
          const w = batch[i] as PendingWrite;
          outcomes[i] = w.replica.appendWrite(w.request, w.epoch);
          w.trace?.appended((outcomes[i] as AppendOutcome).answerAfterIndex);
          touched.add(w.replica);
          // Deliberately unsafe (failpoint): answered before the transaction is durable.
          if (ackBeforeDurable) w.done((outcomes[i] as AppendOutcome).result);
        }
        for (const replica of touched) replica.finishWrites();
        // The replicas whose log this transaction extends: told now (onLogAppended) and once durable.
        const appended = new Set([...batch.map((w) => w.replica), ...tasks.flatMap((t) => (t.kind === 'task' ? [t.task.replica] : []))]);
        const onLogAppended = this.deps.onLogAppended;
        if (onLogAppended !== undefined && appended.size > 0) {
          this.deps.schedule(() => {
            for (const replica of appended) onLogAppended(replica);
          });
        }
        return { outcomes, touched, taskResults, appended };
      })
      .then(
        ({ outcomes, touched, taskResults, appended }) => {
          // Apply-only transactions carry no writes: they do not count as batches.
          if (batch.length > 0) this.deps.onCommitted(batch.length, this.deps.monotonicMs() - startedMs);
          for (const replica of applying) replica.appliedDurable();
          for (const replica of appended) replica.logDurable();
          for (const replica of appended) this.deps.onLogDurable?.(replica);
          for (const w of batch) w.trace?.durable();
          for (let i = 0; i < tasks.length; i++) {
            const queued = tasks[i] as QueuedTask;
            if (queued.kind === 'task') {
              queued.task.done(taskResults[i]);
            } else {
              this.forget(queued.task);
              queued.task.done();
            }
          }
          // Writes answered early are never answered again, not even with an injected error.
          const finish = (): void => {
            if (!ackBeforeDurable) this.await(batch, outcomes);
            this.settle(touched);
          };
          const gate = batch.length > 0 ? this.deps.failpoints?.afterCommit() : undefined;
          if (gate === undefined) {
            finish();
          } else {
            gate.then(finish, (err: unknown) => {
              if (ackBeforeDurable && isQuireError(err)) {
                this.settle(touched);
              } else if (isQuireError(err)) {
                for (const w of batch) w.done({ ok: false, error: err });
                this.settle(touched);
              } else {
                this.fatal(err);
              }
            });
          }
        },
        (err: unknown) => this.fatal(err),
      );
  }

  /** A retirement is durable: the replica's waiting writes get its error, and nothing of it stays here. */
  private forget(task: RetirementTask): void {
    const replica = task.replica;
    if (replica === undefined) return;
    this.toApply.delete(replica);
    this.abandoned.delete(replica);
    const list = this.waiting.get(replica);
    this.waiting.delete(replica);
    for (const w of list ?? []) w.done({ ok: false, error: task.error });
  }

  /** Queues the answers of a durable batch behind their replicas' acknowledged indexes. */
  private await(batch: readonly PendingWrite[], outcomes: readonly AppendOutcome[]): void {
    for (let i = 0; i < batch.length; i++) {
      const w = batch[i] as PendingWrite;
      const outcome = outcomes[i] as AppendOutcome;
      const abandoned = this.abandoned.get(w.replica);
      if (abandoned !== undefined && outcome.answerAfterIndex > w.replica.acknowledgedIndex) {
        w.done({ ok: false, error: abandoned });
        continue;
      }
      let list = this.waiting.get(w.replica);
      if (list === undefined) {
        list = [];
        this.waiting.set(w.replica, list);
      }
      list.push({ answerAfterIndex: outcome.answerAfterIndex, result: outcome.result, done: w.done });
    }
  }

  /** Answers what the touched replicas have applied, queues their next applies, and goes on. */
  private settle(touched: ReadonlySet<CommitReplica>): void {
    this.answerWaiting();
    for (const replica of touched) if (replica.needsApply) this.toApply.add(replica);
    this.next();
  }

  /** Answers every waiting write whose replica has acknowledged what it depends on. */
  private answerWaiting(): void {
    for (const [replica, list] of this.waiting) {
      let answered = 0;
      while (answered < list.length && (list[answered] as Waiter).answerAfterIndex <= replica.acknowledgedIndex) answered++;
      if (answered === 0) continue;
      const ready = list.splice(0, answered);
      if (list.length === 0) this.waiting.delete(replica);
      for (const w of ready) w.done(w.result);
    }
  }

  /** Answers every write of `batch` with the error a failpoint injected. */
  private refuse(batch: readonly PendingWrite[], err: unknown): void {
    if (!isQuireError(err)) {
      this.fatal(err);
      return;
    }
    const error: QuireError = err;
    for (const w of batch) w.done({ ok: false, error });
    this.next();
  }

  private next(): void {
    this.inFlight = false;
    const pacing = this.limits.pacing;
    const work = this.queuedWork;
    if (pacing !== undefined && pacing.lingerMs > 0 && !this.stopped && work > 0 && work < pacing.opsMin) {
      // Little is queued: wait briefly for more, so the next transaction carries more work.
      const generation = ++this.lingerGeneration;
      this.lingering = generation;
      this.deps.scheduleAfter?.(pacing.lingerMs, () => {
        if (this.lingering !== generation) return;
        this.lingering = 0;
        this.flush();
      });
      return;
    }
    this.flush();
  }

  private fatal(err: unknown): void {
    this.stopped = true;
    this.deps.onFatal(err);
  }

  private notifyIdle(): void {
    if (this.inFlight || this.queue.length > 0 || this.tasks.length > 0 || this.toApply.size > 0 || this.waiting.size > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Refuses new writes and resolves once every queued write is durable, answered and applied. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (!this.inFlight && this.queue.length === 0 && this.tasks.length === 0 && this.toApply.size === 0 && this.waiting.size === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }
}
