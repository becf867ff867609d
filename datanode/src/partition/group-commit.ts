/**
 * GroupCommitter turns many concurrent writes into few durable storage transactions: writes
 * queue while a transaction is committing and the whole queue (up to batchOpsMax) goes into
 * the next one, so one fsync covers many requests. No write is reported before the
 * transaction holding it is durable.
 *
 * It schedules through an injected function and owns no timers, so a simulator can drive it.
 * Failpoints (tests and chaos runs) reach it only as decisions through `deps.failpoints`.
 *
 * Invariants: at most one storage transaction is in flight; the queue never exceeds
 * queueOpsMax (submit refuses instead); results are delivered in submission order per batch;
 * each write is reported exactly once. The one exception to "no write is reported before its
 * transaction is durable" is the ackBeforeDurable failpoint, which exists to break it.
 */
import { assert, isQuireError, type QuireError } from '@quire/common';
import type { PartitionReplica, WriteRequest, WriteResult } from './replica.js';

/** A write waiting for its transaction. */
export interface PendingWrite {
  readonly replica: PartitionReplica;
  readonly request: WriteRequest;
  readonly epoch: number;
  /** Called once, after the transaction is durable (or never, if the process stops). */
  readonly done: (result: WriteResult) => void;
}

/** What the committer needs from its environment. */
export interface GroupCommitterDeps {
  /** Runs `body` in one durable write transaction (StorageEngine.write). */
  write<T>(body: () => T): Promise<T>;
  /** Schedules `callback` soon, after pending I/O callbacks (setImmediate in production). */
  schedule(callback: () => void): void;
  /** Monotonic milliseconds, for commit latency. */
  monotonicMs(): number;
  /** Called after each durable transaction with its size and latency. */
  onCommitted(operations: number, durationMs: number): void;
  /** A transaction failed to commit: the process must stop, in-memory state is ahead of disk. */
  onFatal(err: unknown): void;
  /** Failpoint decisions; absent means none is ever armed. */
  readonly failpoints?: GroupCommitFailpoints;
}

/**
 * Failpoint decisions the committer asks for (see common/src/failpoint). The hooks return
 * undefined when their failpoint is not armed, so the normal path stays synchronous. A hook
 * promise rejects with a QuireError when the failpoint injects one; any other rejection is
 * treated like a failed commit (fatal).
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
}

/** Batches writes into durable transactions. */
export class GroupCommitter {
  private queue: PendingWrite[] = [];
  private inFlight = false;
  private scheduled = false;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly deps: GroupCommitterDeps,
    private readonly limits: GroupCommitterLimits,
  ) {
    assert(limits.batchOpsMax >= 1 && limits.queueOpsMax >= limits.batchOpsMax, 'Invalid group commit limits');
  }

  /** Writes waiting for a transaction. */
  get queuedOps(): number {
    return this.queue.length;
  }

  /** Queues a write; returns false (and queues nothing) when the queue is full or stopped. */
  submit(write: PendingWrite): boolean {
    if (this.stopped || this.queue.length >= this.limits.queueOpsMax) return false;
    this.queue.push(write);
    if (!this.inFlight && !this.scheduled) {
      this.scheduled = true;
      this.deps.schedule(() => this.flush());
    }
    return true;
  }

  private flush(): void {
    this.scheduled = false;
    if (this.inFlight || this.queue.length === 0) {
      this.notifyIdle();
      return;
    }
    const batch = this.queue.length <= this.limits.batchOpsMax ? this.queue : this.queue.slice(0, this.limits.batchOpsMax);
    this.queue = batch === this.queue ? [] : this.queue.slice(batch.length);
    this.inFlight = true;
    const gate = this.deps.failpoints?.beforeCommit();
    if (gate === undefined) {
      this.commit(batch);
    } else {
      gate.then(
        () => this.commit(batch),
        (err: unknown) => this.refuse(batch, err),
      );
    }
  }

  /** Writes `batch` in one storage transaction and reports it once durable. */
  private commit(batch: readonly PendingWrite[]): void {
    assert(this.inFlight, 'A batch is committed only while marked in flight');
    const startedMs = this.deps.monotonicMs();
    const ackBeforeDurable = this.deps.failpoints?.ackBeforeDurable() ?? false;
    this.deps
      .write(() => {
        const results: WriteResult[] = new Array<WriteResult>(batch.length);
        const touched = new Set<PartitionReplica>();
        for (let i = 0; i < batch.length; i++) {
          const w = batch[i] as PendingWrite;
          results[i] = w.replica.applyWrite(w.request, w.epoch);
          touched.add(w.replica);
          // Deliberately unsafe (failpoint): answered before the transaction is durable.
          if (ackBeforeDurable) w.done(results[i] as WriteResult);
        }
        for (const replica of touched) replica.finishWrites();
        return results;
      })
      .then(
        (results) => {
          this.deps.onCommitted(batch.length, this.deps.monotonicMs() - startedMs);
          // Writes answered early are never answered again, not even with an injected error.
          const finish = ackBeforeDurable ? () => this.next() : () => this.report(batch, results);
          const gate = this.deps.failpoints?.afterCommit();
          if (gate === undefined) {
            finish();
          } else {
            gate.then(finish, (err: unknown) => (ackBeforeDurable && isQuireError(err) ? this.next() : this.refuse(batch, err)));
          }
        },
        (err: unknown) => this.fatal(err),
      );
  }

  private report(batch: readonly PendingWrite[], results: readonly WriteResult[]): void {
    for (let i = 0; i < batch.length; i++) (batch[i] as PendingWrite).done(results[i] as WriteResult);
    this.next();
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
    this.flush();
  }

  private fatal(err: unknown): void {
    this.stopped = true;
    this.deps.onFatal(err);
  }

  private notifyIdle(): void {
    if (this.inFlight || this.queue.length > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Refuses new writes and resolves once every queued write is durable. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (!this.inFlight && this.queue.length === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }
}
