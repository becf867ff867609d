/**
 * The one table that maps typed errors to gRPC status codes, and the codecs that carry
 * them across the wire in both directions:
 *  - unary and server-streaming RPCs: status code + trailing metadata `quire-error-code` and
 *    `quire-error-bin` (a binary ErrorInfo);
 *  - multiplexed streams: an ErrorInfo per operation result.
 * Decoding rebuilds the same typed error class, so callers branch on `code` wherever the
 * error surfaced. Errors that are not QuireErrors become INTERNAL (logged by the caller with
 * their stack); cancellation and deadline statuses pass through as their own codes.
 */
import { Metadata, status, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { ErrorInfo } from '@quire/proto';
import { AssertionError } from '../assert.js';
import {
  AmbiguousResultError,
  DeadlineExceededError,
  InternalError,
  type QuireError,
  UnavailableError,
  errorClasses,
  isQuireError,
  isQuireErrorCode,
  type QuireErrorCode,
  type QuireErrorDetails,
} from './quire-error.js';

/** gRPC status for each error code. Several codes share a status: callers read the code. */
export const grpcStatusByCode: Readonly<Record<QuireErrorCode, status>> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  KEY_TOO_LARGE: status.INVALID_ARGUMENT,
  VALUE_TOO_LARGE: status.INVALID_ARGUMENT,
  KEYSPACE_NOT_FOUND: status.NOT_FOUND,
  ALREADY_EXISTS: status.ALREADY_EXISTS,
  NODE_NOT_FOUND: status.NOT_FOUND,
  FAILED_PRECONDITION: status.FAILED_PRECONDITION,
  CONDITION_FAILED: status.FAILED_PRECONDITION,
  NOT_LEADER: status.FAILED_PRECONDITION,
  WRONG_PARTITION: status.FAILED_PRECONDITION,
  STALE_EPOCH: status.FAILED_PRECONDITION,
  PARTITION_UNAVAILABLE: status.UNAVAILABLE,
  REPLICA_BEHIND: status.UNAVAILABLE,
  COORDINATOR_UNAVAILABLE: status.UNAVAILABLE,
  UNAVAILABLE: status.UNAVAILABLE,
  OVERLOADED: status.RESOURCE_EXHAUSTED,
  AMBIGUOUS_RESULT: status.UNKNOWN,
  DEADLINE_EXCEEDED: status.DEADLINE_EXCEEDED,
  SHUTTING_DOWN: status.UNAVAILABLE,
  CORRUPT_REPLICA: status.DATA_LOSS,
  INTERNAL: status.INTERNAL,
};

/** Metadata key with the plain error code. */
export const errorCodeMetadataKey = 'quire-error-code';
/** Metadata key with the binary ErrorInfo. */
export const errorInfoMetadataKey = 'quire-error-bin';

