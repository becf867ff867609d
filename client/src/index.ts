/**
 * @quire/client: the TypeScript client library. QuireClient (get, put, delete, scan and the
 * Admin calls, multiplexed over one stream per router, moving to another router when one
 * dies), its session for SESSION reads, and the typed errors every call fails with (branch on
 * `err.code`; `mayHaveTakenEffect(err.code)` says whether the operation may have happened). It
 * depends on @quire/proto, @quire/common and @grpc/grpc-js only: no native module, etcd client,
 * logger or metrics SDK.
 */
export * from './client.js';
export { routerTargetsOf, routerTargetsMax, type RouterTargetOptions } from './router-targets.js';
export type { KeyspaceInfo, ListMovesResponse, MoveInfo, PartitionInfo, PartitionMap, RebalanceResponse, SplitPartitionResponse } from '@quire/proto';
export { MovePhase, PartitionScheme } from '@quire/proto';
export {
  AlreadyExistsError,
  NodeNotFoundError,
  FailedPreconditionError,
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
  mayHaveTakenEffect,
  operationEffectByCode,
  type AckPolicyName,
  type OperationEffect,
  type QuireErrorCode,
  type QuireErrorDetails,
  type RetryClass,
} from '@quire/common';
