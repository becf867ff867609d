/**
 * MetadataView: an in-memory copy of the cluster metadata in etcd, maintained from one
 * initial read plus a watch. It is pure state: the component's etcd adapter feeds it
 * `reset` (a full read at a revision) and `apply` (watch events in revision order); routers,
 * data nodes and coordinators read partition maps and node addresses from it.
 *
 * Invariants:
 *  - `revision` never decreases; events at or below it are ignored (a resumed watch may
 *    replay them).
 *  - A partition record is visible only while its keyspace record exists.
 *  - Records that fail to decode are counted in `undecodable`, never half-applied.
 *  - Keyspace and partition records are upgraded as they are decoded (records.ts): a record
 *    written before the replication fields existed reads as ack policy SYNC, the default
 *    min_isr and ISR = [leader], so readers never see the zero values those fields predate.
 */
import {
  ClusterRecord,
  CoordinatorLeaderRecord,
  KeyspaceRecord,
  DrainRecord,
  KnownNode,
  MoveRecord,
  NodeRegistration,
  PartitionRecord,
} from '@quire/proto';
import { parseKey } from './keys.js';
import { upgradeKeyspaceRecord, upgradePartitionRecord } from './records.js';

/** One key-value pair as etcd returns it. */
export interface MetadataKv {
  readonly key: string;
  readonly value: Uint8Array;
  readonly createRevision: number;
  readonly modRevision: number;
}

/** One watch event. */
export type MetadataEvent =
  | { readonly type: 'put'; readonly kv: MetadataKv }
  | { readonly type: 'delete'; readonly key: string; readonly modRevision: number };

/** A partition record plus the etcd revision it was last changed at. */
export interface PartitionEntry {
  /** The record; `record.isr` is non-empty whenever it has a leader (records from before the ISR read as [leader]). */
  readonly record: PartitionRecord;
  readonly modRevision: number;
}

/** A keyspace and its partitions, indexed by partition id (undefined until assigned). */
export interface KeyspaceEntry {
  readonly record: KeyspaceRecord;
  readonly modRevision: number;
  readonly partitions: readonly (PartitionEntry | undefined)[];
}

/** The coordinator leader and its fencing term (create revision of the leader key). */
export interface CoordinatorLeaderEntry {
  readonly record: CoordinatorLeaderRecord;
  readonly term: number;
}

/** A move record plus the etcd revision it was last changed at. */
export interface MoveEntry {
  readonly record: MoveRecord;
  readonly modRevision: number;
}

/** Listener called after every change of the view. */
export type ViewListener = (view: MetadataView) => void;

/** The in-memory metadata view. */
export class MetadataView {
  private rev = 0;
  private clusterRecord: ClusterRecord | undefined;
  private leader: CoordinatorLeaderEntry | undefined;
  private readonly keyspaceRecords = new Map<string, { record: KeyspaceRecord; modRevision: number }>();
  private readonly partitionRecords = new Map<string, Map<number, PartitionEntry>>();
  private readonly liveNodes = new Map<string, NodeRegistration>();
  private readonly known = new Map<string, KnownNode>();
  private readonly moveRecords = new Map<string, MoveEntry>();
  private readonly history = new Map<string, MoveEntry>();
  private readonly drainRecords = new Map<string, { record: DrainRecord; modRevision: number }>();
  private readonly dropped = new Set<string>();
  private readonly listeners = new Set<ViewListener>();
  private keyspaceCache = new Map<string, KeyspaceEntry>();
  /** Records that could not be decoded (written by an incompatible version). */
  undecodable = 0;

  /** The etcd revision this view reflects. */
  get revision(): number {
    return this.rev;
  }

  /** Whether a full read has been applied. */
  get loaded(): boolean {
    return this.rev > 0;
  }

  get cluster(): ClusterRecord | undefined {
    return this.clusterRecord;
  }

  get coordinatorLeader(): CoordinatorLeaderEntry | undefined {
    return this.leader;
  }

  /** Live node registrations by node id. */
  get nodes(): ReadonlyMap<string, NodeRegistration> {
    return this.liveNodes;
  }

  /** Every node that ever registered, by node id. */
  get knownNodes(): ReadonlyMap<string, KnownNode> {
    return this.known;
  }

  /** Moves in flight by `keyspace/partitionId` (RFC 0003). */
  get moves(): ReadonlyMap<string, MoveEntry> {
    return this.moveRecords;
  }

  /** Finished moves by their etcd key (keys sort by the time each ended). */
  get moveHistory(): ReadonlyMap<string, MoveEntry> {
    return this.history;
  }

  /** Names of dropped keyspaces (never reused). */
  get droppedKeyspaces(): ReadonlySet<string> {
    return this.dropped;
  }

  /** Drain records by node id: the nodes being drained. */
  get drains(): ReadonlyMap<string, { readonly record: DrainRecord; readonly modRevision: number }> {
    return this.drainRecords;
  }

