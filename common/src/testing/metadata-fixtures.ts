/**
 * Builders of etcd metadata records for unit tests of the components' cores. Import from
 * tests only.
 */
import { AckPolicy, ClusterRecord, CoordinatorLeaderRecord, KeyspaceRecord, KnownNode, NodeRegistration, PartitionRecord, PartitionScheme, type SplitOrigin } from '@quire/proto';
import { clusterKey, coordinatorLeaderKey, keyspaceKey, knownNodeKey, nodeKey, partitionKey } from '../metadata/keys.js';
import { MetadataView, type MetadataKv } from '../metadata/metadata-view.js';
import { defaultMinIsr } from '../metadata/records.js';

/** A cluster description for a test view. */
export interface ViewFixture {
  /** Keyspaces and their partition counts. */
  readonly keyspaces?: Readonly<Record<string, number>>;
  /** Replication factors by keyspace name (1 when absent); min ISR is the default for it. */
  readonly replicationFactors?: Readonly<Record<string, number>>;
  /** Partition assignments: keyspace/partition → leader (replicas and ISR default to [leader]). */
  readonly partitions?: readonly { keyspace?: string; id: number; leader: string; epoch?: number; replicas?: readonly string[]; isr?: readonly string[] }[];
  /** Live nodes (registered), with address 127.0.0.1:<7100 + index>. */
  readonly live?: readonly string[];
  /** Live nodes' --partitions-max (0, no limit known, when absent). */
  readonly partitionsMax?: Readonly<Record<string, number>>;
  /** Live nodes' zones ('' when absent). */
  readonly zones?: Readonly<Record<string, string>>;
  /** Nodes that registered once. */
  readonly known?: readonly string[];
  /** Whether the cluster record exists (the cluster is bootstrapped); false when absent. */
  readonly cluster?: boolean;
  /** Address of the elected coordinator leader (id `c1`); none when absent. */
  readonly coordinatorLeader?: string;
  readonly revision?: number;
}

/** Builds a loaded MetadataView. */
export function viewOf(f: ViewFixture): MetadataView {
  let rev = 1;
  const kvs: MetadataKv[] = [];
  const add = (key: string, value: Uint8Array): void => {
    rev++;
    kvs.push({ key, value, createRevision: rev, modRevision: rev });
  };
  for (const [name, partitionCount] of Object.entries(f.keyspaces ?? { default: 16 })) {
    const replicationFactor = f.replicationFactors?.[name] ?? 1;
    add(
      keyspaceKey(name),
      KeyspaceRecord.encode({ splitKeys: [],
        name,
        scheme: PartitionScheme.PARTITION_SCHEME_HASH,
        partitionCount,
        replicationFactor,
        ackPolicy: AckPolicy.ACK_POLICY_SYNC,
        minIsr: defaultMinIsr(replicationFactor),
      }).finish(),
    );
  }
  for (const p of f.partitions ?? []) {
    const keyspace = p.keyspace ?? 'default';
    const replicas = [...(p.replicas ?? [p.leader])];
    const isr = [...(p.isr ?? [p.leader])];
    add(partitionKey(keyspace, p.id), PartitionRecord.encode({ startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), splitFrom: undefined, keyspace, partitionId: p.id, replicas, leader: p.leader, epoch: p.epoch ?? 1, isr }).finish());
  }
  (f.live ?? []).forEach((nodeId, i) => {
    add(nodeKey(nodeId), NodeRegistration.encode({ nodeId, address: `127.0.0.1:${7100 + i}`, metricsAddress: `127.0.0.1:${9100 + i}`, startedAtMs: 0, version: 'test', partitionsMax: f.partitionsMax?.[nodeId] ?? 0, zone: f.zones?.[nodeId] ?? '' }).finish());
  });
  for (const nodeId of new Set([...(f.known ?? []), ...(f.live ?? [])])) {
    add(knownNodeKey(nodeId), KnownNode.encode({ nodeId, firstSeenMs: 0 }).finish());
  }
  if (f.cluster === true) add(clusterKey, ClusterRecord.encode({ clusterId: 'test-cluster', createdAtMs: 0 }).finish());
  if (f.coordinatorLeader !== undefined) {
    add(coordinatorLeaderKey, CoordinatorLeaderRecord.encode({ coordinatorId: 'c1', address: f.coordinatorLeader }).finish());
  }
  const view = new MetadataView();
  view.reset(kvs, f.revision ?? rev);
  return view;
}

/** One change for applyToView: a value to put, or undefined to delete the key. */
export interface ViewChange {
  readonly key: string;
  readonly value: Uint8Array | undefined;
}

/**
 * Applies `changes` to `view` as one etcd transaction at the next revision (as a watch delivers
 * it) and returns that revision. Puts carry that revision as their create revision too.
 */
export function applyToView(view: MetadataView, changes: readonly ViewChange[]): number {
  const revision = view.revision + 1;
  view.apply(
    changes.map((c) =>
      c.value === undefined
        ? { type: 'delete' as const, key: c.key, modRevision: revision }
        : { type: 'put' as const, kv: { key: c.key, value: c.value, createRevision: revision, modRevision: revision } },
    ),
    revision,
  );
  return revision;
}

/** Returns the value that registers `nodeId` at `address`, for applyToView. */
export function nodeRegistrationValue(nodeId: string, address: string): Uint8Array {
  return NodeRegistration.encode({ nodeId, address, metricsAddress: '', startedAtMs: 0, version: 'test', partitionsMax: 0, zone: '' }).finish();
}

/** One partition of a RANGE keyspace in a test view (rangePartitionRecord). */
export interface RangePartitionFixture {
  readonly id: number;
  readonly start: string;
  /** '' is the end of the keyspace. */
  readonly end: string;
  readonly leader: string;
  /** 1 when absent. */
  readonly epoch?: number;
  /** [leader] when absent. */
  readonly replicas?: readonly string[];
  /** The replicas when absent. */
  readonly isr?: readonly string[];
  readonly splitFrom?: SplitOrigin;
}

/** The record of a RANGE keyspace's partition (encoded). */
export function rangePartitionRecord(keyspace: string, p: RangePartitionFixture): Uint8Array {
  const replicas = [...(p.replicas ?? [p.leader])];
  return PartitionRecord.encode({
    keyspace,
    partitionId: p.id,
    replicas,
    leader: p.leader,
    epoch: p.epoch ?? 1,
    isr: [...(p.isr ?? replicas)],
    startKey: Buffer.from(p.start),
    endKey: Buffer.from(p.end),
    splitFrom: p.splitFrom,
  }).finish();
}

/** The record of a RANGE keyspace (encoded): SYNC, min ISR 1, created with `splitKeys`. */
export function rangeKeyspaceRecord(name: string, partitionCount: number, replicationFactor: number, splitKeys: readonly string[] = []): Uint8Array {
  return KeyspaceRecord.encode({
    name,
    scheme: PartitionScheme.PARTITION_SCHEME_RANGE,
    partitionCount,
    replicationFactor,
    ackPolicy: AckPolicy.ACK_POLICY_SYNC,
    minIsr: 1,
    splitKeys: splitKeys.map((k) => Buffer.from(k)),
  }).finish();
}