/** Converts any thrown value to a QuireError (non-Quire errors become INTERNAL). */
export function toQuireError(err: unknown): QuireError {
  if (isQuireError(err)) return err;
  if (err instanceof AssertionError) {
    // A failed assertion is a bug, never an answer: request handlers catch everything to map
    // it here, so rethrow it outside their try/catch, where the crash handler exits the
    // process (the supervisor restarts it) before it can serve from a state it does not understand.
    process.nextTick(() => {
      throw err;
    });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new InternalError(`Internal error: ${message}`, {}, { cause: err });
}

/** Encodes a typed error as an ErrorInfo (for stream results and metadata). */
export function toErrorInfo(err: unknown): ErrorInfo {
  const e = toQuireError(err);
  const d = e.details;
  return {
    code: e.code,
    message: e.message,
    grpcCode: grpcStatusByCode[e.code],
    field: d.field ?? '',
    limit: d.limit ?? 0,
    actual: d.actual ?? 0,
    currentVersion: d.currentVersion ?? 0,
    mapRevision: d.mapRevision ?? 0,
    leaderHint: d.leaderHint ?? '',
    retryAfterMs: d.retryAfterMs ?? 0,
    partitionId: d.partitionId ?? 0,
    epoch: d.epoch ?? 0,
  };
}

/** Rebuilds the typed error an ErrorInfo describes. */
export function fromErrorInfo(info: ErrorInfo): QuireError {
  const code: QuireErrorCode = isQuireErrorCode(info.code) ? info.code : 'INTERNAL';
  const details: { -readonly [K in keyof QuireErrorDetails]: QuireErrorDetails[K] } = {};
  if (info.field !== '') details.field = info.field;
  if (info.limit !== 0) details.limit = info.limit;
  if (info.actual !== 0) details.actual = info.actual;
  if (code === 'CONDITION_FAILED') details.currentVersion = info.currentVersion;
  if (info.mapRevision !== 0) details.mapRevision = info.mapRevision;
  if (info.leaderHint !== '') details.leaderHint = info.leaderHint;
  if (info.retryAfterMs !== 0) details.retryAfterMs = info.retryAfterMs;
  if (info.partitionId !== 0 || code === 'WRONG_PARTITION' || code === 'STALE_EPOCH') {
    details.partitionId = info.partitionId;
  }
  if (info.epoch !== 0) details.epoch = info.epoch;
  return new errorClasses[code](info.message, details);
}

/** The status object a server handler passes to its callback or emits on a stream. */
export function toGrpcStatus(err: unknown): Partial<StatusObject> & { code: status; details: string; metadata: Metadata } {
  const e = toQuireError(err);
  const metadata = new Metadata();
  metadata.set(errorCodeMetadataKey, e.code);
  metadata.set(errorInfoMetadataKey, Buffer.from(ErrorInfo.encode(toErrorInfo(e)).finish()));
  return { code: grpcStatusByCode[e.code], details: e.message, metadata };
}

/**
 * Converts an error a gRPC client call failed with into the typed error it carries. A status
 * without Quire metadata comes from the transport: UNAVAILABLE (cannot connect),
 * DEADLINE_EXCEEDED, CANCELLED and the rest are classified here. `writeInFlight` says whether a
 * write may already have reached the server: then every failure that does not carry a Quire
 * error the server decided — whatever the transport status (grpc-js reports some broken
 * streams, an RST_STREAM for one, as INTERNAL), details that do not decode, a code this version
 * does not know, an error that is not a gRPC status at all — is AMBIGUOUS_RESULT, never a code
 * that says the write did not happen (operation-effect.ts).
 */
export function fromGrpcError(err: unknown, target: string, writeInFlight = false): QuireError {
  if (isQuireError(err)) return err;
  const se = err as Partial<ServiceError>;
  if (typeof se.code !== 'number') {
    if (!writeInFlight) return toQuireError(err);
    const message = err instanceof Error ? err.message : String(err);
    return new AmbiguousResultError(`The call to ${target} failed with a write in flight (${message}); it may or may not have been applied`, {}, { cause: err });
  }
  const bin = se.metadata?.get(errorInfoMetadataKey)[0];
  if (bin instanceof Buffer) {
    let info: ErrorInfo;
    try {
      info = ErrorInfo.decode(bin);
    } catch (decodeErr) {
      return writeInFlight
        ? new AmbiguousResultError(`Undecodable error details from ${target} with a write in flight; it may or may not have been applied`, {}, { cause: decodeErr })
        : new InternalError(`Undecodable error details from ${target}`, {}, { cause: decodeErr });
    }
    if (writeInFlight && !isQuireErrorCode(info.code)) {
      return new AmbiguousResultError(`Unknown error code ${info.code} from ${target} with a write in flight (${info.message}); it may or may not have been applied`, {}, { cause: err });
    }
    return fromErrorInfo(info);
  }
  const detail = se.details ?? se.message ?? 'no details';
  const statusName = status[se.code] ?? String(se.code);
  if (writeInFlight) {
    return new AmbiguousResultError(
      se.code === status.DEADLINE_EXCEEDED
        ? `Deadline exceeded at ${target} while a write was in flight; it may or may not have been applied`
        : `Lost the call to ${target} while a write was in flight (${statusName}: ${detail}); it may or may not have been applied`,
      {},
      { cause: err },
    );
  }
  switch (se.code) {
    case status.UNAVAILABLE:
    case status.CANCELLED:
      return new UnavailableError(`Cannot reach ${target}: ${describeTransportFailure(detail)}`, {}, { cause: err });
    case status.DEADLINE_EXCEEDED:
      return new DeadlineExceededError(`Deadline exceeded waiting for ${target}`, {}, { cause: err });
    default:
      return new InternalError(`Unexpected status ${statusName} from ${target}: ${detail}`, {}, { cause: err });
  }
}

/** Shortens grpc-js connection failure texts to what a person needs to read. */
function describeTransportFailure(detail: string): string {
  if (detail.includes('ECONNREFUSED')) return 'connection refused (is it running?)';
  if (detail.includes('ENOTFOUND') || detail.includes('Name resolution failed')) return 'host not found';
  if (detail.includes('ETIMEDOUT')) return 'connection timed out';
  return detail;
}
