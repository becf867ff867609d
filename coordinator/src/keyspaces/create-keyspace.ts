/**
 * CreateKeyspace's decision: a pure function from the request, the keyspaces that exist and
 * the live data nodes to the keyspace record to write, or the error that names the field and
 * its limit. The Admin service writes the record through the controller's fenced path (absent
 * key expected); placement then assigns its partitions like the `default` keyspace's.
 *
 * Invariant: a returned record passes every check here — a valid, unused name, the HASH scheme,
 * 1..partitionCountMax partitions, 1..min(replicationFactorMax, live nodes) replicas, room for
 * partitions × replicas on the live nodes (each node's --partitions-max), 1 ≤ min_isr ≤
 * replication factor and a known ack policy — so placement can place the whole keyspace.
 */
import { AckPolicy, PartitionScheme, type CreateKeyspaceRequest, type KeyspaceRecord } from '@quire/proto';
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, KeyspaceNotFoundError, ackPolicyName, defaultMinIsr, resolveKeyspaceName, type Limits, type QuireError } from '@quire/common';

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
  if (scheme !== PartitionScheme.PARTITION_SCHEME_HASH) {
    return refuse(new InvalidArgumentError(`scheme ${request.scheme} is not supported: the only scheme is HASH (${PartitionScheme.PARTITION_SCHEME_HASH})`, { field: 'scheme', actual: request.scheme }));
  }
  if (request.partitionCount < 1 || request.partitionCount > partitionCountMax) {
    return refuse(
      new InvalidArgumentError(`partition_count is ${request.partitionCount}; a keyspace has 1..${partitionCountMax} partitions`, {
        field: 'partition_count',
        limit: partitionCountMax,
        actual: request.partitionCount,
      }),
    );
  }
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
  if (request.partitionCount * replicationFactor > room) {
    const fits = Math.floor(room / replicationFactor);
    return refuse(
      new InvalidArgumentError(
        `partition_count is ${request.partitionCount}: with replication ${replicationFactor} that is ${request.partitionCount * replicationFactor} replicas, and the live data nodes have room for ${room} more (--partitions-max), so at most ${fits} partitions`,
        { field: 'partition_count', limit: fits, actual: request.partitionCount },
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
  return { ok: true, record: { name, scheme, partitionCount: request.partitionCount, replicationFactor, ackPolicy, minIsr } };
}

/** One line naming a keyspace's settings, for logs and the CLI. */
export function describeKeyspace(record: KeyspaceRecord): string {
  return `${record.partitionCount} partitions, replication ${record.replicationFactor}, ${ackPolicyName(record.ackPolicy)}, min ISR ${record.minIsr}`;
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
