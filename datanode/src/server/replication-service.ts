/**
 * The gRPC face of replication on a data node: quire.v1.internal.Replication (RFC 0001 "Wire
 * protocol"). Stream is the follower end of a leader node's replication stream: it checks the
 * stream's two ends, hands each message to the FollowerHandler and sends the answers back,
 * batched per event-loop turn. GetLogEnd reports one replica's log end for the coordinator.
 * HandOver runs a leadership hand-over (replicate/hand-over.ts) for the coordinator's
 * Admin.TransferLeader and answers once the transfer is written or has failed. Snapshot streams
 * one partition's consistent read to a follower that pulls it (replicate/snapshot-source.ts),
 * writing a part only when the previous one drained. GetFollowerProgress reports the followers
 * of every partition led here, for `quire status`.
 *
 * Stream rules kept here: one stream per sender (a newer one ends the older with CANCELLED and
 * its answers still due are dropped); a message naming another target node, a changed sender or
 * a malformed message ends the stream with INVALID_ARGUMENT; a stopping node ends it with
 * SHUTTING_DOWN.
 */
import { status, type sendUnaryData, type ServerDuplexStream, type ServerUnaryCall, type ServerWritableStream } from '@grpc/grpc-js';
import type {
  FollowerMessage,
  GetFollowerProgressRequest,
  GetFollowerProgressResponse,
  GetLogEndRequest,
  GetLogEndResponse,
  HandOverRequest,
  HandOverResponse,
  ReplicationServer,
  ReplicationStreamRequest,
  ReplicationStreamResponse,
  SnapshotRequest,
  SnapshotResponse,
} from '@quire/proto';
import { InvalidArgumentError, ShuttingDownError, toGrpcStatus, type Logger } from '@quire/common';
import { writeWithBackpressure } from '@quire/runtime';
import type { DataNode } from '../node.js';

/** Builds the Replication service implementation. */
export function createReplicationService(node: DataNode, nodeId: string, log: Logger): ReplicationServer {
  /** The open stream of each sender node. */
  const streams = new Map<string, ServerDuplexStream<ReplicationStreamRequest, ReplicationStreamResponse>>();

  return {
    stream(call: ServerDuplexStream<ReplicationStreamRequest, ReplicationStreamResponse>): void {
      let sender: string | undefined;
      let closed = false;
      let out: FollowerMessage[] = [];
      let flushScheduled = false;
      const fail = (err: unknown): void => {
        if (closed) return;
        closed = true;
        if (sender !== undefined && streams.get(sender) === call) streams.delete(sender);
        log.warn('Ending a replication stream', { sender, err: String(err) });
        call.emit('error', toGrpcStatus(err));
      };
      const answer = (message: FollowerMessage): void => {
        if (closed) return;
        out.push(message);
        if (flushScheduled) return;
        flushScheduled = true;
        setImmediate(() => {
          flushScheduled = false;
          if (closed || out.length === 0) return;
          const messages = out;
          out = [];
          call.write({ messages } satisfies ReplicationStreamResponse);
        });
      };
      call.on('data', (request: ReplicationStreamRequest) => {
        if (closed) return;
        try {
          if (node.isStopping) throw new ShuttingDownError(`Data node ${nodeId} is shutting down`);
          if (request.targetNodeId !== nodeId) {
            throw new InvalidArgumentError(`Replication stream meant for node "${request.targetNodeId}" reached node "${nodeId}"`, { field: 'target_node_id' });
          }
          if (sender === undefined) {
            if (request.senderNodeId === '') throw new InvalidArgumentError('Replication stream names no sender', { field: 'sender_node_id' });
            sender = request.senderNodeId;
            const older = streams.get(sender);
            streams.set(sender, call);
            if (older !== undefined) older.emit('error', { code: status.CANCELLED, details: `A newer replication stream from ${sender} replaced this one` });
          } else if (request.senderNodeId !== sender) {
            throw new InvalidArgumentError(`Replication stream sender changed from "${sender}" to "${request.senderNodeId}"`, { field: 'sender_node_id' });
          }
          if (streams.get(sender) !== call) {
            // Replaced by a newer stream from the same sender: drop what is still due here.
            closed = true;
            return;
          }
          for (const message of request.messages) node.follower.handle(sender, message, answer);
        } catch (err) {
          fail(err);
        }
      });
      call.on('end', () => {
        closed = true;
        if (sender !== undefined && streams.get(sender) === call) streams.delete(sender);
        call.end();
      });
      call.on('error', () => {
        closed = true;
        if (sender !== undefined && streams.get(sender) === call) streams.delete(sender);
      });
      call.on('cancelled', () => {
        closed = true;
        if (sender !== undefined && streams.get(sender) === call) streams.delete(sender);
      });
    },

    getLogEnd(call: ServerUnaryCall<GetLogEndRequest, GetLogEndResponse>, callback: sendUnaryData<GetLogEndResponse>): void {
      try {
        const { keyspace, partitionId } = call.request;
        if (keyspace === '') throw new InvalidArgumentError('keyspace is empty (internal requests name it)', { field: 'keyspace' });
        callback(null, node.logEnd(keyspace, partitionId));
      } catch (err) {
        callback(toGrpcStatus(err));
      }
    },

    getFollowerProgress(_call: ServerUnaryCall<GetFollowerProgressRequest, GetFollowerProgressResponse>, callback: sendUnaryData<GetFollowerProgressResponse>): void {
      try {
        if (node.isStopping) throw new ShuttingDownError(`Data node ${nodeId} is shutting down`);
        callback(null, { partitions: node.followerProgress() });
      } catch (err) {
        callback(toGrpcStatus(err));
      }
    },

    handOver(call: ServerUnaryCall<HandOverRequest, HandOverResponse>, callback: sendUnaryData<HandOverResponse>): void {
      try {
        const { keyspace, targetNodeId } = call.request;
        if (node.isStopping) throw new ShuttingDownError(`Data node ${nodeId} is shutting down`);
        if (keyspace === '') throw new InvalidArgumentError('keyspace is empty (internal requests name it)', { field: 'keyspace' });
        if (targetNodeId === '') throw new InvalidArgumentError('HandOver needs the target node id', { field: 'target_node_id' });
        node.handOvers.handOver(call.request).then(
          (response) => callback(null, response),
          (err: unknown) => callback(toGrpcStatus(err)),
        );
      } catch (err) {
        callback(toGrpcStatus(err));
      }
    },

    snapshot(call: ServerWritableStream<SnapshotRequest, SnapshotResponse>): void {
      const fail = (err: unknown): void => {
        if (call.cancelled) return;
        log.info('Refused or ended a snapshot pull', { requester: call.request.requesterNodeId, keyspace: call.request.keyspace, partitionId: call.request.partitionId, err: String(err) });
        call.emit('error', toGrpcStatus(err));
      };
      if (node.isStopping) {
        fail(new ShuttingDownError(`Data node ${nodeId} is shutting down`));
        return;
      }
      // The follower's deadline bounds the read transaction (the source caps it too).
      const deadline = call.getDeadline();
      const deadlineAtMs = deadline instanceof Date ? deadline.getTime() : deadline;
      const deadlineMs = Number.isFinite(deadlineAtMs) ? Math.max(0, deadlineAtMs - Date.now()) : Number.POSITIVE_INFINITY;
      node.snapshots.serve(call.request, (part) => writeWithBackpressure(call, part), () => call.cancelled, deadlineMs).then(() => {
        if (!call.cancelled) call.end();
      }, fail);
    },
  };
}
