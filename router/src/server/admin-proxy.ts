/**
 * The Admin service as routers serve it: a proxy to the coordinator leader, whose address
 * the router knows from its metadata view. A NOT_LEADER answer (an election just happened)
 * is followed once to the hinted address. Errors pass through with their typed details.
 * TransferLeader gets a longer deadline than the others: the partition leader may wait up to
 * its hand-over deadline (5 s) for the target to catch up before the transfer is written;
 * CreateKeyspace too (the coordinator waits up to 5 s for the new partitions' leaders), and its
 * answer is held until this router's own view shows the new keyspace (at most
 * `createdViewWaitMs`), so a client that goes on through this router finds it. A SplitPartition
 * answer is held the same way until the view shows the split (its map revision). State-changing
 * calls (TransferLeader, CreateKeyspace, DropKeyspace, SplitPartition, the node and move calls)
 * lost after they were sent are AMBIGUOUS_RESULT, never sent twice.
 */
import type { Meter } from '@opentelemetry/api';
import { Metadata, type sendUnaryData, type ServerUnaryCall, type ServiceError } from '@grpc/grpc-js';
import {
  AdminClient,
  type AdminServer,
  type ClusterStatusRequest,
  type ClusterStatusResponse,
  type CreateKeyspaceRequest,
  type CreateKeyspaceResponse,
  type GetPartitionMapRequest,
  type GetPartitionMapResponse,
  type ListKeyspacesRequest,
  type ListKeyspacesResponse,
  type CancelDecommissionRequest,
  type CancelDecommissionResponse,
  type DecommissionNodeRequest,
  type DropKeyspaceRequest,
  type DropKeyspaceResponse,
  type ForgetNodeRequest,
  type ForgetNodeResponse,
  type DecommissionNodeResponse,
  type ListMovesRequest,
  type ListMovesResponse,
  type RebalanceRequest,
  type RebalanceResponse,
  type SplitPartitionRequest,
  type SplitPartitionResponse,
  type TransferLeaderRequest,
  type TransferLeaderResponse,
} from '@quire/proto';
import {
  CoordinatorUnavailableError,
  clientCredentials,
  fromGrpcError,
  grpcClientOptions,
  toGrpcStatus,
  toQuireError,
  waitForView,
  type Clock,
  type MetadataView,
  type QuireError,
} from '@quire/common';
import { RpcMetrics } from '@quire/runtime';

/** Deadline of a proxied TransferLeader (the coordinator's own call to the partition leader has 9 s). */
const transferLeaderDeadlineMs = 10_000;
/** Deadline of a proxied CreateKeyspace (the coordinator waits up to 5 s for leaders). */
const createKeyspaceDeadlineMs = 10_000;
/** Rebalance waits for one pass of the coordinator's controller, which may include a failover's waits. */
const rebalanceDeadlineMs = 15_000;
/** Deadline of a proxied SplitPartition (one fenced etcd transaction, like TransferLeader's write). */
const splitPartitionDeadlineMs = 10_000;
/** How long a created keyspace's answer waits for this router's view to show it. */
const createdViewWaitMs = 2_000;

