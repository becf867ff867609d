/**
 * Typed operating errors. One class per condition, each with a stable UPPER_SNAKE `code` that
 * callers branch on (never on the message, never with instanceof across packages: use
 * isQuireError). `retry` says which layer may retry and how; the mapping to gRPC status codes
 * lives in one table in grpc-status.ts.
 *
 * Invariant: an error class says whether the operation happened. Every class here except
 * AmbiguousResultError means "definitely not applied"; AmbiguousResultError means "may or may
 * not have been applied" and must never be reported as success or as failure.
 */

/** Who may retry an operation that failed with this error, and how. */
export type RetryClass =
  /** Nobody: the request itself is wrong or the caller must decide. */
  | 'none'
  /** The router: refresh its partition map (or follow the hint) and retry. */
  | 'refresh-route'
  /** The router or client: back off with jitter and retry within the deadline. */
  | 'backoff'
  /** Only when the request is idempotent. */
  | 'if-idempotent';

/** The stable error codes. */
export type QuireErrorCode =
  | 'INVALID_ARGUMENT'
  | 'KEY_TOO_LARGE'
  | 'VALUE_TOO_LARGE'
  | 'KEYSPACE_NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'NODE_NOT_FOUND'
  | 'FAILED_PRECONDITION'
  | 'CONDITION_FAILED'
  | 'NOT_LEADER'
  | 'WRONG_PARTITION'
  | 'STALE_EPOCH'
  | 'PARTITION_UNAVAILABLE'
  | 'REPLICA_BEHIND'
  | 'COORDINATOR_UNAVAILABLE'
  | 'UNAVAILABLE'
  | 'OVERLOADED'
  | 'AMBIGUOUS_RESULT'
  | 'DEADLINE_EXCEEDED'
  | 'SHUTTING_DOWN'
  | 'CORRUPT_REPLICA'
  | 'INTERNAL';

/** Structured details an error may carry; every field is optional. */
export interface QuireErrorDetails {
  /** Request field at fault (argument errors). */
  readonly field?: string;
  /** The limit that was exceeded (argument errors). */
  readonly limit?: number;
  /** The offending size or value (argument errors). */
  readonly actual?: number;
  /** The key's current version (CONDITION_FAILED); 0 when absent. */
  readonly currentVersion?: number;
  /** The responder's partition-map revision (routing errors). */
  readonly mapRevision?: number;
  /** Node id (or, from a coordinator, the address) believed to lead (routing errors). */
  readonly leaderHint?: string;
  /** Suggested wait before retrying. */
  readonly retryAfterMs?: number;
  /** The partition the request addressed. */
  readonly partitionId?: number;
  /** The responder's partition epoch. */
  readonly epoch?: number;
}

/** Base class of every typed operating error. */
export abstract class QuireError extends Error {
  abstract readonly code: QuireErrorCode;
  abstract readonly retry: RetryClass;
  readonly details: QuireErrorDetails;

  constructor(message: string, details: QuireErrorDetails = {}, options?: ErrorOptions) {
    super(message, options);
    this.details = details;
  }
}

/** A malformed request: missing or invalid field. */
export class InvalidArgumentError extends QuireError {
  override readonly name = 'InvalidArgumentError';
  readonly code = 'INVALID_ARGUMENT';
  readonly retry = 'none';
}

/** A key is empty or longer than the key limit. */
export class KeyTooLargeError extends QuireError {
  override readonly name = 'KeyTooLargeError';
  readonly code = 'KEY_TOO_LARGE';
  readonly retry = 'none';
}

/** A value is longer than the value limit. */
export class ValueTooLargeError extends QuireError {
  override readonly name = 'ValueTooLargeError';
  readonly code = 'VALUE_TOO_LARGE';
  readonly retry = 'none';
}

/** The named keyspace does not exist. */
export class KeyspaceNotFoundError extends QuireError {
  override readonly name = 'KeyspaceNotFoundError';
  readonly code = 'KEYSPACE_NOT_FOUND';
  readonly retry = 'none';
}

/** What the request would create exists already (a keyspace of that name); nothing changed. */
export class AlreadyExistsError extends QuireError {
  override readonly name = 'AlreadyExistsError';
  readonly code = 'ALREADY_EXISTS';
  readonly retry = 'none';
}

/** The named data node never registered (or was forgotten after a drain). */
export class NodeNotFoundError extends QuireError {
  override readonly name = 'NodeNotFoundError';
  readonly code = 'NODE_NOT_FOUND';
  readonly retry = 'none';
}

/** The cluster is not in a state that allows the request (draining too many nodes); nothing changed. */
export class FailedPreconditionError extends QuireError {
  override readonly name = 'FailedPreconditionError';
  readonly code = 'FAILED_PRECONDITION';
  readonly retry = 'none';
}

/** A compare-and-set found another version; details.currentVersion holds it. */
export class ConditionFailedError extends QuireError {
  override readonly name = 'ConditionFailedError';
  readonly code = 'CONDITION_FAILED';
  readonly retry = 'none';
}

/** The responder does not lead the partition; details.leaderHint names who does. */
export class NotLeaderError extends QuireError {
  override readonly name = 'NotLeaderError';
  readonly code = 'NOT_LEADER';
  readonly retry = 'refresh-route';
}

