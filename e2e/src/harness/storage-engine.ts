/**
 * Which storage engine the data nodes of test clusters run: QUIRE_TEST_STORAGE_ENGINE=lmdb runs
 * the integration and chaos suites on the LMDB engine; unset or wal, on the default, the WAL
 * engine (RFC 0002; the data nodes' `--storage-engine auto` picks it for their new directories).
 */

/** The engine QUIRE_TEST_STORAGE_ENGINE names in `env` (wal when unset). */
export function testStorageEngine(env: Readonly<Record<string, string | undefined>>): 'lmdb' | 'wal' {
  const engine = env.QUIRE_TEST_STORAGE_ENGINE ?? 'wal';
  if (engine !== 'lmdb' && engine !== 'wal') throw new Error(`QUIRE_TEST_STORAGE_ENGINE is "${engine}"; expected lmdb or wal`);
  return engine;
}

/** The data node flags that select the engine named by `env` (none when unset: the default). */
export function storageEngineArgs(env: Readonly<Record<string, string | undefined>>): string[] {
  return env.QUIRE_TEST_STORAGE_ENGINE === undefined ? [] : ['--storage-engine', testStorageEngine(env)];
}
