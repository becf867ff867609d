/**
 * Connections from the router to data nodes: one multiplexed DataNode.Stream per node (see
 * MultiplexedStream for how delivery decides between UNAVAILABLE and AMBIGUOUS_RESULT), and
 * the gRPC client for per-partition scans. A pool keeps one per address and drops those whose
 * address no registered node uses any more.
 */
import { DataNodeClient, type DataNodeStreamRequest, type DataNodeStreamResponse, type NodeOperation, type OperationResult } from '@quire/proto';
import { clientCredentials, createOperationStream, grpcClientOptions, type Clock, type Logger, type MultiplexedStream } from '@quire/common';

/** Limits of one node connection. */
export interface NodeConnectionSettings {
  /** How long an operation may wait for the connection to become ready. */
  readonly connectTimeoutMs: number;
  /** Most unanswered operations on this connection. */
  readonly opsInFlightMax: number;
  /** Most operations per stream message. */
  readonly batchOpsMax: number;
}

/** One data node's client and multiplexed stream. */
export class NodeConnection {
  readonly client: DataNodeClient;
  readonly stream: MultiplexedStream<NodeOperation, OperationResult, DataNodeStreamRequest, DataNodeStreamResponse>;

  constructor(
    readonly address: string,
    settings: NodeConnectionSettings,
    clock: Clock,
    log: Logger,
  ) {
    const client = new DataNodeClient(address, clientCredentials(), grpcClientOptions);
    this.client = client;
    this.stream = createOperationStream(
      client,
      { peer: `data node at ${address}`, deadlineCheckIntervalMs: 100, ...settings },
      clock,
      (inFlightLost, err) => log.warn('Stream to data node failed', { address, inFlightLost, err: String(err) }),
    );
  }

  /** Sends one operation; resolves with its result, never rejects. */
  send(op: Omit<NodeOperation, 'id'>, write: boolean, deadlineMs: number): Promise<OperationResult> {
    return this.stream.send(op, write, deadlineMs);
  }

  /** Closes the stream and the channel. */
  close(): void {
    this.stream.close();
    this.client.close();
  }
}

/** NodeConnections by address. */
export class NodePool {
  private readonly connections = new Map<string, NodeConnection>();

  constructor(
    private readonly settings: NodeConnectionSettings,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /** Returns the connection to `address`, creating it on first use. */
  get(address: string): NodeConnection {
    let c = this.connections.get(address);
    if (c === undefined) {
      c = new NodeConnection(address, this.settings, this.clock, this.log);
      this.connections.set(address, c);
    }
    return c;
  }

  /**
   * Closes idle connections to addresses no registered node uses any more. On a busy one, the
   * operations still waiting to be sent fail at once with UNAVAILABLE (they never happened), so
   * the router routes them to the partition's next leader instead of waiting for a dead node's
   * connection; those already sent keep their answer or deadline.
   */
  retain(addresses: ReadonlySet<string>): void {
    for (const [address, c] of this.connections) {
      if (addresses.has(address)) continue;
      if (c.stream.inFlight === 0) {
        c.close();
        this.connections.delete(address);
      } else {
        c.stream.failUnsent(`no registered node has the address ${address} any more`);
      }
    }
  }

  /** Closes every connection. */
  close(): void {
    for (const c of this.connections.values()) c.close();
    this.connections.clear();
  }
}
