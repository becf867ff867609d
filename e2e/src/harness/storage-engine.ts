/**
 * Which storage engine the data nodes of test clusters run: QUIRE_TEST_STORAGE_ENGINE=wal runs
 * the integration and chaos suites on the WAL engine (RFC 0002); unset or lmdb, on the default.
 */

/** The data node flags that select the engine named by `env` (none for the default). */
export function storageEngineArgs(env: Readonly<Record<string, string | undefined>>): string[] {
  const engine = env.QUIRE_TEST_STORAGE_ENGINE ?? 'lmdb';
  if (engine !== 'lmdb' && engine !== 'wal') throw new Error(`QUIRE_TEST_STORAGE_ENGINE is "${engine}"; expected lmdb or wal`);
  return engine === 'lmdb' ? [] : ['--storage-engine', engine];
}
