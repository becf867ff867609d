/**
 * Which storage engine opens a data directory. `--storage-engine auto` (the default) keeps the
 * engine that wrote the directory, so an upgrade never strands a node's data, and picks the
 * WAL engine (RFC 0002) for a new one. Naming an engine explicitly is checked by the engine
 * itself: each records its format in LMDB and refuses the other's directory.
 *
 * The marker is the `wal/` directory: the WAL engine creates it before it opens LMDB, and the
 * LMDB engine never creates it, so a directory with `lmdb/` and no `wal/` was written by the
 * LMDB engine (also before the format key existed).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** The engines a data node can run. */
export type StorageEngineName = 'lmdb' | 'wal';

/** What --storage-engine accepts. */
export type StorageEngineSetting = StorageEngineName | 'auto';

/** The engine of a new data directory under `auto`. */
export const storageEngineDefault: StorageEngineName = 'wal';

/** The engine that opens `dataDir` under `setting`, and why (for the start-up log). */
export function chooseStorageEngine(dataDir: string, setting: StorageEngineSetting): { engine: StorageEngineName; reason: string } {
  if (setting !== 'auto') return { engine: setting, reason: `--storage-engine ${setting}` };
  if (existsSync(join(dataDir, 'wal'))) return { engine: 'wal', reason: 'the data directory holds a write-ahead log' };
  if (existsSync(join(dataDir, 'lmdb'))) return { engine: 'lmdb', reason: 'the data directory was written by the LMDB engine' };
  return { engine: storageEngineDefault, reason: 'a new data directory' };
}
