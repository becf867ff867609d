/**
 * LeaderContact: what a follower replica knows about how fresh its acknowledged index is (RFC
 * 0001, "Follower reads"). A follower serves STALE reads with a staleness figure: the time since
 * it last received, from the leader of the current epoch, an Append whose acknowledged index it
 * then reached. Its answers reflect every write that leader had acknowledged when it sent the
 * message, so that time (plus the message's transit, not measured) bounds how old they are.
 *
 * One exception needs care: a leader new in its epoch may state an acknowledged index lower
 * than what the previous leader acknowledged (it serves reads only once it has acknowledged the
 * log it took over). Reaching its stated index then proves nothing. So a follower counts
 * contacts of an epoch only once the epoch is *settled*: its acknowledged index reached the log
 * end it held when it first heard of the epoch. A follower in the ISR holds every entry the
 * previous leader acknowledged (sync: every ISR member had it durable before it was
 * acknowledged), so that log end is at least the previous leader's acknowledged index.
 *
 * Critical invariants:
 *  - A contact time is recorded only for a settled epoch, and only when the replica's
 *    acknowledged index is at least the acknowledged index the message stated.
 *  - The epoch never goes back; a message of an older epoch changes nothing (the follower core
 *    has refused it before this is asked).
 *  - reset() (a snapshot install) forgets everything: the replica's indexes went back.
 *
 * Pure: the caller passes monotonic milliseconds and indexes.
 */

/** What a follower knows of its leader's acknowledged index. */
export interface LeaderContactState {
  /** The epoch of the last accepted Append (0: none since open or the last snapshot install). */
  readonly epoch: number;
  /** Whether the epoch is settled (see the module header). */
  readonly settled: boolean;
  /** Monotonic ms when the last counted contact was received; undefined: none in this epoch. */
  readonly receivedMs: number | undefined;
}

/** A follower replica's contacts with its leader. */
export class LeaderContact {
  private epoch = 0;
  private settleIndex = 0;
  private settled = false;
  private receivedMs: number | undefined;

  /**
   * Records an accepted Append of `epoch`, received at `receivedMs`, that stated
   * `leaderAcknowledgedIndex`; `logEndBefore` is the replica's log end before it appended the
   * message's entries, `acknowledgedIndex` its acknowledged index after the message.
   */
  appendAccepted(epoch: number, leaderAcknowledgedIndex: number, logEndBefore: number, acknowledgedIndex: number, receivedMs: number): void {
    if (epoch < this.epoch) return;
    if (epoch > this.epoch) {
      this.epoch = epoch;
      this.settleIndex = logEndBefore;
      this.settled = false;
      this.receivedMs = undefined;
    }
    if (!this.settled && acknowledgedIndex >= this.settleIndex) this.settled = true;
    if (this.settled && acknowledgedIndex >= leaderAcknowledgedIndex && (this.receivedMs === undefined || receivedMs > this.receivedMs)) {
      this.receivedMs = receivedMs;
    }
  }

  /** Forgets every contact (a snapshot install began: the replica's indexes went back). */
  reset(): void {
    this.epoch = 0;
    this.settleIndex = 0;
    this.settled = false;
    this.receivedMs = undefined;
  }

  /** The current state. */
  get state(): LeaderContactState {
    return { epoch: this.epoch, settled: this.settled, receivedMs: this.receivedMs };
  }
}
