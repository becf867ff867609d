/**
 * CreateKeyspace's decision: a pure function from the request, the keyspaces that exist and
 * the live data nodes to the keyspace record to write, or the error that names the field and
 * its limit. The Admin service writes the record through the controller's fenced path (absent
 * key expected); placement then assigns its partitions like the `default` keyspace's.
 *
 * Invariant: a returned record passes every check here — a valid, unused name, the HASH scheme
 * with 1..partitionCountMax partitions and no split keys, or the RANGE scheme with at most
 * partitionCountMax - 1 strictly ascending split keys of 1..keyBytesMax bytes each and
 * len(splitKeys) + 1 partitions, 1..min(replicationFactorMax, live nodes) replicas, room for
 * partitions × replicas on the live nodes (each node's --partitions-max), 1 ≤ min_isr ≤
 * replication factor and a known ack policy — so placement can place the whole keyspace.
 */
import { AckPolicy, PartitionScheme, type CreateKeyspaceRequest, type KeyspaceRecord } from '@quire/proto';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  KeyspaceNotFoundError,
  ackPolicyName,
  defaultMinIsr,
  resolveKeyspaceName,
  splitKeysProblem,
  type Limits,
  type QuireError,
} from '@quire/common';

/** The largest replication factor a keyspace may have. */
export const replicationFactorMax = 7;
/** The most partitions a keyspace may have. */
export const partitionCountMax = 4096;

/** What CreateKeyspace's 0 and UNSPECIFIED fields mean: the coordinator's flags. */
export interface KeyspaceDefaults {
  readonly replicationFactor: number;
  readonly ackPolicy: AckPolicy;
}

/** What the decision needs to know about the cluster. */
export interface KeyspaceCreationContext {
  readonly exists: (name: string) => boolean;
  /** Whether a keyspace of that name was dropped (names are not reused). */
  readonly dropped: (name: string) => boolean;
  /**
   * Room for more replicas on each data node holding a live registration: its partitions_max
   * less the replicas it holds (Infinity when its limit is not known).
   */
  readonly nodeRoom: readonly number[];
  readonly limits: Limits;
  readonly defaults: KeyspaceDefaults;
}

/** The record to write, or why nothing may be. */
export type CreateKeyspaceDecision = { readonly ok: true; readonly record: KeyspaceRecord } | { readonly ok: false; readonly error: QuireError };

const knownAckPolicies: ReadonlySet<number> = new Set([AckPolicy.ACK_POLICY_SYNC, AckPolicy.ACK_POLICY_SEMI_SYNC, AckPolicy.ACK_POLICY_ASYNC]);

