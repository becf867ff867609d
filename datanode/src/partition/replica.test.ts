import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../common/src/testing/manual-clock.js';
import { openLmdbEngine } from '../storage/lmdb-engine.js';
import { LogEntryKind, decodeLogEntry } from '../storage/codec.js';
import type { StorageEngine } from '../storage/engine.js';
import { PartitionReplica, type AppendOutcome, type ReplicatedEntry, type WriteRequest, type WriteResult } from './replica.js';

let dir: string;
let engine: StorageEngine;
let clock: ManualClock;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'quire-replica-'));
  engine = openLmdbEngine({ path: dir, partitionsMax: 4 });
  clock = new ManualClock();
});
afterEach(async () => {
  await engine.close();
  rmSync(dir, { recursive: true, force: true });
});

const put = (key: string, value: string, expectedVersion?: number): WriteRequest => ({ kind: 'put', key: Buffer.from(key), value: Buffer.from(value), expectedVersion });
const del = (key: string, expectedVersion?: number): WriteRequest => ({ kind: 'delete', key: Buffer.from(key), value: Buffer.alloc(0), expectedVersion });

const pendingLimits = { pendingEntriesMax: 1000, pendingBytesMax: 1 << 20, retryAfterMs: 10 };
const dedupLimits = { dedupEntriesMax: 1000, dedupWindowMs: 60_000 };

function replica(retain = 1000, pending = pendingLimits, dedup = dedupLimits): PartitionReplica {
  return new PartitionReplica(engine.partition('default', 0), { logRetainEntriesMax: retain, logTruncateBatchMax: 1000, applyEntriesMax: 1000, pending, replicated: false, dedup }, clock);
}

/** Appends in one transaction; returns the outcomes (nothing applied yet). */
async function append(r: PartitionReplica, ...requests: WriteRequest[]): Promise<AppendOutcome[]> {
  return engine.write(() => {
    const outcomes = requests.map((req) => r.appendWrite(req, 1));
    r.finishWrites();
    return outcomes;
  });
}

/** Applies what is acknowledged in one transaction. */
async function applyAcknowledged(r: PartitionReplica): Promise<number> {
  const n = await engine.write(() => {
    const applied = r.applyAcknowledged();
    r.finishWrites();
    return applied;
  });
  r.appliedDurable();
  return n;
}

/** The whole write path: append, durable (hence acknowledged with one replica), apply. */
async function apply(r: PartitionReplica, ...requests: WriteRequest[]): Promise<WriteResult[]> {
  const outcomes = await append(r, ...requests);
  r.logDurable();
  await applyAcknowledged(r);
  for (const o of outcomes) expect(o.answerAfterIndex).toBeLessThanOrEqual(r.appliedIndex);
  return outcomes.map((o) => o.result);
}

