/**
 * LeaderElection elects one coordinator through etcd. A candidate creates
 * /quire/v1/coordinator/leader under its own lease, only if the key does not exist
 * (compare create_revision == 0). The winner's term is the key's create revision: it only
 * grows, and every map write the leader makes compares it (see FencedWriter), so a deposed
 * leader's late writes fail. Losers watch the key and campaign again when it is deleted
 * (the leader resigned or its lease expired).
 *
 * Invariant: at most one candidate believes it is leader with a given term. A leader cut off
 * from etcd may go on believing it leads for up to about 2×TTL after its last keep-alive
 * (etcd3 reports `lost` only when etcd answers that the lease expired, or on reconnecting more
 * than 2×TTL after the last successful keep-alive), while a standby may already lead: its
 * writes are fenced by the term (FencedWriter), so they change nothing.
 */
import type { Lease } from 'etcd3';
import { CoordinatorLeaderRecord } from '@quire/proto';
import { coordinatorLeaderKey, type Logger } from '@quire/common';
import { revisionOf, type EtcdClient } from './connect.js';

/** What the election tells its owner. */
export interface ElectionCallbacks {
  /** This candidate became leader with `term`. */
  onElected(term: number): void;
  /** This candidate is no longer leader; stop acting immediately. */
  onDeposed(reason: string): void;
}

/** Campaigns for coordinator leadership until closed. */
export class LeaderElection {
  private lease: Lease | undefined;
  private term = 0;
  private closed = false;
  private wakeUp: (() => void) | undefined;

  constructor(
    private readonly etcd: EtcdClient,
    private readonly record: CoordinatorLeaderRecord,
    private readonly leaseTtlSeconds: number,
    private readonly callbacks: ElectionCallbacks,
    private readonly log: Logger,
    private readonly retryDelayMs = 500,
  ) {}

  /** The current term while leader, else 0. */
  get currentTerm(): number {
    return this.term;
  }

  /** Runs the campaign loop in the background. */
  start(): void {
    void this.campaignLoop();
  }

  private async campaignLoop(): Promise<void> {
    while (!this.closed) {
      try {
        if (this.term === 0) await this.campaignOnce();
      } catch (err) {
        this.log.warn('Coordinator election attempt failed; retrying', { err: String(err) });
      }
      if (this.closed) return;
      // Sleep until the leader key may be free again (watch-driven) or a retry interval passes.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.term === 0 ? this.retryDelayMs : 60_000);
        this.wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeUp = undefined;
    }
  }

  private async campaignOnce(): Promise<void> {
    const lease = this.etcd.lease(this.leaseTtlSeconds, { autoKeepAlive: true });
    let leaseId: string;
    try {
      leaseId = await lease.grant();
    } catch (err) {
      lease.release();
      throw err;
    }
    const value = Buffer.from(CoordinatorLeaderRecord.encode(this.record).finish());
    const res = await this.etcd
      .if(coordinatorLeaderKey, 'Create', '==', 0)
      .then(this.etcd.put(coordinatorLeaderKey).value(value).lease(leaseId))
      .commit();
    if (!res.succeeded || this.closed) {
      await lease.revoke().catch(() => lease.release());
      if (!res.succeeded) await this.waitForVacancy(revisionOf(res.header.revision));
      return;
    }
    this.lease = lease;
    this.term = revisionOf(res.header.revision);
    lease.on('lost', (err) => {
      if (this.lease !== lease) return;
      this.depose(`lease lost: ${String(err)}`);
    });
    this.log.info('Elected coordinator leader', { term: this.term });
    this.callbacks.onElected(this.term);
  }

  /** Watches the leader key from `revision` and returns once it is deleted. */
  private async waitForVacancy(revision: number): Promise<void> {
    const watcher = await this.etcd.watch().key(coordinatorLeaderKey).startRevision(String(revision + 1)).create();
    try {
      const current = await this.etcd.get(coordinatorLeaderKey).exists();
      if (!current || this.closed) return;
      await new Promise<void>((resolve) => {
        watcher.on('delete', () => resolve());
        watcher.on('error', () => resolve());
        this.wakeUp = resolve;
      });
    } finally {
      await watcher.cancel().catch(() => undefined);
    }
  }

  private depose(reason: string): void {
    if (this.term === 0) return;
    this.log.warn('Deposed as coordinator leader', { term: this.term, reason });
    this.term = 0;
    const lease = this.lease;
    this.lease = undefined;
    lease?.release();
    this.callbacks.onDeposed(reason);
    this.wakeUp?.();
  }

  /** Called by the owner when a fenced write failed because the term no longer holds. */
  fenced(): void {
    this.depose('a fenced write found the term over');
  }

  /** Resigns (deleting the key at once, so a standby takes over without waiting the TTL) and stops. */
  async close(): Promise<void> {
    this.closed = true;
    const lease = this.lease;
    const wasLeader = this.term !== 0;
    this.term = 0;
    this.lease = undefined;
    this.wakeUp?.();
    if (lease !== undefined) await lease.revoke().catch(() => lease.release());
    if (wasLeader) this.callbacks.onDeposed('resigned');
  }
}
