import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chooseStorageEngine } from './engine-choice.js';
import { openLmdbEngine } from './lmdb-engine.js';
import { openWalEngine } from './wal-engine.js';

describe('chooseStorageEngine: auto keeps the engine that wrote a data directory', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'quire-engine-choice-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('a new data directory gets the WAL engine; an explicit setting is taken as given', () => {
    expect(chooseStorageEngine(dir, 'auto')).toEqual({ engine: 'wal', reason: 'a new data directory' });
    expect(chooseStorageEngine(dir, 'lmdb').engine).toBe('lmdb');
    mkdirSync(join(dir, 'wal'));
    expect(chooseStorageEngine(dir, 'lmdb')).toEqual({ engine: 'lmdb', reason: '--storage-engine lmdb' });
  });

  it('a directory the LMDB engine wrote stays on LMDB, one the WAL engine wrote on the WAL', async () => {
    const lmdbDir = join(dir, 'old');
    const lmdb = openLmdbEngine({ path: join(lmdbDir, 'lmdb'), partitionsMax: 4 });
    await lmdb.close();
    expect(chooseStorageEngine(lmdbDir, 'auto')).toEqual({ engine: 'lmdb', reason: 'the data directory was written by the LMDB engine' });
    // Naming the other engine is refused, and the refusal leaves the directory as it was.
    await expect(openWalEngine({ lmdbPath: join(lmdbDir, 'lmdb'), walDir: join(lmdbDir, 'wal'), partitionsMax: 4 })).rejects.toThrow('written by the "lmdb-log-v1" storage engine');
    expect(chooseStorageEngine(lmdbDir, 'auto').engine).toBe('lmdb');

    const walDir = join(dir, 'new');
    const wal = await openWalEngine({ lmdbPath: join(walDir, 'lmdb'), walDir: join(walDir, 'wal'), partitionsMax: 4 });
    await wal.close();
    expect(chooseStorageEngine(walDir, 'auto')).toEqual({ engine: 'wal', reason: 'the data directory holds a write-ahead log' });
  });
});
