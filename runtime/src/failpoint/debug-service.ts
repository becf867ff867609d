/**
 * The internal Debug service (quire.v1.internal.Debug): arms and lists a process's failpoints
 * at runtime. Every component's main.ts registers it only when started with
 * --failpoints-admin, so without that flag the service does not exist and grpc-js answers
 * every call UNIMPLEMENTED: a production process cannot be armed remotely.
 */
import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import type {
  DebugServer,
  FailpointStatus,
  ListFailpointsRequest,
  ListFailpointsResponse,
  SetFailpointsRequest,
  SetFailpointsResponse,
} from '@quire/proto';
import { toGrpcStatus, type ArmedFailpoint, type Failpoints } from '@quire/common';

function toStatus(f: ArmedFailpoint): FailpointStatus {
  return { name: f.name, term: f.term, hits: f.hits, fired: f.fired };
}

/** Builds the Debug service implementation over a process's failpoints. */
export function createDebugService(failpoints: Failpoints): DebugServer {
  return {
    setFailpoints(call: ServerUnaryCall<SetFailpointsRequest, SetFailpointsResponse>, callback: sendUnaryData<SetFailpointsResponse>): void {
      try {
        const armed = failpoints.set(call.request.spec, { replace: call.request.replace });
        callback(null, { failpoints: armed.map(toStatus) });
      } catch (err) {
        callback(toGrpcStatus(err));
      }
    },
    listFailpoints(_call: ServerUnaryCall<ListFailpointsRequest, ListFailpointsResponse>, callback: sendUnaryData<ListFailpointsResponse>): void {
      callback(null, { failpoints: failpoints.list().map(toStatus) });
    },
  };
}
