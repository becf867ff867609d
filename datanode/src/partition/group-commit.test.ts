import { describe, expect, it } from 'vitest';
import { OverloadedError } from '@quire/common';
import { GroupCommitter, type CommitReplica, type GroupCommitFailpoints, type GroupCommitterDeps, type PendingWrite } from './group-commit.js';
import type { AppendOutcome, WriteRequest, WriteResult } from './replica.js';

/**
 * A replica stand-in with one replica's semantics: appends get a running index, a durable log
 * is acknowledged, and applyAcknowledged applies everything acknowledged.
 */
class RecordingReplica implements CommitReplica {
  readonly appended: string[] = [];
  finishes = 0;
  appliedIndex = 0;
  private logEnd = 0;
  acknowledgedIndex = 0;
  appendWrite(request: WriteRequest): AppendOutcome {
    this.appended.push(request.key.toString());
    this.logEnd++;
    return { result: { ok: true, version: this.logEnd, found: false }, answerAfterIndex: this.logEnd };
  }
  logDurable(): void {
    this.acknowledgedIndex = this.logEnd;
  }
  get needsApply(): boolean {
    return this.acknowledgedIndex > this.applying;
  }
  private applying = 0;
  applyAcknowledged(): number {
    const n = this.acknowledgedIndex - this.applying;
    this.applying = this.acknowledgedIndex;
    return n;
  }
  appliedDurable(): void {
    this.appliedIndex = this.applying;
  }
  finishWrites(): void {
    this.finishes++;
  }
}

function harness(
  limits: ConstructorParameters<typeof GroupCommitter>[1] = { queueOpsMax: 10, batchOpsMax: 4 },
  failpoints?: GroupCommitFailpoints,
  hooks: Pick<GroupCommitterDeps, 'onLogAppended' | 'onLogDurable' | 'scheduleAfter'> = {},
) {
  const transactions: { size: number; resolve: () => void; reject: (err: Error) => void }[] = [];
  const scheduled: (() => void)[] = [];
  const committed: number[] = [];
  const fatal: unknown[] = [];
  const deps: GroupCommitterDeps = {
    write<T>(body: () => T): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const result = body();
        transactions.push({ size: (result as { outcomes: unknown[] }).outcomes.length, resolve: () => resolve(result), reject });
      });
    },
    schedule: (cb) => scheduled.push(cb),
    monotonicMs: () => 0,
    onCommitted: (ops) => committed.push(ops),
    onFatal: (err) => fatal.push(err),
    ...(failpoints === undefined ? {} : { failpoints }),
    ...hooks,
  };
  const committer = new GroupCommitter(deps, limits);
  const replica = new RecordingReplica();
  const results: [string, WriteResult][] = [];
  const submit = (key: string): boolean =>
    committer.submit({
      replica,
      request: { kind: 'put', key: Buffer.from(key), value: Buffer.alloc(0), expectedVersion: undefined },
      epoch: 1,
      done: (r) => results.push([key, r]),
    } satisfies PendingWrite);
  const runScheduled = (): void => {
    for (const cb of scheduled.splice(0)) cb();
  };
  const settle = async (): Promise<void> => {
    await new Promise((r) => setImmediate(r));
  };
  return { committer, replica, results, submit, runScheduled, transactions, committed, fatal, settle };
}

