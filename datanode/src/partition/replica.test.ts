import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openLmdbEngine } from '../storage/lmdb-engine.js';
import { LogEntryKind, decodeLogEntry } from '../storage/codec.js';
import type { StorageEngine } from '../storage/engine.js';
import { PartitionReplica, type WriteRequest, type WriteResult } from './replica.js';

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

function replica(retain = 1000): PartitionReplica {
  return new PartitionReplica(engine.partition('default', 0), { logRetainEntriesMax: retain, logTruncateBatchMax: 1000 });
}

async function apply(r: PartitionReplica, ...requests: WriteRequest[]): Promise<WriteResult[]> {
  return engine.write(() => {
    const results = requests.map((req) => r.applyWrite(req, 1));
    r.finishWrites();
    return results;
  });
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

  it('keeps only the newest log entries beyond the retention', async () => {
    const r = replica(5);
    for (let i = 0; i < 12; i++) await apply(r, put(`k${i}`, 'v'));
    const store = engine.partition('default', 0);
    expect(store.firstLogIndex()).toBe(8);
    expect(store.logEntry(7)).toBeUndefined();
    expect(store.logEntry(12)).toBeDefined();
  });
});
