/**
 * Request limits, enforced at the router and again at the data node. Every violation is an
 * INVALID_ARGUMENT-class error that names the field, the limit and the actual size, and is
 * raised before anything is written.
 */
import { InvalidArgumentError, KeyTooLargeError, ValueTooLargeError } from './errors/quire-error.js';

/** Size limits on keys, values and batches. */
export interface Limits {
  /** Longest key in bytes (keys are 1..keyBytesMax). */
  readonly keyBytesMax: number;
  /** Longest value in bytes. */
  readonly valueBytesMax: number;
  /** Most operations in one multiplexed stream message. */
  readonly streamBatchOpsMax: number;
  /** Most payload bytes (keys + values) in one multiplexed stream message. */
  readonly streamBatchBytesMax: number;
  /** Longest keyspace name. */
  readonly keyspaceNameBytesMax: number;
}

/** The limits of the brief: key 1..4096 bytes, value at most 1 MiB. */
export const defaultLimits: Limits = Object.freeze({
  keyBytesMax: 4096,
  valueBytesMax: 1024 * 1024,
  streamBatchOpsMax: 4096,
  streamBatchBytesMax: 4 * 1024 * 1024,
  keyspaceNameBytesMax: 64,
});

/** Largest gRPC message any component accepts: one full batch plus framing. */
export const grpcMessageBytesMax = 8 * 1024 * 1024;

/**
 * Longest write request id (PutRequest.request_id, DeleteRequest.request_id), in bytes. Part of
 * the wire contract (kv.proto), not a setting: data nodes store the id in their log entries and
 * every replica must accept what any router accepted.
 */
export const requestIdBytesMax = 64;

/** The keyspace an empty keyspace field means. */
export const defaultKeyspace = 'default';

const keyspaceNamePattern = /^[a-z0-9][a-z0-9_-]*$/;

/** Throws KEY_TOO_LARGE unless 1 <= key.length <= keyBytesMax. */
export function validateKey(key: Uint8Array, limits: Limits, field = 'key'): void {
  if (key.length === 0) {
    throw new InvalidArgumentError(`${field} must not be empty (keys are 1..${limits.keyBytesMax} bytes)`, {
      field,
      limit: limits.keyBytesMax,
      actual: 0,
    });
  }
  if (key.length > limits.keyBytesMax) {
    throw new KeyTooLargeError(`${field} is ${key.length} bytes; the limit is ${limits.keyBytesMax} bytes`, {
      field,
      limit: limits.keyBytesMax,
      actual: key.length,
    });
  }
}

/** Throws VALUE_TOO_LARGE unless value.length <= valueBytesMax. */
export function validateValue(value: Uint8Array, limits: Limits, field = 'value'): void {
  if (value.length > limits.valueBytesMax) {
    throw new ValueTooLargeError(`${field} is ${value.length} bytes; the limit is ${limits.valueBytesMax} bytes`, {
      field,
      limit: limits.valueBytesMax,
      actual: value.length,
    });
  }
}

/** Throws INVALID_ARGUMENT unless a write's request id is at most requestIdBytesMax bytes (empty means none). */
export function validateRequestId(requestId: Uint8Array, field = 'request_id'): void {
  if (requestId.length > requestIdBytesMax) {
    throw new InvalidArgumentError(`${field} is ${requestId.length} bytes; the limit is ${requestIdBytesMax} bytes`, {
      field,
      limit: requestIdBytesMax,
      actual: requestId.length,
    });
  }
}

/** Throws INVALID_ARGUMENT if a scan bound is longer than the key limit. */
export function validateScanBound(bound: Uint8Array, limits: Limits, field: string): void {
  if (bound.length > limits.keyBytesMax) {
    throw new KeyTooLargeError(`${field} is ${bound.length} bytes; the limit is ${limits.keyBytesMax} bytes`, {
      field,
      limit: limits.keyBytesMax,
      actual: bound.length,
    });
  }
}

/** A data node's zone (--zone): 1..63 of a-z, 0-9, '.', '_', '-', starting with a letter or digit. */
export const zoneNamePattern = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** The rule zoneNamePattern checks, for error messages. */
export const zoneNameRule = "1..63 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit";

/** Returns the keyspace name a request means, validating its syntax. */
export function resolveKeyspaceName(name: string, limits: Limits): string {
  if (name === '') return defaultKeyspace;
  if (Buffer.byteLength(name) > limits.keyspaceNameBytesMax || !keyspaceNamePattern.test(name)) {
    throw new InvalidArgumentError(
      `keyspace "${name.slice(0, 80)}" is invalid: use 1..${limits.keyspaceNameBytesMax} characters of a-z, 0-9, '_' and '-', starting with a letter or digit`,
      { field: 'keyspace', limit: limits.keyspaceNameBytesMax, actual: Buffer.byteLength(name) },
    );
  }
  return name;
}
