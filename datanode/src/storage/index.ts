/**
 * @quire/datanode/storage: the storage engine on its own, for tools that measure it (bench/'s
 * storage-commit benchmark). The data node itself imports the modules directly.
 */
export { openLmdbEngine, type LmdbEngineOptions } from './lmdb-engine.js';
export { encodeLogEntry, LogEntryKind } from './codec.js';
export type { PartitionStore, StorageEngine } from './engine.js';
export { openWal, type WriteAheadLog } from './wal/wal.js';
export type { WalRecord } from './wal/records.js';
export { openWalEngine, type WalEngineOptions } from './wal-engine.js';