  /** Returns the keyspace with its partitions, or undefined if it does not exist. */
  keyspace(name: string): KeyspaceEntry | undefined {
    const cached = this.keyspaceCache.get(name);
    if (cached !== undefined) return cached;
    const ks = this.keyspaceRecords.get(name);
    if (ks === undefined) return undefined;
    const parts = this.partitionRecords.get(name);
    const partitions: (PartitionEntry | undefined)[] = [];
    for (let id = 0; id < ks.record.partitionCount; id++) partitions.push(parts?.get(id));
    const entry: KeyspaceEntry = { record: ks.record, modRevision: ks.modRevision, partitions };
    this.keyspaceCache.set(name, entry);
    return entry;
  }

  /**
   * Partition records whose keyspace record is gone (a dropped keyspace whose partition records
   * the coordinator has not deleted yet), by keyspace name; they are invisible to keyspace().
   */
  orphanPartitions(): { readonly keyspace: string; readonly entry: PartitionEntry }[] {
    const out: { keyspace: string; entry: PartitionEntry }[] = [];
    for (const [keyspace, parts] of this.partitionRecords) {
      if (this.keyspaceRecords.has(keyspace)) continue;
      for (const entry of parts.values()) out.push({ keyspace, entry });
    }
    return out;
  }

  /** Names of all keyspaces, sorted. */
  keyspaceNames(): string[] {
    return [...this.keyspaceRecords.keys()].sort();
  }

  /** Subscribes to changes; returns the unsubscribe function. */
  subscribe(listener: ViewListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Replaces the whole view with a full read taken at `revision`. */
  reset(kvs: readonly MetadataKv[], revision: number): void {
    if (revision < this.rev) return;
    this.clusterRecord = undefined;
    this.leader = undefined;
    this.keyspaceRecords.clear();
    this.partitionRecords.clear();
    this.liveNodes.clear();
    this.known.clear();
    this.moveRecords.clear();
    this.history.clear();
    this.drainRecords.clear();
    this.dropped.clear();
    for (const kv of kvs) this.put(kv);
    this.rev = revision;
    this.changed();
  }

  /** Applies watch events that all carry revisions up to `revision`. */
  apply(events: readonly MetadataEvent[], revision: number): void {
    if (revision <= this.rev) return;
    for (const event of events) {
      if (event.type === 'put') {
        if (event.kv.modRevision > this.rev) this.put(event.kv);
      } else if (event.modRevision > this.rev) {
        this.remove(event.key);
      }
    }
    this.rev = revision;
    this.changed();
  }

  private changed(): void {
    this.keyspaceCache = new Map();
    for (const listener of this.listeners) listener(this);
  }

  private put(kv: MetadataKv): void {
    const parsed = parseKey(kv.key);
    try {
      switch (parsed.kind) {
        case 'cluster':
          this.clusterRecord = ClusterRecord.decode(kv.value);
          break;
        case 'coordinator-leader':
          this.leader = { record: CoordinatorLeaderRecord.decode(kv.value), term: kv.createRevision };
          break;
        case 'keyspace':
          this.keyspaceRecords.set(parsed.keyspace, { record: upgradeKeyspaceRecord(KeyspaceRecord.decode(kv.value)), modRevision: kv.modRevision });
          break;
        case 'partition': {
          let parts = this.partitionRecords.get(parsed.keyspace);
          if (parts === undefined) {
            parts = new Map();
            this.partitionRecords.set(parsed.keyspace, parts);
          }
          parts.set(parsed.partitionId, { record: upgradePartitionRecord(PartitionRecord.decode(kv.value)), modRevision: kv.modRevision });
          break;
        }
        case 'node':
          this.liveNodes.set(parsed.nodeId, NodeRegistration.decode(kv.value));
          break;
        case 'known-node':
          this.known.set(parsed.nodeId, KnownNode.decode(kv.value));
          break;
        case 'move':
          this.moveRecords.set(`${parsed.keyspace}/${parsed.partitionId}`, { record: MoveRecord.decode(kv.value), modRevision: kv.modRevision });
          break;
        case 'move-history':
          this.history.set(parsed.key, { record: MoveRecord.decode(kv.value), modRevision: kv.modRevision });
          break;
        case 'drain':
          this.drainRecords.set(parsed.nodeId, { record: DrainRecord.decode(kv.value), modRevision: kv.modRevision });
          break;
        case 'dropped-keyspace':
          this.dropped.add(parsed.keyspace);
          break;
        case 'unknown':
          break;
      }
    } catch {
      this.undecodable++;
    }
  }

  private remove(key: string): void {
    const parsed = parseKey(key);
    switch (parsed.kind) {
      case 'cluster':
        this.clusterRecord = undefined;
        break;
      case 'coordinator-leader':
        this.leader = undefined;
        break;
      case 'keyspace':
        this.keyspaceRecords.delete(parsed.keyspace);
        break;
      case 'partition':
        this.partitionRecords.get(parsed.keyspace)?.delete(parsed.partitionId);
        break;
      case 'node':
        this.liveNodes.delete(parsed.nodeId);
        break;
      case 'known-node':
        this.known.delete(parsed.nodeId);
        break;
      case 'move':
        this.moveRecords.delete(`${parsed.keyspace}/${parsed.partitionId}`);
        break;
      case 'move-history':
        this.history.delete(parsed.key);
        break;
      case 'drain':
        this.drainRecords.delete(parsed.nodeId);
        break;
      case 'dropped-keyspace':
        this.dropped.delete(parsed.keyspace);
        break;
      case 'unknown':
        break;
    }
  }
}
