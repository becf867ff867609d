/**
 * @quire/client: the TypeScript client library. QuireClient (get, put, delete, scan and the
 * Admin calls, multiplexed over one stream to a router), its session for SESSION reads, and
 * the typed errors every call fails with (branch on `err.code`). It depends on @quire/proto,
 * @quire/common and @grpc/grpc-js only: no native module, etcd client, logger or metrics SDK.
 */
export * from './client.js';
export {
  AmbiguousResultError,
  ConditionFailedError,
  CoordinatorUnavailableError,
  CorruptReplicaError,
  DeadlineExceededError,
  InternalError,
  InvalidArgumentError,
  KeyTooLargeError,
  KeyspaceNotFoundError,
  NotLeaderError,
  OverloadedError,
  PartitionUnavailableError,
  QuireError,
  ReplicaBehindError,
  ShuttingDownError,
  StaleEpochError,
  UnavailableError,
  ValueTooLargeError,
  WrongPartitionError,
  isQuireError,
  isQuireErrorCode,
  type QuireErrorCode,
  type QuireErrorDetails,
  type RetryClass,
} from '@quire/common';
