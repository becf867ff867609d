/**
 * The LMDB storage engine (lmdb-js). One LMDB environment per data node; per partition a
 * data sub-database `d/<keyspace>/<id>` and a log sub-database `l/<keyspace>/<id>`; one
 * `meta` sub-database holds each partition's applied state under `applied/<keyspace>/<id>`.
 *
 * Durability: the environment is opened with overlappingSync off, so an lmdb-js transaction
 * promise resolves only after LMDB's commit has fsynced data and meta pages. lmdb-js batches
 * the transactions queued in one event turn into one LMDB transaction, and the data node's
 * group committer queues many requests into one `write()`: one fsync covers them all.
 *
 * lmdb-js does not roll back a transaction callback that throws (its earlier writes still
 * commit), so `write()` bodies validate before they write, and a throw inside one is an
 * assertion failure that stops the process.
 */
import { open, type Database, type RootDatabase } from 'lmdb';
import { assert, compareBytes } from '@quire/common';
import {
  decodeAppliedState,
  decodeStoredValue,
  directKeyBytesMax,
  encodeAppliedState,
  encodeStoredValue,
  isOverflowStoredKey,
  logIndexOf,
  logKey,
  storedKey,
  storedVersion,
  type AppliedState,
} from './codec.js';
import type { PartitionStore, RangeQuery, StorageEngine, StoredEntry, StoredPartition } from './engine.js';

const appliedPrefix = 'applied/';

/** Options for the LMDB engine. */
export interface LmdbEngineOptions {
  /** Directory of the LMDB environment. */
  readonly path: string;
  /** Most partitions this node can hold (each uses two named databases). */
  readonly partitionsMax: number;
  /**
   * Commit without fsync. BREAKS DURABILITY: set only by the `datanode.storage.skipFsync`
   * failpoint, so tests can prove the chaos checkers catch acknowledged writes lost on power loss.
   */
  readonly skipFsync?: boolean;
}

type BinaryDb = Database<Buffer, Buffer>;

class LmdbPartitionStore implements PartitionStore {
  private appliedState: AppliedState;
  private firstIndex: number;

  constructor(
    readonly keyspace: string,
    readonly partitionId: number,
    private readonly data: BinaryDb,
    private readonly log: BinaryDb,
    private readonly meta: Database<Buffer, string>,
    private readonly appliedKey: string,
  ) {
    const raw = meta.get(appliedKey);
    this.appliedState = raw === undefined ? { appliedIndex: 0, epoch: 0 } : decodeAppliedState(raw);
    let first: number | undefined;
    let last = 0;
    for (const key of log.getKeys({ limit: 1 })) first = logIndexOf(key);
    for (const key of log.getKeys({ limit: 1, reverse: true })) last = logIndexOf(key);
    // Data, log entry and applied index commit together, so the log can never run ahead.
    assert(
      last <= this.appliedState.appliedIndex,
      `Partition ${keyspace}/${partitionId}: log ends at ${last} beyond applied index ${this.appliedState.appliedIndex}`,
    );
    this.firstIndex = first ?? this.appliedState.appliedIndex + 1;
  }

  get(key: Buffer): StoredEntry | undefined {
    const raw = this.data.get(storedKey(key));
    if (raw === undefined) return undefined;
    const v = decodeStoredValue(raw);
    return { key, value: v.value, version: v.version };
  }

  version(key: Buffer): number {
    const raw = this.data.get(storedKey(key));
    return raw === undefined ? 0 : storedVersion(raw);
  }

  range(query: RangeQuery): StoredEntry[] {
    assert(query.limit >= 1, 'Range limit must be positive');
    const out: StoredEntry[] = [];
    let bytes = 0;
    // Stored bounds cover the real range; real bounds are checked per entry below.
    const storedStart = query.start.subarray(0, directKeyBytesMax);
    const storedEnd = query.end.length === 0 ? undefined : storedUpperBound(query.end);
    let group: StoredEntry[] = [];
    let groupPrefix: Buffer | undefined;
    const inRange = (key: Buffer): boolean =>
      compareBytes(key, query.start) >= 0 && (query.end.length === 0 || compareBytes(key, query.end) < 0);
    const emit = (entry: StoredEntry): boolean => {
      out.push(entry);
      bytes += entry.key.length + entry.value.length;
      return out.length < query.limit && bytes < query.bytesMax;
    };
    const flushGroup = (): boolean => {
      group.sort((a, b) => compareBytes(a.key, b.key));
      for (const entry of group) {
        if (inRange(entry.key) && !emit(entry)) return false;
      }
      group = [];
      groupPrefix = undefined;
      return true;
    };
    const options = storedEnd === undefined ? { start: storedStart } : { start: storedStart, end: storedEnd };
    for (const { key: stored, value: raw } of this.data.getRange(options)) {
      const v = decodeStoredValue(raw);
      const key = v.fullKey ?? Buffer.from(stored);
      const entry: StoredEntry = { key, value: query.keysOnly ? Buffer.alloc(0) : v.value, version: v.version };
      if (isOverflowStoredKey(stored)) {
        const prefix = Buffer.from(stored.subarray(0, directKeyBytesMax));
        if (groupPrefix !== undefined && !groupPrefix.equals(prefix) && !flushGroup()) return out;
        groupPrefix = prefix;
        group.push(entry);
        continue;
      }
      if (group.length > 0 && !flushGroup()) return out;
      if (query.end.length > 0 && compareBytes(key, query.end) >= 0) break;
      if (inRange(key) && !emit(entry)) return out;
    }
    if (group.length > 0) flushGroup();
    return out;
  }