/** Decides what CreateKeyspace writes. */
export function planCreateKeyspace(request: CreateKeyspaceRequest, ctx: KeyspaceCreationContext): CreateKeyspaceDecision {
  const refuse = (error: QuireError): CreateKeyspaceDecision => ({ ok: false, error });
  if (request.keyspace === '') {
    return refuse(new InvalidArgumentError('keyspace is required: the name of the keyspace to create', { field: 'keyspace' }));
  }
  let name: string;
  try {
    name = resolveKeyspaceName(request.keyspace, ctx.limits);
  } catch (err) {
    return refuse(err as QuireError);
  }
  const scheme = request.scheme === PartitionScheme.PARTITION_SCHEME_UNSPECIFIED ? PartitionScheme.PARTITION_SCHEME_HASH : request.scheme;
  if (scheme !== PartitionScheme.PARTITION_SCHEME_HASH && scheme !== PartitionScheme.PARTITION_SCHEME_RANGE) {
    return refuse(
      new InvalidArgumentError(`scheme ${request.scheme} is not supported: use HASH (${PartitionScheme.PARTITION_SCHEME_HASH}) or RANGE (${PartitionScheme.PARTITION_SCHEME_RANGE})`, {
        field: 'scheme',
        actual: request.scheme,
      }),
    );
  }
  const partitions = scheme === PartitionScheme.PARTITION_SCHEME_RANGE ? rangePartitionCount(request, ctx.limits) : hashPartitionCount(request);
  if (!partitions.ok) return refuse(partitions.error);
  const partitionCount = partitions.count;
  const replicationFactor = request.replicationFactor === 0 ? ctx.defaults.replicationFactor : request.replicationFactor;
  if (replicationFactor > replicationFactorMax) {
    return refuse(
      new InvalidArgumentError(`replication_factor is ${replicationFactor}; the limit is ${replicationFactorMax}`, {
        field: 'replication_factor',
        limit: replicationFactorMax,
        actual: replicationFactor,
      }),
    );
  }
  const liveNodes = ctx.nodeRoom.length;
  if (replicationFactor > liveNodes) {
    return refuse(
      new InvalidArgumentError(
        `replication_factor is ${replicationFactor} but ${liveNodes} data node${liveNodes === 1 ? ' is' : 's are'} live: a partition's replicas go to distinct nodes`,
        { field: 'replication_factor', limit: liveNodes, actual: replicationFactor },
      ),
    );
  }
  // Each partition needs R nodes with room; R × partitions replicas need that much room in all.
  const withRoom = ctx.nodeRoom.filter((room) => room > 0).length;
  if (replicationFactor > withRoom) {
    return refuse(
      new InvalidArgumentError(
        `replication_factor is ${replicationFactor} but only ${withRoom} live data node${withRoom === 1 ? ' has' : 's have'} room for another replica (--partitions-max)`,
        { field: 'replication_factor', limit: withRoom, actual: replicationFactor },
      ),
    );
  }
  const room = ctx.nodeRoom.reduce((sum, r) => sum + r, 0);
  if (partitionCount * replicationFactor > room) {
    const fits = Math.floor(room / replicationFactor);
    return refuse(
      new InvalidArgumentError(
        `partition_count is ${partitionCount}: with replication ${replicationFactor} that is ${partitionCount * replicationFactor} replicas, and the live data nodes have room for ${room} more (--partitions-max), so at most ${fits} partitions`,
        { field: 'partition_count', limit: fits, actual: partitionCount },
      ),
    );
  }
  const minIsr = request.minIsr === 0 ? defaultMinIsr(replicationFactor) : request.minIsr;
  if (minIsr > replicationFactor) {
    return refuse(
      new InvalidArgumentError(`min_isr is ${minIsr}; it is at most the replication factor, ${replicationFactor}`, {
        field: 'min_isr',
        limit: replicationFactor,
        actual: minIsr,
      }),
    );
  }
  const ackPolicy = request.ackPolicy === AckPolicy.ACK_POLICY_UNSPECIFIED ? ctx.defaults.ackPolicy : request.ackPolicy;
  if (!knownAckPolicies.has(ackPolicy)) {
    return refuse(
      new InvalidArgumentError(`ack_policy ${request.ackPolicy} is unknown: use SYNC (1), SEMI_SYNC (2) or ASYNC (3)`, { field: 'ack_policy', actual: request.ackPolicy }),
    );
  }
  if (ctx.exists(name)) {
    return refuse(new AlreadyExistsError(`keyspace "${name}" already exists; nothing changed`, { field: 'keyspace' }));
  }
  if (ctx.dropped(name)) {
    return refuse(
      new FailedPreconditionError(`keyspace "${name}" was dropped, and the name of a dropped keyspace is not used again (a data node that was down may still hold its files); choose another name. Nothing changed`, { field: 'keyspace' }),
    );
  }
  const splitKeys = request.splitKeys.map((k) => Buffer.from(k));
  return { ok: true, record: { name, scheme, partitionCount, replicationFactor, ackPolicy, minIsr, splitKeys } };
}

/** A keyspace's partition count, or the refusal naming the field. */
type PartitionCountDecision = { readonly ok: true; readonly count: number } | { readonly ok: false; readonly error: QuireError };