describe('PartitionReplica', () => {
  it('gives consecutive log indexes as versions, across batches and restarts', async () => {
    const r = replica();
    expect(await apply(r, put('a', '1'), put('b', '2'))).toEqual([
      { ok: true, version: 1, found: false },
      { ok: true, version: 2, found: false },
    ]);
    expect(await apply(r, put('a', '3'))).toEqual([{ ok: true, version: 3, found: true }]);
    const reopened = replica();
    expect(reopened.appliedIndex).toBe(3);
    expect(await apply(reopened, put('c', '4'))).toEqual([{ ok: true, version: 4, found: false }]);
    expect(reopened.read(Buffer.from('a'))).toEqual({ key: Buffer.from('a'), value: Buffer.from('3'), version: 3 });
  });

  it('writes a log entry with epoch, key and value for every write, in the same transaction', async () => {
    const r = replica();
    await apply(r, put('k', 'v'), del('k'));
    const store = engine.partition('default', 0);
    expect(decodeLogEntry(store.logEntry(1)!)).toEqual({ kind: LogEntryKind.Put, epoch: 1, key: Buffer.from('k'), value: Buffer.from('v'), requestId: Buffer.alloc(0) });
    expect(decodeLogEntry(store.logEntry(2)!).kind).toBe(LogEntryKind.Delete);
    expect(store.applied()).toEqual({ appliedIndex: 2, epoch: 1 });
  });

  it('applies compare-and-set only at the expected version, 0 meaning absent', async () => {
    const r = replica();
    expect((await apply(r, put('k', 'a', 0)))[0]).toEqual({ ok: true, version: 1, found: false });
    const [conflict] = await apply(r, put('k', 'b', 0));
    expect(conflict?.ok).toBe(false);
    expect(conflict?.ok === false && conflict.error.code).toBe('CONDITION_FAILED');
    expect(conflict?.ok === false && conflict.error.details.currentVersion).toBe(1);
    expect((await apply(r, put('k', 'c', 1)))[0]).toEqual({ ok: true, version: 2, found: true });
    const [staleDelete] = await apply(r, del('k', 1));
    expect(staleDelete?.ok).toBe(false);
    expect(r.read(Buffer.from('k'))?.value.toString()).toBe('c');
  });

  it('does not use an index for a refused write or a delete of an absent key', async () => {
    const r = replica();
    await apply(r, put('k', 'a'));
    expect(await apply(r, put('k', 'b', 7), del('missing'))).toEqual([
      expect.objectContaining({ ok: false }),
      { ok: true, version: 0, found: false },
    ]);
    expect(r.appliedIndex).toBe(1);
    expect((await apply(r, put('x', 'y')))[0]).toEqual({ ok: true, version: 2, found: false });
  });

  it('sees earlier writes of the same transaction when checking conditions', async () => {
    const r = replica();
    expect(await apply(r, put('k', 'a', 0), put('k', 'b', 0), put('k', 'c', 1))).toEqual([
      { ok: true, version: 1, found: false },
      expect.objectContaining({ ok: false }),
      { ok: true, version: 2, found: true },
    ]);
  });

  it('never lets a read see an appended write before it is acknowledged, and lets it see it as soon as it is, before it is applied', async () => {
    const r = replica();
    await apply(r, put('k', 'old'));
    const [outcome] = await append(r, put('k', 'v'));
    expect(outcome?.result).toEqual({ ok: true, version: 2, found: true });
    expect(r.logEndIndex).toBe(2);
    expect(r.read(Buffer.from('k'))?.value.toString()).toBe('old');
    expect(await applyAcknowledged(r)).toBe(0); // durable is not yet known: nothing acknowledged
    r.logDurable();
    expect(r.read(Buffer.from('k'))).toEqual({ key: Buffer.from('k'), value: Buffer.from('v'), version: 2 });
    expect(engine.partition('default', 0).get(Buffer.from('k'))?.value.toString()).toBe('old'); // data: not applied yet
    expect(r.needsApply).toBe(true);
    expect(await applyAcknowledged(r)).toBe(1);
    expect(engine.partition('default', 0).get(Buffer.from('k'))?.value.toString()).toBe('v');
    expect(engine.partition('default', 0).applied()).toEqual({ appliedIndex: 2, epoch: 1 });
  });

  it('merges acknowledged but unapplied writes into scans: inserted, replaced and deleted keys, cut to the limit', async () => {
    const r = replica();
    await apply(r, put('a', '1'), put('c', '3'), put('e', '5'));
    await append(r, put('b', '2'), put('c', '33'), del('e'), put('f', '6'));
    r.logDurable(); // acknowledged, not applied
    await append(r, put('d', 'unacknowledged'));
    const chunk = (start: string, limit: number, keysOnly = false) => r.range({ start: Buffer.from(start), end: Buffer.alloc(0), limit, bytesMax: 1 << 20, keysOnly });
    const all = chunk('', 100);
    expect(all.entries.map((e) => `${e.key}=${e.value}@${e.version}`)).toEqual(['a=1@1', 'b=2@4', 'c=33@5', 'f=6@7']);
    expect(all.next).toBeUndefined();
    // Cut to the limit after merging: the next chunk starts after the last key returned.
    const two = chunk('', 2);
    expect(two.entries.map((e) => `${e.key}`)).toEqual(['a', 'b']);
    expect(two.next?.toString()).toBe('b\0');
    // A chunk cut by its limit overlays only the keys it covers; the next chunk gets the rest.
    const first = chunk('', 1, true);
    expect(first.entries.map((e) => `${e.key}`)).toEqual(['a']);
    const rest = chunk('a\0', 100, true);
    expect(rest.entries.map((e) => `${e.key}:${e.value.length}`)).toEqual(['b:0', 'c:0', 'f:0']);
  });

  it('keeps applied entries readable through the pending view until the applying transaction commits', async () => {
    const r = replica();
    await append(r, put('k', 'v'));
    r.logDurable();
    let during: string | undefined;
    const committing = engine.write(() => {
      r.applyAcknowledged();
      r.finishWrites();
    });
    // The transaction body ran, its commit has not resolved: data readers cannot see it yet.
    during = r.read(Buffer.from('k'))?.value.toString();
    await committing;
    r.appliedDurable();
    expect(during).toBe('v');
    expect(r.appliedIndex).toBe(1);
    expect(r.read(Buffer.from('k'))?.value.toString()).toBe('v');
  });

  it('does not end a scan at a chunk that deletes shortened: it says where the next chunk starts', async () => {
    const r = replica();
    await apply(r, put('a', '1'), put('b', '2'), put('c', '3'), put('d', '4'));
    await append(r, del('a'), del('b'));
    r.logDurable();
    const first = r.range({ start: Buffer.alloc(0), end: Buffer.alloc(0), limit: 2, bytesMax: 1 << 20, keysOnly: false });
    expect(first.entries).toEqual([]);
    expect(first.next?.toString()).toBe('b\0');
    const second = r.range({ start: first.next ?? Buffer.alloc(0), end: Buffer.alloc(0), limit: 2, bytesMax: 1 << 20, keysOnly: false });
    expect(second.entries.map((e) => `${e.key}`)).toEqual(['c', 'd']);
  });

  it('checks conditions against appended but unapplied writes, and answers refusals only after what they saw is applied', async () => {
    const r = replica();
    await append(r, put('k', 'a'));
    const [refused, accepted, noop] = await append(r, put('k', 'x', 0), put('k', 'b', 1), del('missing'));
    expect(refused?.result.ok).toBe(false);
    expect(refused?.result.ok === false && refused.result.error.details.currentVersion).toBe(1);
    expect(refused?.answerAfterIndex).toBe(1);
    expect(accepted).toEqual({ result: { ok: true, version: 2, found: true }, answerAfterIndex: 2 });
    expect(noop).toEqual({ result: { ok: true, version: 0, found: false }, answerAfterIndex: 2 });
  });

  it('reloads appended but unapplied entries after a restart, so conditions still see them and they get applied', async () => {
    const r = replica();
    await apply(r, put('a', '1'));
    await append(r, put('a', '2'), del('a'));
    const reopened = replica();
    expect(reopened.appliedIndex).toBe(1);
    expect(reopened.logEndIndex).toBe(3);
    expect(reopened.needsApply).toBe(true); // one replica: a durable entry is acknowledged
    const [cas] = await append(reopened, put('a', 'x', 1));
    expect(cas?.result.ok).toBe(false); // 'a' is deleted in the pending view
    await applyAcknowledged(reopened);
    expect(reopened.read(Buffer.from('a'))).toBeUndefined();
    expect(reopened.appliedIndex).toBe(3);
  });

  it('refuses a write with OVERLOADED when the pending view is full, taking no index', async () => {
    const r = replica(1000, { pendingEntriesMax: 2, pendingBytesMax: 1 << 20, retryAfterMs: 10 });
    const outcomes = await append(r, put('a', '1'), put('b', '2'), put('c', '3'));
    expect(outcomes.map((o) => o.result.ok)).toEqual([true, true, false]);
    expect(outcomes[2]?.result.ok === false && outcomes[2].result.error.code).toBe('OVERLOADED');
    expect(r.logEndIndex).toBe(2);
  });

  it('applies at most applyEntriesMax entries per transaction', async () => {
    const r = new PartitionReplica(engine.partition('default', 0), { logRetainEntriesMax: 1000, logTruncateBatchMax: 1000, applyEntriesMax: 2, pending: pendingLimits, replicated: false, dedup: dedupLimits }, clock);
    await append(r, put('a', '1'), put('b', '2'), put('c', '3'));
    r.logDurable();
    expect(await applyAcknowledged(r)).toBe(2);
    expect(await applyAcknowledged(r)).toBe(1);
    expect(r.needsApply).toBe(false);
  });

  it('keeps only the newest log entries beyond the retention', async () => {
    const r = replica(5);
    for (let i = 0; i < 12; i++) await apply(r, put(`k${i}`, 'v'));
    const store = engine.partition('default', 0);
    expect(store.firstLogIndex()).toBe(8);
    expect(store.logEntry(7)).toBeUndefined();
    expect(store.logEntry(12)).toBeDefined();
  });

  describe('request ids', () => {
    const id = (n: number): Buffer => Buffer.from(`client-0000000${n}`);
    const withId = (request: WriteRequest, n: number): WriteRequest => ({ ...request, requestId: id(n) });

    it('answers a retried put with the first result and no new index, and stores the id in the log entry', async () => {
      const r = replica();
      expect(await apply(r, withId(put('k', 'a'), 1))).toEqual([{ ok: true, version: 1, found: false }]);
      await apply(r, put('other', 'x'));
      const [retry] = await append(r, withId(put('k', 'a'), 1));
      expect(retry).toEqual({ result: { ok: true, version: 1, found: true }, answerAfterIndex: 1 });
      expect(r.logEndIndex).toBe(2);
      expect(r.read(Buffer.from('k'))?.version).toBe(1);
      expect(decodeLogEntry(engine.partition('default', 0).logEntry(1)!).requestId).toEqual(id(1));
      // A new id is a new write.
      expect(await apply(r, withId(put('k', 'a'), 2))).toEqual([{ ok: true, version: 3, found: true }]);
    });

    it('answers a retried conditional write with its result, not a refusal against the version it produced', async () => {
      const r = replica();
      expect(await apply(r, withId(put('k', 'a', 0), 1))).toEqual([{ ok: true, version: 1, found: false }]);
      expect(await apply(r, withId(put('k', 'a', 0), 1))).toEqual([{ ok: true, version: 1, found: true }]);
      expect(await apply(r, withId(del('k', 1), 2))).toEqual([{ ok: true, version: 2, found: true }]);
      expect(await apply(r, withId(del('k', 1), 2))).toEqual([{ ok: true, version: 2, found: true }]);
      expect(r.logEndIndex).toBe(2);
    });

    it('recognises a retry queued in the same batch as the first attempt, answering it after the first is acknowledged', async () => {
      const r = replica();
      const [first, retry] = await append(r, withId(put('k', 'a'), 1), withId(put('k', 'a'), 1));
      expect(first).toEqual({ result: { ok: true, version: 1, found: false }, answerAfterIndex: 1 });
      expect(retry).toEqual({ result: { ok: true, version: 1, found: true }, answerAfterIndex: 1 });
      expect(r.logEndIndex).toBe(1);
    });

    it('does not record writes that take no index: a retry is evaluated afresh', async () => {
      const r = replica();
      await apply(r, put('k', 'a'));
      const [refused] = await apply(r, withId(put('k', 'b', 7), 1));
      expect(refused?.ok === false && refused.error.code).toBe('CONDITION_FAILED');
      expect(await apply(r, withId(put('k', 'b', 1), 1))).toEqual([{ ok: true, version: 2, found: true }]);
      expect(await apply(r, withId(del('missing'), 2))).toEqual([{ ok: true, version: 0, found: false }]);
      await apply(r, put('missing', 'now'));
      expect(await apply(r, withId(del('missing'), 2))).toEqual([{ ok: true, version: 4, found: true }]);
    });

    it('forgets an id after the dedup window, and the oldest ids beyond the count', async () => {
      const r = replica(1000, pendingLimits, { dedupEntriesMax: 2, dedupWindowMs: 1_000 });
      await apply(r, withId(put('a', '1'), 1), withId(put('b', '1'), 2), withId(put('c', '1'), 3));
      // Id 1 was pushed out by the count.
      expect((await apply(r, withId(put('a', '1'), 1)))[0]).toEqual({ ok: true, version: 4, found: true });
      clock.advance(999);
      expect((await apply(r, withId(put('c', '1'), 3)))[0]).toEqual({ ok: true, version: 3, found: true });
      clock.advance(2);
      expect((await apply(r, withId(put('c', '1'), 3)))[0]).toEqual({ ok: true, version: 5, found: true });
    });

    it('rebuilds the table from the retained log on open', async () => {
      const r = replica();
      await apply(r, withId(put('a', '1'), 1), withId(del('a'), 2), put('b', '1'));
      await append(r, withId(put('c', '1'), 3)); // appended, not yet applied
      const reopened = replica();
      expect((await append(reopened, withId(put('a', '1'), 1), withId(del('a'), 2), withId(put('c', '1'), 3))).map((o) => [o.result, o.answerAfterIndex])).toEqual([
        [{ ok: true, version: 1, found: true }, 1],
        [{ ok: true, version: 2, found: true }, 2],
        [{ ok: true, version: 4, found: true }, 4],
      ]);
      expect(reopened.logEndIndex).toBe(4);
    });

    it('rebuilds only from entries still in the log', async () => {
      const r = replica(2);
      for (let n = 1; n <= 5; n++) await apply(r, withId(put(`k${n}`, 'v'), n));
      expect(engine.partition('default', 0).firstLogIndex()).toBe(4);
      const reopened = replica(2);
      expect((await apply(reopened, withId(put('k5', 'v'), 5)))[0]).toEqual({ ok: true, version: 5, found: true });
      expect((await apply(reopened, withId(put('k1', 'v'), 1)))[0]).toEqual({ ok: true, version: 6, found: true });
    });
  });

  describe('replicated', () => {
    function replicated(partitionId: number, retain = 1000): PartitionReplica {
      return new PartitionReplica(engine.partition('default', partitionId), { logRetainEntriesMax: retain, logTruncateBatchMax: 1000, applyEntriesMax: 1000, pending: pendingLimits, replicated: true, dedup: dedupLimits }, clock);
    }

    /** Follower side: appends in one transaction, then marks the log durable. */
    async function follow(f: PartitionReplica, entries: ReplicatedEntry[], truncateAfterIndex?: number): Promise<void> {
      await engine.write(() => {
        f.appendReplicated(entries, truncateAfterIndex);
        f.finishWrites();
      });
      f.logDurable();
    }

    it('does not acknowledge its own durable writes: reads see them only once acknowledged from outside', async () => {
      const leader = replicated(0);
      await append(leader, put('a', '1'), put('b', '2'));
      leader.logDurable();
      expect(leader.durableIndex).toBe(2);
      expect(leader.acknowledgedIndex).toBe(0);
      expect(leader.read(Buffer.from('a'))).toBeUndefined();
      leader.acknowledge(1);
      expect(leader.read(Buffer.from('a'))?.value.toString()).toBe('1');
      expect(leader.read(Buffer.from('b'))).toBeUndefined();
      expect(() => leader.acknowledge(3)).toThrow(/beyond the durable log end/);
      expect(await applyAcknowledged(leader)).toBe(1);
    });

    it('copies the leader log to a follower, which applies only what the leader acknowledged', async () => {
      const leader = replicated(0);
      const follower = replicated(1);
      await append(leader, put('a', '1'), put('b', '2'), del('a'));
      leader.logDurable();
      const sent = leader.entriesForSend(1, 3, 1 << 20);
      expect(sent.map((e) => [e.index, e.epoch, e.kind])).toEqual([
        [1, 1, 'put'],
        [2, 1, 'put'],
        [3, 1, 'delete'],
      ]);
      await follow(follower, sent);
      // Once applied the entries come from the log on disk instead, the same.
      leader.acknowledge(3);
      await applyAcknowledged(leader);
      expect(leader.entriesForSend(1, 3, 1 << 20)).toEqual(sent);
      expect(leader.entriesForSend(1, 3, 1).map((e) => e.index)).toEqual([1]);
      expect(follower.logEndPair).toEqual({ epoch: 1, index: 3 });
      expect(follower.epochAt(2)).toBe(1);
      follower.acknowledge(2);
      expect(await applyAcknowledged(follower)).toBe(2);
      expect(follower.appliedIndex).toBe(2);
      expect(engine.partition('default', 1).get(Buffer.from('a'))?.version).toBe(1);
      // Reopened: the unapplied entry is pending again but not known to be acknowledged.
      const reopened = replicated(1);
      expect(reopened.logEndIndex).toBe(3);
      expect(reopened.acknowledgedIndex).toBe(2);
      expect(reopened.read(Buffer.from('a'))?.version).toBe(1);
    });

    it('truncates a divergent suffix above its applied index, also across a restart, and appends the new epoch after it', async () => {
      const follower = replicated(1);
      const e = (index: number, epoch: number, key: string): ReplicatedEntry => ({ index, epoch, kind: 'put', key: Buffer.from(key), value: Buffer.from(`v${index}`) });
      await follow(follower, [e(1, 1, 'a'), e(2, 1, 'b'), e(3, 1, 'c'), e(4, 1, 'a')]);
      follower.acknowledge(2);
      await applyAcknowledged(follower);
      expect(() => follower.appendReplicated([], 1)).toThrow(/would drop applied/);
      await follow(follower, [e(3, 2, 'd')], 2);
      expect(follower.logEndPair).toEqual({ epoch: 2, index: 3 });
      expect(follower.endOfEpoch(1)).toBe(2);
      const reopened = replicated(1);
      expect(reopened.logEndPair).toEqual({ epoch: 2, index: 3 });
      expect(reopened.epochAt(3)).toBe(2);
      expect(engine.partition('default', 1).logEntry(4)).toBeUndefined();
      reopened.acknowledge(3);
      await applyAcknowledged(reopened);
      expect(reopened.read(Buffer.from('d'))?.value.toString()).toBe('v3');
      expect(reopened.read(Buffer.from('c'))).toBeUndefined();
      expect(reopened.read(Buffer.from('a'))?.version).toBe(1);
    });

    it('sends request ids to followers, which record them: a follower that leads next answers a retry with the first result', async () => {
      const leader = replicated(0);
      const follower = replicated(1);
      const requestId = Buffer.from('client-00000001');
      await append(leader, { ...put('k', 'v'), requestId }, put('x', 'y'));
      leader.logDurable();
      const sent = leader.entriesForSend(1, 2, 1 << 20);
      expect(sent.map((e) => e.requestId)).toEqual([requestId, Buffer.alloc(0)]);
      await follow(follower, sent);
      // From the log instead of the pending view, the same.
      leader.acknowledge(2);
      await applyAcknowledged(leader);
      expect(leader.entriesForSend(1, 2, 1 << 20)).toEqual(sent);
      // The follower is promoted (epoch 2) before it learnt that entry 1 was acknowledged.
      follower.setLeading(2);
      const [retry] = await engine.write(() => {
        const outcome = follower.appendWrite({ ...put('k', 'v'), requestId }, 2);
        follower.finishWrites();
        return [outcome];
      });
      expect(retry).toEqual({ result: { ok: true, version: 1, found: true }, answerAfterIndex: 1 });
      expect(follower.logEndIndex).toBe(2);
      // And after a restart, from its log.
      const reopened = replicated(1);
      reopened.setLeading(2);
      const outcome = await engine.write(() => reopened.appendWrite({ ...put('k', 'v'), requestId }, 2));
      expect(outcome.answerAfterIndex).toBe(1);
    });

    it('forgets the ids of a truncated suffix: a retry of a write the new leader lacks is appended anew', async () => {
      const follower = replicated(1);
      const requestId = Buffer.from('client-00000007');
      const entry = (index: number, epoch: number, key: string, withRequestId: boolean): ReplicatedEntry => ({
        index,
        epoch,
        kind: 'put',
        key: Buffer.from(key),
        value: Buffer.from(`v${index}`),
        ...(withRequestId ? { requestId } : {}),
      });
      await follow(follower, [entry(1, 1, 'a', false), entry(2, 1, 'b', true)]);
      await follow(follower, [entry(2, 2, 'c', false)], 1);
      follower.setLeading(3);
      const outcome = await engine.write(() => {
        const o = follower.appendWrite({ ...put('b', 'again'), requestId }, 3);
        follower.finishWrites();
        return o;
      });
      expect(outcome.result).toEqual({ ok: true, version: 3, found: false });
    });

    it('keeps the log from the floor a lagging follower needs, whatever the retention', async () => {
      const leader = replicated(0, 2);
      leader.setLogKeepFloor(3);
      for (let i = 0; i < 8; i++) {
        await append(leader, put(`k${i}`, 'v'));
        leader.logDurable();
        leader.acknowledge(leader.durableIndex);
        await applyAcknowledged(leader);
      }
      expect(leader.firstLogIndex).toBe(3);
      leader.setLogKeepFloor(Number.POSITIVE_INFINITY);
      await append(leader, put('z', 'v'));
      expect(leader.firstLogIndex).toBe(8);
    });
  });

  describe('setReplicated (the replica set changes, RFC 0003 moves)', () => {
    it('going replicated (a learner added to a one-replica partition) keeps what is acknowledged and waits for acknowledge() from then on', async () => {
      const r = replica();
      await apply(r, put('a', '1'));
      // Appended in a transaction still in flight when the learner is added.
      const outcomes = await append(r, put('b', '2'));
      expect(r.setReplicated(true)).toBe(false);
      expect(r.replicated).toBe(true);
      r.logDurable();
      expect([r.durableIndex, r.acknowledgedIndex]).toEqual([2, 1]);
      expect(r.read(Buffer.from('b'))).toBeUndefined();
      // The leader's progress counts the leader alone while the learner is outside the ISR.
      r.acknowledge(2);
      expect(outcomes[0]?.answerAfterIndex).toBe(2);
      expect(r.read(Buffer.from('b'))?.value.toString()).toBe('2');
      expect(await applyAcknowledged(r)).toBe(1);
    });

    it('going unreplicated (the followers removed) acknowledges every durable entry at once and later ones once durable', async () => {
      const leader = new PartitionReplica(engine.partition('default', 1), { logRetainEntriesMax: 1000, logTruncateBatchMax: 1000, applyEntriesMax: 1000, pending: pendingLimits, replicated: true, dedup: dedupLimits }, clock);
      await append(leader, put('a', '1'), put('b', '2'));
      leader.logDurable();
      leader.acknowledge(1);
      // Entry 3 is in a transaction not yet durable when the record drops the followers.
      await append(leader, put('c', '3'));
      expect(leader.setReplicated(false)).toBe(true);
      expect([leader.durableIndex, leader.acknowledgedIndex]).toEqual([2, 2]);
      expect(leader.read(Buffer.from('b'))?.value.toString()).toBe('2');
      expect(leader.read(Buffer.from('c'))).toBeUndefined();
      leader.logDurable();
      expect(leader.acknowledgedIndex).toBe(3);
      expect(() => leader.acknowledge(3)).toThrow(/has one replica/);
      // Unchanged: nothing moves.
      expect(leader.setReplicated(false)).toBe(false);
      expect(await applyAcknowledged(leader)).toBe(3);
      // And back: acknowledgement comes from outside again.
      expect(leader.setReplicated(true)).toBe(false);
      await append(leader, put('d', '4'));
      leader.logDurable();
      expect([leader.durableIndex, leader.acknowledgedIndex]).toEqual([4, 3]);
    });

    it('a replica reopened after the change follows the new setting from its open', async () => {
      const r = replica();
      await apply(r, put('a', '1'));
      r.setReplicated(true);
      await append(r, put('b', '2'));
      r.logDurable();
      const reopened = new PartitionReplica(engine.partition('default', 0), { logRetainEntriesMax: 1000, logTruncateBatchMax: 1000, applyEntriesMax: 1000, pending: pendingLimits, replicated: true, dedup: dedupLimits }, clock);
      expect([reopened.appliedIndex, reopened.acknowledgedIndex, reopened.logEndIndex]).toEqual([1, 1, 2]);
      expect(reopened.setReplicated(false)).toBe(true);
      expect(reopened.acknowledgedIndex).toBe(2);
    });
  });

  describe('retire (its storage deleted, RFC 0003)', () => {
    it('refuses appends without touching the store, applies and finishes nothing, and refuses reads (assertion)', async () => {
      const r = replica();
      await apply(r, put('a', '1'));
      await append(r, put('b', '2'));
      r.logDurable();
      expect(r.needsApply).toBe(true);
      const outcome = await engine.write(() => {
        r.retire();
        engine.dropPartition('default', 0);
        const refused = r.appendWrite(put('c', '3'), 1);
        expect(r.applyAcknowledged()).toBe(0);
        r.finishWrites();
        return refused;
      });
      expect(outcome.result.ok).toBe(false);
      expect(outcome.result.ok ? undefined : outcome.result.error.code).toBe('WRONG_PARTITION');
      expect(outcome.answerAfterIndex).toBe(0);
      r.logDurable();
      r.appliedDurable();
      expect([r.retired, r.needsApply, r.trimLog()]).toEqual([true, false, 0]);
      expect(() => r.read(Buffer.from('a'))).toThrow(/retired/);
      expect(engine.storedPartitions()).toEqual([]);
    });
  });
});
