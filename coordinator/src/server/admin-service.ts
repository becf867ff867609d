/**
 * The Admin service. The coordinator leader answers from its metadata view; a standby
 * answers NOT_LEADER with the leader's address as the hint so the caller can go there.
 */
import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import type {
  AdminServer,
  ClusterStatusRequest,
  ClusterStatusResponse,
  GetPartitionMapRequest,
  GetPartitionMapResponse,
} from '@quire/proto';
import {
  KeyspaceNotFoundError,
  resolveKeyspaceName,
  toGrpcStatus,
  type Clock,
  type Limits,
  type MetadataView,
  type RpcMetrics,
} from '@quire/common';
import { clusterStatusOf, partitionMapOf } from '../status/cluster-status.js';
import { coordinatorNotLeaderError } from './not-leader.js';

/** Builds the Admin service implementation. */
export function createAdminService(
  view: MetadataView,
  isLeader: () => boolean,
  limits: Limits,
  metrics: RpcMetrics,
  clock: Clock,
): AdminServer {
  const ensureLeader = (): void => {
    if (!isLeader()) throw coordinatorNotLeaderError(view);
  };
  function handle<Req, Res>(method: string, body: (request: Req) => Res) {
    return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
      const startedMs = clock.monotonicMs();
      try {
        ensureLeader();
        const response = body(call.request);
        metrics.record(method, 'OK', clock.monotonicMs() - startedMs);
        callback(null, response);
      } catch (err) {
        const status = toGrpcStatus(err);
        metrics.record(method, status.metadata.get('quire-error-code')[0]?.toString() ?? 'INTERNAL', clock.monotonicMs() - startedMs);
        callback(status);
      }
    };
  }
  return {
    clusterStatus: handle<ClusterStatusRequest, ClusterStatusResponse>('ClusterStatus', () => clusterStatusOf(view)),
    getPartitionMap: handle<GetPartitionMapRequest, GetPartitionMapResponse>('GetPartitionMap', (request) => {
      const name = resolveKeyspaceName(request.keyspace, limits);
      const ks = view.keyspace(name);
      if (ks === undefined) throw new KeyspaceNotFoundError(`keyspace "${name}" does not exist`, { field: 'keyspace' });
      return { map: partitionMapOf(view, ks) };
    }),
  };
}