describe('GroupCommitter', () => {
  describe('with commit pacing', () => {
    const paced = () => {
      const delayed: { ms: number; run: () => void }[] = [];
      const h = harness({ queueOpsMax: 10, batchOpsMax: 8, pacing: { opsMin: 4, lingerMs: 1 } }, undefined, { scheduleAfter: (ms, run) => delayed.push({ ms, run }) });
      return { ...h, delayed };
    };

    it('commits a write that finds it idle at once, and after a commit waits for enough work before the next', async () => {
      const h = paced();
      h.submit('a');
      h.runScheduled();
      expect(h.transactions.map((t) => t.size)).toEqual([1]);
      h.submit('b');
      h.submit('c');
      h.transactions[0]!.resolve();
      await h.settle();
      h.runScheduled();
      // Two writes queued, fewer than opsMin: the committer lingers instead of committing them.
      expect(h.transactions).toHaveLength(1);
      expect(h.delayed.map((d) => d.ms)).toEqual([1]);
      h.submit('d');
      h.runScheduled();
      expect(h.transactions).toHaveLength(1);
      // The fourth write ends the wait early.
      h.submit('e');
      h.runScheduled();
      expect(h.transactions.map((t) => t.size)).toEqual([1, 4]);
      // The wait's own timer then finds a newer generation and does nothing.
      h.delayed[0]!.run();
      expect(h.transactions).toHaveLength(2);
      h.transactions[1]!.resolve();
      await h.settle();
      expect(h.results.map(([k]) => k)).toEqual(['a', 'b', 'c', 'd', 'e']);
    });

    it('commits what is queued when the wait ends without enough work', async () => {
      const h = paced();
      h.submit('a');
      h.runScheduled();
      h.submit('b');
      h.transactions[0]!.resolve();
      await h.settle();
      h.runScheduled();
      expect(h.transactions).toHaveLength(1);
      h.delayed[0]!.run();
      expect(h.transactions.map((t) => t.size)).toEqual([1, 1]);
      h.transactions[1]!.resolve();
      await h.settle();
      expect(h.results.map(([k]) => k)).toEqual(['a', 'b']);
    });
  });

  it('counts each replica\'s writes from submission until they are answered, through the transaction that holds them', async () => {
    const h = harness();
    expect(h.committer.unansweredWrites(h.replica)).toBe(0);
    h.submit('a');
    h.submit('b');
    expect(h.committer.unansweredWrites(h.replica)).toBe(2);
    h.runScheduled();
    // Taken out of the queue and into a transaction that is not durable yet: still unanswered.
    expect(h.transactions).toHaveLength(1);
    expect(h.committer.unansweredWrites(h.replica)).toBe(2);
    h.transactions[0]!.resolve();
    await h.settle();
    expect(h.results.map(([key]) => key)).toEqual(['a', 'b']);
    expect(h.committer.unansweredWrites(h.replica)).toBe(0);
  });

  it('appends every write queued before the flush in one transaction, answers them once durable (acknowledged), then applies them', async () => {
    const h = harness();
    h.submit('a');
    h.submit('b');
    h.submit('c');
    h.runScheduled();
    expect(h.transactions.map((t) => t.size)).toEqual([3]);
    expect(h.replica.finishes).toBe(1);
    await h.settle();
    expect(h.results).toEqual([]);
    h.transactions[0]?.resolve();
    await h.settle();
    expect(h.results.map(([k, r]) => [k, r.ok && r.version])).toEqual([['a', 1], ['b', 2], ['c', 3]]);
    expect(h.committed).toEqual([3]);
    // Acknowledged, so applied by a second transaction, off the answer path; applied counts once it commits.
    expect(h.transactions.map((t) => t.size)).toEqual([3, 0]);
    expect(h.replica.appliedIndex).toBe(0);
    h.transactions[1]?.resolve();
    await h.settle();
    expect(h.replica.appliedIndex).toBe(3);
  });

  it('reports a replica whose log a transaction extended right after the body ran, before the transaction is durable, and durable after', async () => {
    const events: string[] = [];
    const h = harness(undefined, undefined, {
      onLogAppended: (r) => events.push(`appended ${(r as RecordingReplica).appended.length}`),
      onLogDurable: (r) => events.push(`durable ${(r as RecordingReplica).appended.length}`),
    });
    h.submit('a');
    h.submit('b');
    h.runScheduled(); // the flush: runs the body, schedules the appended report
    expect(events).toEqual([]);
    h.runScheduled();
    expect(events).toEqual(['appended 2']);
    await h.settle();
    expect(h.results).toEqual([]);
    h.transactions[0]?.resolve();
    await h.settle();
    expect(events).toEqual(['appended 2', 'durable 2']);
    // The apply-only transaction that follows extends no log: no report.
    h.runScheduled();
    h.transactions[1]?.resolve();
    await h.settle();
    h.runScheduled();
    expect(events).toEqual(['appended 2', 'durable 2']);
  });

  it('queues writes that arrive during a commit and commits them together next', async () => {
    const h = harness();
    h.submit('a');
    h.runScheduled();
    h.submit('b');
    h.submit('c');
    h.runScheduled();
    expect(h.transactions).toHaveLength(1);
    h.transactions[0]?.resolve();
    await h.settle();
    expect(h.transactions.map((t) => t.size)).toEqual([1, 2]);
  });

  it('splits a queue longer than batchOpsMax over several transactions, in order', async () => {
    const h = harness({ queueOpsMax: 10, batchOpsMax: 4 });
    for (let i = 0; i < 6; i++) h.submit(`k${i}`);
    h.runScheduled();
    h.transactions[0]?.resolve();
    await h.settle();
    h.transactions[1]?.resolve();
    await h.settle();
    // The second transaction also applied the first batch; a third applies the second.
    expect(h.transactions.map((t) => t.size)).toEqual([4, 2, 0]);
    expect(h.replica.appended).toEqual(['k0', 'k1', 'k2', 'k3', 'k4', 'k5']);
    expect(h.results.map(([k]) => k)).toEqual(['k0', 'k1', 'k2', 'k3', 'k4', 'k5']);
  });

  it('refuses writes beyond queueOpsMax without queueing them', () => {
    const h = harness({ queueOpsMax: 2, batchOpsMax: 1 });
    expect(h.submit('a')).toBe(true);
    expect(h.submit('b')).toBe(true);
    expect(h.submit('c')).toBe(false);
    expect(h.committer.queuedOps).toBe(2);
  });

  it('stops and reports a failed transaction as fatal, never as success', async () => {
    const h = harness();
    h.submit('a');
    h.runScheduled();
    h.transactions[0]?.reject(new Error('EIO'));
    await h.settle();
    expect(h.fatal).toHaveLength(1);
    expect(h.results).toEqual([]);
    expect(h.submit('b')).toBe(false);
  });

  it('stop() refuses new writes and resolves once the queued ones are durable, answered and applied', async () => {
    const h = harness();
    h.submit('a');
    h.runScheduled();
    h.submit('b');
    let stopped = false;
    const stopping = h.committer.stop().then(() => (stopped = true));
    expect(h.submit('c')).toBe(false);
    h.transactions[0]?.resolve();
    await h.settle();
    expect(stopped).toBe(false);
    h.transactions[1]?.resolve();
    await h.settle();
    expect(stopped).toBe(false);
    h.transactions[2]?.resolve();
    await stopping;
    expect(h.results.map(([k]) => k)).toEqual(['a', 'b']);
  });

  it('applies entries acknowledged before a restart when asked, without any new write', async () => {
    const h = harness();
    h.replica.appendWrite({ kind: 'put', key: Buffer.from('old'), value: Buffer.alloc(0), expectedVersion: undefined });
    h.replica.logDurable();
    h.committer.applyNeeded(h.replica);
    h.runScheduled();
    expect(h.transactions.map((t) => t.size)).toEqual([0]);
    expect(h.replica.appliedIndex).toBe(0);
    h.transactions[0]?.resolve();
    await h.settle();
    expect(h.replica.appliedIndex).toBe(1);
    expect(h.transactions).toHaveLength(1);
  });

  it('rejects limits where a batch could exceed the queue', () => {
    expect(() => harness({ queueOpsMax: 1, batchOpsMax: 2 })).toThrow('Invalid group commit limits');
  });

  describe('failpoints', () => {
    /** A promise the test settles by hand. */
    function deferred(): { promise: Promise<void>; resolve: () => void; reject: (err: unknown) => void } {
      let resolve!: () => void;
      let reject!: (err: unknown) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      return { promise, resolve, reject };
    }
    const none: GroupCommitFailpoints = { beforeCommit: () => undefined, afterCommit: () => undefined, ackBeforeDurable: () => false };

    it('ackBeforeDurable reports every write while its transaction is still uncommitted, and only once', async () => {
      const h = harness(undefined, { ...none, ackBeforeDurable: () => true });
      h.submit('a');
      h.submit('b');
      h.runScheduled();
      // The transaction body ran but its commit (fsync) has not resolved: results are out already.
      expect(h.transactions).toHaveLength(1);
      expect(h.results.map(([k, r]) => [k, r.ok && r.version])).toEqual([['a', 1], ['b', 2]]);
      h.transactions[0]?.resolve();
      await h.settle();
      expect(h.results).toHaveLength(2);
      expect(h.committed).toEqual([2]);
      // The committer goes on: it applies the batch, then takes the next one.
      h.submit('c');
      h.transactions[1]?.resolve();
      await h.settle();
      expect(h.transactions.map((t) => t.size)).toEqual([2, 0, 1]);
      expect(h.results).toHaveLength(3);
    });

    it('without ackBeforeDurable nothing is reported before the commit resolves (the contrast)', async () => {
      const h = harness(undefined, none);
      h.submit('a');
      h.runScheduled();
      await h.settle();
      expect(h.results).toEqual([]);
      h.transactions[0]?.resolve();
      await h.settle();
      expect(h.results).toHaveLength(1);
    });

    it('beforeCommit holds the batch until it resolves', async () => {
      const gate = deferred();
      const h = harness(undefined, { ...none, beforeCommit: () => gate.promise });
      h.submit('a');
      h.runScheduled();
      h.submit('b');
      await h.settle();
      expect(h.transactions).toEqual([]);
      gate.resolve();
      await h.settle();
      expect(h.transactions.map((t) => t.size)).toEqual([1]);
    });

    it('beforeCommit rejecting with a QuireError answers the batch with it and writes none of it', async () => {
      let calls = 0;
      const h = harness(undefined, {
        ...none,
        beforeCommit: () => (++calls === 1 ? Promise.reject(new OverloadedError('Failpoint injected OVERLOADED')) : undefined),
      });
      h.submit('a');
      h.submit('b');
      h.runScheduled();
      await h.settle();
      expect(h.transactions).toEqual([]);
      expect(h.replica.appended).toEqual([]);
      expect(h.results.map(([k, r]) => [k, r.ok ? 'ok' : r.error.code])).toEqual([['a', 'OVERLOADED'], ['b', 'OVERLOADED']]);
      expect(h.fatal).toEqual([]);
      // The next batch commits normally.
      h.submit('c');
      h.runScheduled();
      expect(h.transactions.map((t) => t.size)).toEqual([1]);
    });

    it('afterCommit holds the answers of a durable batch; rejecting answers them with the error', async () => {
      const gate = deferred();
      const h = harness(undefined, { ...none, afterCommit: () => gate.promise });
      h.submit('a');
      h.runScheduled();
      h.transactions[0]?.resolve();
      await h.settle();
      expect(h.committed).toEqual([1]);
      expect(h.results).toEqual([]);
      gate.reject(new OverloadedError('Failpoint injected OVERLOADED'));
      await h.settle();
      expect(h.replica.appended).toEqual(['a']);
      expect(h.results.map(([k, r]) => [k, r.ok ? 'ok' : r.error.code])).toEqual([['a', 'OVERLOADED']]);
    });

    it('transactions without client writes (replica tasks, applies) do not consult the failpoints, so a counted one waits for the next write', async () => {
      const asked: string[] = [];
      const h = harness(undefined, {
        beforeCommit: () => {
          asked.push('before');
          return undefined;
        },
        afterCommit: () => {
          asked.push('after');
          return undefined;
        },
        ackBeforeDurable: () => {
          asked.push('ack');
          return false;
        },
      });
      // A follower's Append (or a heartbeat) alone: one transaction, no failpoint asked.
      h.committer.submitTask({ replica: h.replica, run: () => 0, done: () => undefined });
      h.runScheduled();
      h.transactions[0]?.resolve();
      await h.settle();
      expect(h.transactions).toHaveLength(1);
      expect(asked).toEqual([]);
      // A client write: each hook asked once for its transaction.
      h.submit('a');
      h.runScheduled();
      h.transactions[1]?.resolve();
      await h.settle();
      expect(asked).toEqual(['before', 'ack', 'after']);
      expect(h.results.map(([k]) => k)).toEqual(['a']);
    });

    it('a hook rejecting with something other than a QuireError is fatal', async () => {
      const h = harness(undefined, { ...none, beforeCommit: () => Promise.reject(new Error('bug')) });
      h.submit('a');
      h.runScheduled();
      await h.settle();
      expect(h.fatal).toHaveLength(1);
      expect(h.results).toEqual([]);
      expect(h.submit('b')).toBe(false);
    });
  });

  it('runs replica tasks inside the transaction in order with writes, and gives their results once durable', async () => {
    const h = harness();
    const events: string[] = [];
    h.submit('w1');
    h.committer.submitTask({
      replica: h.replica,
      run: () => {
        events.push('run');
        return 7;
      },
      done: (n) => events.push(`done ${n}`),
    });
    h.runScheduled();
    expect(events).toEqual(['run']);
    expect(h.transactions).toHaveLength(1);
    h.transactions[0]?.resolve();
    await h.settle();
    expect(events).toEqual(['run', 'done 7']);
    expect(h.results.map(([k]) => k)).toEqual(['w1']);
  });

  it('runs a retirement in order with the tasks before it, refuses later tasks of its replica, and answers its waiting writes with its error once durable', async () => {
    const h = harness();
    // A replicated replica: its durable writes wait for an acknowledgement that never comes.
    h.replica.logDurable = function (this: RecordingReplica) {};
    h.submit('waiting');
    h.runScheduled();
    h.transactions[0]?.resolve();
    await h.settle();
    h.runScheduled();
    expect(h.results).toEqual([]);
    const events: string[] = [];
    expect(h.committer.submitTask({ replica: h.replica, run: () => events.push('task before'), done: () => events.push('task done') })).toBe(true);
    const error = new OverloadedError('retired');
    expect(h.committer.submitRetirement({ replica: h.replica, error, run: () => events.push('retire'), done: () => events.push('retired') })).toBe(true);
    expect(h.committer.isRetired(h.replica)).toBe(true);
    expect(h.committer.submitTask({ replica: h.replica, run: () => events.push('task after'), done: () => undefined })).toBe(false);
    expect(h.committer.submitRetirement({ replica: h.replica, error, run: () => undefined, done: () => undefined })).toBe(false);
    // Storage that no replica was opened for is retired the same way.
    expect(h.committer.submitRetirement({ replica: undefined, error, run: () => events.push('drop unopened'), done: () => events.push('dropped unopened') })).toBe(true);
    h.runScheduled();
    expect(events).toEqual(['task before', 'retire', 'drop unopened']);
    h.transactions[1]?.resolve();
    await h.settle();
    expect(events).toEqual(['task before', 'retire', 'drop unopened', 'task done', 'retired', 'dropped unopened']);
    expect(h.results).toEqual([['waiting', { ok: false, error }]]);
    // An acknowledgement of the retired replica no longer queues an apply.
    h.replica.acknowledgedIndex = 1;
    h.committer.acknowledged(h.replica);
    h.runScheduled();
    expect(h.transactions).toHaveLength(2);
  });

  it('answers writes waiting for an acknowledgement that arrives after their commit, and then applies them', async () => {
    const h = harness();
    // A replicated replica: durable entries wait for an outside acknowledgement.
    h.replica.logDurable = function (this: RecordingReplica) {};
    h.submit('a');
    h.submit('b');
    h.runScheduled();
    h.transactions[0]?.resolve();
    await h.settle();
    h.runScheduled();
    expect(h.results).toEqual([]);
    h.replica.acknowledgedIndex = 1;
    h.committer.acknowledged(h.replica);
    expect(h.results.map(([k]) => k)).toEqual(['a']);
    h.runScheduled();
    expect(h.transactions).toHaveLength(2);
    h.transactions[1]?.resolve();
    await h.settle();
    expect(h.replica.appliedIndex).toBe(1);
    h.replica.acknowledgedIndex = 2;
    h.committer.acknowledged(h.replica);
    expect(h.results.map(([k]) => k)).toEqual(['a', 'b']);
  });
});
