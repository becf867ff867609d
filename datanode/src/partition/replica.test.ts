import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openLmdbEngine } from '../storage/lmdb-engine.js';
import { LogEntryKind, decodeLogEntry } from '../storage/codec.js';
import type { StorageEngine } from '../storage/engine.js';
import { PartitionReplica, type AppendOutcome, type WriteRequest, type WriteResult } from './replica.js';

let dir: string;
let engine: StorageEngine;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'quire-replica-'));
  engine = openLmdbEngine({ path: dir, partitionsMax: 4 });
});
afterEach(async () => {
  await engine.close();
  rmSync(dir, { recursive: true, force: true });
});

const put = (key: string, value: string, expectedVersion?: number): WriteRequest => ({ kind: 'put', key: Buffer.from(key), value: Buffer.from(value), expectedVersion });
const del = (key: string, expectedVersion?: number): WriteRequest => ({ kind: 'delete', key: Buffer.from(key), value: Buffer.alloc(0), expectedVersion });

const pendingLimits = { pendingEntriesMax: 1000, pendingBytesMax: 1 << 20, retryAfterMs: 10 };

function replica(retain = 1000, pending = pendingLimits): PartitionReplica {
  return new PartitionReplica(engine.partition('default', 0), { logRetainEntriesMax: retain, logTruncateBatchMax: 1000, applyEntriesMax: 1000, pending });
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
    expect(decodeLogEntry(store.logEntry(1)!)).toEqual({ kind: LogEntryKind.Put, epoch: 1, key: Buffer.from('k'), value: Buffer.from('v') });
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
    const r = new PartitionReplica(engine.partition('default', 0), { logRetainEntriesMax: 1000, logTruncateBatchMax: 1000, applyEntriesMax: 2, pending: pendingLimits });
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
});