/** HASH: partition_count is required, 1..partitionCountMax, and split_keys must be empty. */
function hashPartitionCount(request: CreateKeyspaceRequest): PartitionCountDecision {
  if (request.splitKeys.length > 0) {
    return {
      ok: false,
      error: new InvalidArgumentError(`split_keys has ${request.splitKeys.length} keys, but a HASH keyspace has no split keys (they are for the RANGE scheme)`, {
        field: 'split_keys',
        limit: 0,
        actual: request.splitKeys.length,
      }),
    };
  }
  if (request.partitionCount < 1 || request.partitionCount > partitionCountMax) {
    return {
      ok: false,
      error: new InvalidArgumentError(`partition_count is ${request.partitionCount}; a keyspace has 1..${partitionCountMax} partitions`, {
        field: 'partition_count',
        limit: partitionCountMax,
        actual: request.partitionCount,
      }),
    };
  }
  return { ok: true, count: request.partitionCount };
}

/**
 * RANGE: at most partitionCountMax - 1 split keys, each 1..keyBytesMax bytes, strictly
 * ascending; partition_count 0 or len(split_keys) + 1, which is the count.
 */
function rangePartitionCount(request: CreateKeyspaceRequest, limits: Limits): PartitionCountDecision {
  const keys = request.splitKeys;
  const refuse = (message: string, details: { readonly field: string; readonly limit?: number; readonly actual?: number }): PartitionCountDecision => ({
    ok: false,
    error: new InvalidArgumentError(message, details),
  });
  const keysMax = partitionCountMax - 1;
  if (keys.length > keysMax) {
    return refuse(`split_keys has ${keys.length} keys; a RANGE keyspace starts with at most ${keysMax} (${partitionCountMax} partitions)`, { field: 'split_keys', limit: keysMax, actual: keys.length });
  }
  const long = keys.findIndex((k) => k.length > limits.keyBytesMax);
  if (long >= 0) {
    const length = keys[long]?.length ?? 0;
    return refuse(`split key ${long} is ${length} bytes; a split key is 1..${limits.keyBytesMax} bytes (the key limit)`, { field: 'split_keys', limit: limits.keyBytesMax, actual: length });
  }
  const problem = splitKeysProblem(keys);
  if (problem !== undefined) return refuse(`split_keys: ${problem}`, { field: 'split_keys' });
  const count = keys.length + 1;
  if (request.partitionCount !== 0 && request.partitionCount !== count) {
    return refuse(`partition_count is ${request.partitionCount}, but ${keys.length} split keys make ${count} partitions; give 0 or ${count}`, {
      field: 'partition_count',
      limit: count,
      actual: request.partitionCount,
    });
  }
  return { ok: true, count };
}

/** One line naming a keyspace's settings, for logs and the CLI. */
export function describeKeyspace(record: KeyspaceRecord): string {
  const scheme = record.scheme === PartitionScheme.PARTITION_SCHEME_RANGE ? 'RANGE' : 'HASH';
  return `${scheme}, ${record.partitionCount} partitions, replication ${record.replicationFactor}, ${ackPolicyName(record.ackPolicy)}, min ISR ${record.minIsr}`;
}

/** DropKeyspace's decision: the keyspace record to delete (with its revision), or the typed refusal. */
export type DropKeyspaceDecision =
  | { readonly ok: true; readonly name: string; readonly modRevision: number; readonly partitionCount: number }
  | { readonly ok: false; readonly error: QuireError };

/**
 * Decides DropKeyspace: the name must be given, valid and not `default` (INVALID_ARGUMENT), and
 * the keyspace must exist (KEYSPACE_NOT_FOUND).
 */
export function planDropKeyspace(requested: string, lookup: (name: string) => { readonly modRevision: number; readonly partitionCount: number } | undefined, limits: Limits): DropKeyspaceDecision {
  if (requested === '') return { ok: false, error: new InvalidArgumentError('keyspace is required: the name of the keyspace to drop', { field: 'keyspace' }) };
  let name: string;
  try {
    name = resolveKeyspaceName(requested, limits);
  } catch (err) {
    return { ok: false, error: err as QuireError };
  }
  if (name === 'default') return { ok: false, error: new InvalidArgumentError('keyspace "default" cannot be dropped: it always exists', { field: 'keyspace' }) };
  const found = lookup(name);
  if (found === undefined) return { ok: false, error: new KeyspaceNotFoundError(`keyspace "${name}" does not exist; nothing changed`, { field: 'keyspace' }) };
  return { ok: true, name, ...found };
}