/** Builds the Admin proxy; every call is counted and timed in `quire_router_admin_*` by method and result code. */
export function createAdminProxy(view: MetadataView, deadlineMs: number, deps: { readonly meter: Meter; readonly clock: Clock }): AdminServer & { close(): void } {
  const rpc = new RpcMetrics(deps.meter, 'router', 'admin');
  const clients = new Map<string, AdminClient>();
  const clientFor = (address: string): AdminClient => {
    let c = clients.get(address);
    if (c === undefined) {
      c = new AdminClient(address, clientCredentials(), grpcClientOptions);
      clients.set(address, c);
    }
    return c;
  };

  type Invoke<Req, Res> = (client: AdminClient, request: Req, deadline: Date, callback: (err: ServiceError | null, res: Res) => void) => void;

  /**
   * Sends one Admin call to the coordinator leader. `changesState` (TransferLeader): a failure
   * of the call after it was sent, which the coordinator did not answer itself, may have left the
   * change made, so it is AMBIGUOUS_RESULT rather than "coordinator unavailable" (docs/architecture.md,
   * "Did the operation take effect?").
   */
  async function forward<Req, Res>(request: Req, invoke: Invoke<Req, Res>, callDeadlineMs: number, changesState: boolean): Promise<Res> {
    let address = view.coordinatorLeader?.record.address;
    for (let attempt = 0; ; attempt++) {
      if (address === undefined || address === '') throw new CoordinatorUnavailableError('No coordinator leader is elected right now');
      const target = address;
      try {
        return await new Promise<Res>((resolve, reject) => {
          invoke(clientFor(target), request, new Date(Date.now() + callDeadlineMs), (err, res) => (err ? reject(err) : resolve(res)));
        });
      } catch (err) {
        const e: QuireError = fromGrpcError(err, `coordinator at ${target}`, changesState);
        // Only a NOT_LEADER about the coordinator (epoch 0, an address as the hint) is followed;
        // one about a partition (TransferLeader: epoch ≥ 1, a node id) is the answer.
        if (attempt === 0 && e.code === 'NOT_LEADER' && (e.details.epoch ?? 0) === 0 && e.details.leaderHint !== undefined && e.details.leaderHint !== target) {
          address = e.details.leaderHint;
          continue;
        }
        if (e.code === 'UNAVAILABLE') throw new CoordinatorUnavailableError(e.message, {}, { cause: e });
        throw e;
      }
    }
  }

  function handler<Req, Res>(method: string, invoke: Invoke<Req, Res>, callDeadlineMs = deadlineMs, changesState = false, answered: (res: Res) => Promise<unknown> = () => Promise.resolve()) {
    return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
      const startedMs = deps.clock.monotonicMs();
      forward(call.request, invoke, callDeadlineMs, changesState).then(async (res) => {
        await answered(res);
        return res;
      }).then(
        (res) => {
          rpc.record(method, 'OK', deps.clock.monotonicMs() - startedMs);
          callback(null, res);
        },
        (err: unknown) => {
          rpc.record(method, toQuireError(err).code, deps.clock.monotonicMs() - startedMs);
          callback(toGrpcStatus(err));
        },
      );
    };
  }

  return {
    clusterStatus: handler<ClusterStatusRequest, ClusterStatusResponse>('ClusterStatus', (c, req, deadline, cb) => c.clusterStatus(req, new Metadata(), { deadline }, cb)),
    getPartitionMap: handler<GetPartitionMapRequest, GetPartitionMapResponse>('GetPartitionMap', (c, req, deadline, cb) => c.getPartitionMap(req, new Metadata(), { deadline }, cb)),
    transferLeader: handler<TransferLeaderRequest, TransferLeaderResponse>(
      'TransferLeader',
      (c, req, deadline, cb) => c.transferLeader(req, new Metadata(), { deadline }, cb),
      Math.max(deadlineMs, transferLeaderDeadlineMs),
      true,
    ),
    createKeyspace: handler<CreateKeyspaceRequest, CreateKeyspaceResponse>(
      'CreateKeyspace',
      (c, req, deadline, cb) => c.createKeyspace(req, new Metadata(), { deadline }, cb),
      Math.max(deadlineMs, createKeyspaceDeadlineMs),
      true,
      (res) => waitForView(view, (v) => v.revision >= (res.map?.revision ?? 0), createdViewWaitMs),
    ),
    listKeyspaces: handler<ListKeyspacesRequest, ListKeyspacesResponse>('ListKeyspaces', (c, req, deadline, cb) => c.listKeyspaces(req, new Metadata(), { deadline }, cb)),
    dropKeyspace: handler<DropKeyspaceRequest, DropKeyspaceResponse>('DropKeyspace', (c, req, deadline, cb) => c.dropKeyspace(req, new Metadata(), { deadline }, cb), deadlineMs, true, (res) =>
      // Answer once this router's own view no longer shows the keyspace, so its next request finds it gone.
      waitForView(view, (v) => v.revision >= res.revision, createdViewWaitMs),
    ),
    forgetNode: handler<ForgetNodeRequest, ForgetNodeResponse>('ForgetNode', (c, req, deadline, cb) => c.forgetNode(req, new Metadata(), { deadline }, cb), deadlineMs, true),
    decommissionNode: handler<DecommissionNodeRequest, DecommissionNodeResponse>('DecommissionNode', (c, req, deadline, cb) => c.decommissionNode(req, new Metadata(), { deadline }, cb), deadlineMs, true),
    cancelDecommission: handler<CancelDecommissionRequest, CancelDecommissionResponse>('CancelDecommission', (c, req, deadline, cb) => c.cancelDecommission(req, new Metadata(), { deadline }, cb), deadlineMs, true),
    rebalance: handler<RebalanceRequest, RebalanceResponse>('Rebalance', (c, req, deadline, cb) => c.rebalance(req, new Metadata(), { deadline }, cb), Math.max(deadlineMs, rebalanceDeadlineMs), true),
    listMoves: handler<ListMovesRequest, ListMovesResponse>('ListMoves', (c, req, deadline, cb) => c.listMoves(req, new Metadata(), { deadline }, cb)),
    splitPartition: handler<SplitPartitionRequest, SplitPartitionResponse>(
      'SplitPartition',
      (c, req, deadline, cb) => c.splitPartition(req, new Metadata(), { deadline }, cb),
      Math.max(deadlineMs, splitPartitionDeadlineMs),
      true,
      // Answer once this router's own view shows the split, so its next request routes by the new ranges.
      (res) => waitForView(view, (v) => v.revision >= res.revision, createdViewWaitMs),
    ),
    close() {
      for (const c of clients.values()) c.close();
      clients.clear();
    },
  };
}
