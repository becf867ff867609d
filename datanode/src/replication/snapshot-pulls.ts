/**
 * SnapshotPulls: which snapshot pulls a follower node runs (RFC 0001 "Catch-up, snapshots and
 * log truncation"; replication.proto InstallSnapshot). A leader's InstallSnapshot asks for one;
 * the pull itself (Replication.Snapshot from that leader, loading the partition store) is the
 * adapter's (replicate/snapshot-installer.ts). Pure: no I/O, no time.
 *
 * Rules:
 *  - One pull per partition. A repeat of the request (same leader and epoch: a resend after a
 *    reconnect) joins the pull under way; a request of a newer epoch retargets it (the attempt
 *    under way is abandoned and the pull starts over from the new leader); a request of an older
 *    epoch is stale and ignored.
 *  - At most `installsMax` pulls run at once (each rebuilds a partition store and holds a read
 *    transaction on its leader); the others wait, in the order they were asked for.
 *
 * Critical invariants: a partition is at most once in the table, running or waiting; the
 * number running never exceeds installsMax; a waiting pull starts only when a running one
 * finishes.
 */
import { assert } from '@quire/common';

/** The leader and epoch a pull takes its snapshot from. */
export interface PullTarget {
  readonly leader: string;
  readonly epoch: number;
}

/** What a request did. */
export type PullRequestOutcome =
  /** A new pull that may start now. */
  | 'started'
  /** A new pull that waits for a running one to finish. */
  | 'queued'
  /** A pull from the same target was there already. */
  | 'joined'
  /** The pull there now targets the newer epoch. */
  | 'retargeted'
  /** The pull there targets a newer epoch: the request is ignored. */
  | 'stale';

interface Pull {
  target: PullTarget;
  running: boolean;
}

/** The snapshot pulls of one follower node, by partition id (keyspace/partition). */
export class SnapshotPulls {
  private readonly pulls = new Map<string, Pull>();
  private readonly waiting: string[] = [];
  private running = 0;

  constructor(private readonly installsMax: number) {
    assert(Number.isSafeInteger(installsMax) && installsMax >= 1, `installsMax ${installsMax} is not a positive integer`);
  }

  /** Pulls running now. */
  get runningCount(): number {
    return this.running;
  }

  /** Pulls waiting for a free slot. */
  get waitingCount(): number {
    return this.waiting.length;
  }

  /** Records a request for a snapshot of partition `id` from `target`. */
  request(id: string, target: PullTarget): PullRequestOutcome {
    assert(Number.isSafeInteger(target.epoch) && target.epoch >= 1 && target.leader !== '', `Pull target ${target.leader}@${target.epoch}`);
    const pull = this.pulls.get(id);
    if (pull !== undefined) {
      if (target.epoch < pull.target.epoch) return 'stale';
      if (target.epoch === pull.target.epoch) {
        // One leader per epoch: a second one here is a caller bug (checkSender refuses it).
        assert(target.leader === pull.target.leader, `Epoch ${target.epoch} of ${id} requested by ${target.leader} and ${pull.target.leader}`);
        return 'joined';
      }
      pull.target = target;
      return 'retargeted';
    }
    if (this.running < this.installsMax) {
      this.pulls.set(id, { target, running: true });
      this.running++;
      return 'started';
    }
    this.pulls.set(id, { target, running: false });
    this.waiting.push(id);
    return 'queued';
  }

  /** The target of partition `id`'s pull, if it has one. */
  target(id: string): PullTarget | undefined {
    return this.pulls.get(id)?.target;
  }

  /** Whether partition `id`'s pull is running (not waiting). */
  isRunning(id: string): boolean {
    return this.pulls.get(id)?.running === true;
  }

  /**
   * Removes partition `id`'s pull if it is waiting (its replica is being deleted); returns
   * whether it did. A running pull is not removed: it ends with finish().
   */
  cancelWaiting(id: string): boolean {
    const pull = this.pulls.get(id);
    if (pull === undefined || pull.running) return false;
    this.pulls.delete(id);
    this.waiting.splice(this.waiting.indexOf(id), 1);
    return true;
  }

  /**
   * Ends partition `id`'s running pull (installed, or given up). Returns the partitions whose
   * waiting pulls start now.
   */
  finish(id: string): string[] {
    const pull = this.pulls.get(id);
    assert(pull !== undefined && pull.running, `No running snapshot pull of ${id} to finish`);
    this.pulls.delete(id);
    this.running--;
    const started: string[] = [];
    while (this.running < this.installsMax && this.waiting.length > 0) {
      const next = this.waiting.shift() as string;
      const waiting = this.pulls.get(next) as Pull;
      waiting.running = true;
      this.running++;
      started.push(next);
    }
    return started;
  }
}