/** The responder does not hold the partition at all. */
export class WrongPartitionError extends QuireError {
  override readonly name = 'WrongPartitionError';
  readonly code = 'WRONG_PARTITION';
  readonly retry = 'refresh-route';
}

/** The request was routed by a different partition epoch than the responder has. */
export class StaleEpochError extends QuireError {
  override readonly name = 'StaleEpochError';
  readonly code = 'STALE_EPOCH';
  readonly retry = 'refresh-route';
}

/** The partition has no reachable leader right now. */
export class PartitionUnavailableError extends QuireError {
  override readonly name = 'PartitionUnavailableError';
  readonly code = 'PARTITION_UNAVAILABLE';
  readonly retry = 'backoff';
}

/**
 * A replica cannot serve a SESSION or STALE read yet (RFC 0001, "Follower reads"): it has not
 * reached the session's index within its wait, its staleness exceeds max_staleness_ms, it has
 * not heard from a leader of the current epoch, or it is installing a snapshot. The read did not
 * happen; the router asks the partition's leader instead.
 */
export class ReplicaBehindError extends QuireError {
  override readonly name = 'ReplicaBehindError';
  readonly code = 'REPLICA_BEHIND';
  readonly retry = 'refresh-route';
}

/** No coordinator leader is reachable (admin requests only). */
export class CoordinatorUnavailableError extends QuireError {
  override readonly name = 'CoordinatorUnavailableError';
  readonly code = 'COORDINATOR_UNAVAILABLE';
  readonly retry = 'backoff';
}

/** A server could not be reached at all (connection refused, no route). */
export class UnavailableError extends QuireError {
  override readonly name = 'UnavailableError';
  readonly code = 'UNAVAILABLE';
  readonly retry = 'backoff';
}

/** A queue or in-flight limit is full; back off for details.retryAfterMs. */
export class OverloadedError extends QuireError {
  override readonly name = 'OverloadedError';
  readonly code = 'OVERLOADED';
  readonly retry = 'backoff';
}

/** The write may or may not have been applied (connection lost or timed out after sending). */
export class AmbiguousResultError extends QuireError {
  override readonly name = 'AmbiguousResultError';
  readonly code = 'AMBIGUOUS_RESULT';
  readonly retry = 'if-idempotent';
}

/** A read did not complete within its deadline (reads are never ambiguous). */
export class DeadlineExceededError extends QuireError {
  override readonly name = 'DeadlineExceededError';
  readonly code = 'DEADLINE_EXCEEDED';
  readonly retry = 'backoff';
}

/** The responder is stopping and takes no new requests. */
export class ShuttingDownError extends QuireError {
  override readonly name = 'ShuttingDownError';
  readonly code = 'SHUTTING_DOWN';
  readonly retry = 'backoff';
}

/** Stored data failed a consistency check; the replica fences itself. */
export class CorruptReplicaError extends QuireError {
  override readonly name = 'CorruptReplicaError';
  readonly code = 'CORRUPT_REPLICA';
  readonly retry = 'none';
}

/** An unexpected failure inside the server. */
export class InternalError extends QuireError {
  override readonly name = 'InternalError';
  readonly code = 'INTERNAL';
  readonly retry = 'none';
}

type ErrorConstructor = new (message: string, details?: QuireErrorDetails, options?: ErrorOptions) => QuireError;

/** Constructors by code, used to rebuild typed errors from the wire. */
export const errorClasses: Readonly<Record<QuireErrorCode, ErrorConstructor>> = {
  INVALID_ARGUMENT: InvalidArgumentError,
  KEY_TOO_LARGE: KeyTooLargeError,
  VALUE_TOO_LARGE: ValueTooLargeError,
  KEYSPACE_NOT_FOUND: KeyspaceNotFoundError,
  ALREADY_EXISTS: AlreadyExistsError,
  NODE_NOT_FOUND: NodeNotFoundError,
  FAILED_PRECONDITION: FailedPreconditionError,
  CONDITION_FAILED: ConditionFailedError,
  NOT_LEADER: NotLeaderError,
  WRONG_PARTITION: WrongPartitionError,
  STALE_EPOCH: StaleEpochError,
  PARTITION_UNAVAILABLE: PartitionUnavailableError,
  REPLICA_BEHIND: ReplicaBehindError,
  COORDINATOR_UNAVAILABLE: CoordinatorUnavailableError,
  UNAVAILABLE: UnavailableError,
  OVERLOADED: OverloadedError,
  AMBIGUOUS_RESULT: AmbiguousResultError,
  DEADLINE_EXCEEDED: DeadlineExceededError,
  SHUTTING_DOWN: ShuttingDownError,
  CORRUPT_REPLICA: CorruptReplicaError,
  INTERNAL: InternalError,
};

/** Returns whether `code` is one of the stable error codes. */
export function isQuireErrorCode(code: string): code is QuireErrorCode {
  return Object.hasOwn(errorClasses, code);
}

/** Returns whether `err` is a QuireError, optionally with one of the given codes. */
export function isQuireError(err: unknown, ...codes: QuireErrorCode[]): err is QuireError {
  if (!(err instanceof Error)) return false;
  const code = (err as Partial<QuireError>).code;
  if (typeof code !== 'string' || !isQuireErrorCode(code) || !('retry' in err)) return false;
  return codes.length === 0 || codes.includes(code);
}
