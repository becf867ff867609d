import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openLmdbEngine } from './lmdb-engine.js';
import { openWalEngine } from './wal-engine.js';
import { directKeyBytesMax } from './codec.js';
import type { RangeQuery, StorageEngine } from './engine.js';

let dir: string;
let engine: StorageEngine;
type EngineKind = 'lmdb' | 'wal';
const engineKinds: EngineKind[] = ['lmdb', 'wal'];

/** The engine under test; the suite below runs once per engine. */
let kind: EngineKind;
const open = async (): Promise<StorageEngine> =>
  kind === 'lmdb'
    ? openLmdbEngine({ path: join(dir, 'lmdb'), partitionsMax: 8 })
    : openWalEngine({ lmdbPath: join(dir, 'lmdb'), walDir: join(dir, 'wal'), partitionsMax: 8, segmentBytes: 256 * 1024 });
const all = (over: Partial<RangeQuery> = {}): RangeQuery => ({ start: Buffer.alloc(0), end: Buffer.alloc(0), limit: 1_000_000, bytesMax: 1 << 30, keysOnly: false, ...over });


describe.each(engineKinds)('the %s storage engine', (engineKind) => {
  beforeEach(async () => {
    kind = engineKind;
    dir = mkdtempSync(join(tmpdir(), 'quire-lmdb-'));
    engine = await open();
  });
  afterEach(async () => {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('the LMDB engine', () => {
    it('writes, reads and deletes inside durable transactions', async () => {
      const p = engine.partition('default', 0);
      await engine.write(() => {
        p.putValue(Buffer.from('a'), 1, Buffer.from('one'));
        p.putValue(Buffer.from('b'), 2, Buffer.from('two'));
      });
      expect(p.get(Buffer.from('a'))).toEqual({ key: Buffer.from('a'), value: Buffer.from('one'), version: 1 });
      expect(p.version(Buffer.from('b'))).toBe(2);
      await engine.write(() => p.deleteValue(Buffer.from('a')));
      expect(p.get(Buffer.from('a'))).toBeUndefined();
      expect(p.version(Buffer.from('a'))).toBe(0);
    });

    it('writes nothing from a transaction body that throws, even after a restart', async () => {
      const p = engine.partition('default', 0);
      await expect(
        engine.write(() => {
          p.putValue(Buffer.from('half'), 1, Buffer.from('batch'));
          throw new Error('body failed after its first write');
        }),
      ).rejects.toThrow('body failed after its first write');
      expect(p.get(Buffer.from('half'))).toBeUndefined();
      await engine.write(() => p.putValue(Buffer.from('next'), 2, Buffer.from('ok')));
      await engine.close();
      engine = await open();
      const reopened = engine.partition('default', 0);
      expect(reopened.get(Buffer.from('half'))).toBeUndefined();
      expect(reopened.version(Buffer.from('next'))).toBe(2);
    });

    it('sees the current transaction\'s own writes inside write()', async () => {
      const p = engine.partition('default', 0);
      const seen = await engine.write(() => {
        p.putValue(Buffer.from('k'), 5, Buffer.from('v'));
        return p.version(Buffer.from('k'));
      });
      expect(seen).toBe(5);
    });

    it('keeps data, log and applied state across close and reopen, and lists stored partitions', async () => {
      const p = engine.partition('default', 3);
      await engine.write(() => {
        p.appendLog(1, Buffer.from('entry'));
        p.putValue(Buffer.from('k'), 1, Buffer.from('v'));
        p.setApplied({ appliedIndex: 1, epoch: 2 });
      });
      await engine.close();
      engine = await open();
      const q = engine.partition('default', 3);
      expect(q.applied()).toEqual({ appliedIndex: 1, epoch: 2 });
      expect(q.get(Buffer.from('k'))?.value.toString()).toBe('v');
      expect(q.logEntry(1)?.toString()).toBe('entry');
      expect(q.firstLogIndex()).toBe(1);
      expect(engine.storedPartitions()).toEqual([{ keyspace: 'default', partitionId: 3 }]);
    });

    it('keeps partitions apart', async () => {
      const a = engine.partition('default', 0);
      const b = engine.partition('default', 1);
      await engine.write(() => a.putValue(Buffer.from('k'), 1, Buffer.from('a')));
      expect(b.get(Buffer.from('k'))).toBeUndefined();
    });

    it('reads ranges with bounds, limit, byte budget and keys only', async () => {
      const p = engine.partition('default', 0);
      await engine.write(() => {
        for (let i = 0; i < 10; i++) p.putValue(Buffer.from(`k${i}`), i + 1, Buffer.from(`value-${i}`));
      });
      const keys = (q: RangeQuery) => p.range(q).map((e) => e.key.toString());
      expect(keys(all())).toEqual(['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7', 'k8', 'k9']);
      expect(keys(all({ start: Buffer.from('k3'), end: Buffer.from('k6') }))).toEqual(['k3', 'k4', 'k5']);
      expect(keys(all({ limit: 2 }))).toEqual(['k0', 'k1']);
      expect(keys(all({ bytesMax: 20 }))).toEqual(['k0', 'k1', 'k2']);
      const keysOnly = p.range(all({ keysOnly: true, limit: 1 }));
      expect(keysOnly).toEqual([{ key: Buffer.from('k0'), value: Buffer.alloc(0), version: 1 }]);
    });

    it('stores keys up to 4096 bytes and scans long keys that share a prefix in true byte order', async () => {
      const p = engine.partition('default', 0);
      const base = 'P'.repeat(directKeyBytesMax + 10);
      const shortSame = 'P'.repeat(directKeyBytesMax);
      const names = [`${base}b`, `${base}a`, `${base}c${'z'.repeat(2000)}`, `${base}a0`, shortSame, `${shortSame.slice(0, -1)}O`, `${shortSame}Q`.slice(0, 1950), 'Q'];
      await engine.write(() => names.forEach((k, i) => p.putValue(Buffer.from(k), i + 1, Buffer.from(`v${i}`))));
      for (const [i, k] of names.entries()) expect(p.get(Buffer.from(k))?.value.toString()).toBe(`v${i}`);
      const expected = [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      expect(p.range(all()).map((e) => e.key.toString())).toEqual(expected);
      // A long start bound in the middle of the group, and a long end bound inside it.
      const from = Buffer.from(`${base}a0`);
      expect(p.range(all({ start: from })).map((e) => e.key.toString())).toEqual(expected.filter((k) => Buffer.compare(Buffer.from(k), from) >= 0));
      const to = Buffer.from(`${base}b`);
      expect(p.range(all({ end: to })).map((e) => e.key.toString())).toEqual(expected.filter((k) => Buffer.compare(Buffer.from(k), to) < 0));
      expect(p.range(all({ start: from, limit: 2 })).map((e) => e.key.toString())).toEqual(expected.filter((k) => Buffer.compare(Buffer.from(k), from) >= 0).slice(0, 2));
    });

    it('truncates the log below an index in bounded steps', async () => {
      const p = engine.partition('default', 0);
      await engine.write(() => {
        for (let i = 1; i <= 10; i++) p.appendLog(i, Buffer.from(`e${i}`));
        p.setApplied({ appliedIndex: 10, epoch: 1 });
      });
      expect(await engine.write(() => p.truncateLogBefore(8, 4))).toBe(4);
      expect(p.firstLogIndex()).toBe(5);
      expect(await engine.write(() => p.truncateLogBefore(8, 100))).toBe(3);
      expect(p.firstLogIndex()).toBe(8);
      expect(p.logEntry(7)).toBeUndefined();
      expect(p.logEntry(8)?.toString()).toBe('e8');
    });

    it('refuses to go back on the applied index', async () => {
      const p = engine.partition('default', 0);
      await engine.write(() => p.setApplied({ appliedIndex: 5, epoch: 1 }));
      await expect(engine.write(() => p.setApplied({ appliedIndex: 4, epoch: 1 }))).rejects.toThrow('must not go backwards');
    });
  });
});