  applied(): AppliedState {
    return this.appliedState;
  }

  firstLogIndex(): number {
    return this.firstIndex;
  }

  putValue(key: Buffer, version: number, value: Buffer): void {
    this.data.putSync(storedKey(key), encodeStoredValue(key, version, value));
  }

  deleteValue(key: Buffer): void {
    this.data.removeSync(storedKey(key));
  }

  appendLog(index: number, entry: Buffer): void {
    this.log.putSync(logKey(index), entry);
  }

  setApplied(state: AppliedState): void {
    assert(state.appliedIndex >= this.appliedState.appliedIndex, 'Applied index must not go backwards');
    this.meta.putSync(this.appliedKey, encodeAppliedState(state));
    this.appliedState = state;
  }

  truncateLogBefore(index: number, entriesMax: number): number {
    let removed = 0;
    const end = logKey(index);
    for (const key of this.log.getKeys({ start: logKey(this.firstIndex), end, limit: entriesMax })) {
      this.log.removeSync(key);
      removed++;
    }
    if (removed > 0) {
      this.firstIndex = Math.min(index, this.firstIndex + removed);
      for (const key of this.log.getKeys({ start: logKey(this.firstIndex), limit: 1 })) this.firstIndex = logIndexOf(key);
    }
    return removed;
  }

  logEntry(index: number): Buffer | undefined {
    return this.log.get(logKey(index));
  }
}

/** The smallest stored key that is >= the stored form of every real key below `end`. */
function storedUpperBound(end: Buffer): Buffer | undefined {
  if (end.length <= directKeyBytesMax) return end;
  // Long end bound: include the whole overflow group of its first directKeyBytesMax bytes.
  const prefix = Buffer.from(end.subarray(0, directKeyBytesMax));
  for (let i = prefix.length - 1; i >= 0; i--) {
    const byte = prefix[i] ?? 0xff;
    if (byte < 0xff) {
      prefix[i] = byte + 1;
      return prefix.subarray(0, i + 1);
    }
  }
  return undefined;
}

/** Opens the node's LMDB environment. */
export function openLmdbEngine(options: LmdbEngineOptions): StorageEngine {
  const root: RootDatabase = open({
    path: options.path,
    maxDbs: options.partitionsMax * 2 + 4,
    // Resolve writes only after the commit is fsynced (see the module comment).
    overlappingSync: false,
    ...(options.skipFsync === true ? { noSync: true } : {}),
    compression: false,
    keyEncoding: 'binary',
    encoding: 'binary',
  });
  const meta = root.openDB<Buffer, string>('meta', { keyEncoding: 'ordered-binary', encoding: 'binary' });
  const stores = new Map<string, LmdbPartitionStore>();

  return {
    partition(keyspace: string, partitionId: number): PartitionStore {
      const id = `${keyspace}/${partitionId}`;
      let store = stores.get(id);
      if (store === undefined) {
        assert(stores.size < options.partitionsMax, `More than ${options.partitionsMax} partitions on one node`);
        const data = root.openDB<Buffer, Buffer>(`d/${id}`, { keyEncoding: 'binary', encoding: 'binary' });
        const log = root.openDB<Buffer, Buffer>(`l/${id}`, { keyEncoding: 'binary', encoding: 'binary' });
        store = new LmdbPartitionStore(keyspace, partitionId, data, log, meta, `${appliedPrefix}${id}`);
        stores.set(id, store);
      }
      return store;
    },

    storedPartitions(): StoredPartition[] {
      const out: StoredPartition[] = [];
      for (const key of meta.getKeys({ start: appliedPrefix })) {
        if (!key.startsWith(appliedPrefix)) break;
        const rest = key.slice(appliedPrefix.length);
        const slash = rest.lastIndexOf('/');
        out.push({ keyspace: rest.slice(0, slash), partitionId: Number(rest.slice(slash + 1)) });
      }
      return out;
    },

    async write<T>(body: () => T): Promise<T> {
      // The body runs in a child transaction: lmdb-js commits whatever a top-level
      // asynchronous transaction's callback wrote even when the callback throws, which would
      // persist half a batch (say, log entries without their applied index). A child
      // transaction is aborted when its callback throws, so a failed body writes nothing.
      return root.transaction(() => root.childTransaction(body));
    },

    async close(): Promise<void> {
      await root.close();
    },
  };
}
