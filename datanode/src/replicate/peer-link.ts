/**
 * PeerLink: the one long-lived Replication.Stream from this node (a leader) to one follower
 * node (RFC 0001 "Wire protocol"). It connects to the address the metadata view names for the
 * follower, reconnects with backoff when the stream ends, and reports every new stream so the
 * leader probes again (what was in flight on the old one is lost). It knows nothing about
 * partitions: the LeaderReplicator gives it messages and takes the answers.
 *
 * Invariants: at most one stream is open at a time; answers of an old stream are never
 * delivered after a new one opened; `send` is refused (returns false) while no stream is open
 * or the open one is not writable (HTTP/2 flow control), so a slow follower bounds what the
 * leader buffers.
 */
import type { ClientDuplexStream } from '@grpc/grpc-js';
import {
  ReplicationClient,
  type FollowerMessage,
  type LeaderMessage,
  type ReplicationStreamRequest,
  type ReplicationStreamResponse,
} from '@quire/proto';
import { clientCredentials, grpcClientOptions, type Logger } from '@quire/common';

/** What the link reports to its owner. */
export interface PeerLinkEvents {
  /** A new stream is open: the follower saw nothing of what the previous one carried. */
  connected(): void;
  /** The open stream failed or ended (not when this side closed it): the follower may be gone. */
  disconnected(): void;
  /** Answers from the follower. */
  messages(messages: readonly FollowerMessage[]): void;
  /** The stream can take more after a refused send. */
  writable(): void;
}

/** Reconnect backoff bounds. */
const backoffMinMs = 50;
const backoffMaxMs = 1_000;

/** One follower node's replication stream. */
export class PeerLink {
  private client: ReplicationClient | undefined;
  private clientAddress = '';
  private call: ClientDuplexStream<ReplicationStreamRequest, ReplicationStreamResponse> | undefined;
  private canWrite = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private backoffMs = backoffMinMs;
  private closed = false;
  private address: string | undefined;

  constructor(
    private readonly senderNodeId: string,
    readonly targetNodeId: string,
    private readonly events: PeerLinkEvents,
    private readonly log: Logger,
  ) {}

  /** Whether a stream is open and writable. */
  get ready(): boolean {
    return this.call !== undefined && this.canWrite;
  }

  /**
   * Sets the follower's address (undefined while it is not registered). A changed address ends
   * the current stream and connects to the new one.
   */
  setAddress(address: string | undefined): void {
    if (this.closed || address === this.address) return;
    this.address = address;
    this.endStream();
    if (address !== undefined) this.connect();
  }

  /** Sends one batch; false (nothing sent) when the stream is not ready. */
  send(messages: LeaderMessage[]): boolean {
    const call = this.call;
    if (call === undefined || !this.canWrite) return false;
    this.canWrite = call.write({ senderNodeId: this.senderNodeId, targetNodeId: this.targetNodeId, messages } satisfies ReplicationStreamRequest);
    return true;
  }

  /** Ends the stream and stops reconnecting. */
  close(): void {
    this.closed = true;
    this.endStream();
    this.client?.close();
    this.client = undefined;
  }

  private connect(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const address = this.address;
    if (this.closed || address === undefined || this.call !== undefined) return;
    if (this.client === undefined || this.clientAddress !== address) {
      this.client?.close();
      this.client = new ReplicationClient(address, clientCredentials(), grpcClientOptions);
      this.clientAddress = address;
    }
    const call = this.client.stream();
    this.call = call;
    this.canWrite = true;
    call.on('data', (response: ReplicationStreamResponse) => {
      if (this.call !== call) return;
      this.backoffMs = backoffMinMs;
      this.events.messages(response.messages);
    });
    call.on('drain', () => {
      if (this.call !== call) return;
      this.canWrite = true;
      this.events.writable();
    });
    const ended = (err: unknown): void => {
      if (this.call !== call) return;
      this.call = undefined;
      this.canWrite = false;
      this.log.debug('Replication stream ended; reconnecting', { follower: this.targetNodeId, address, err: String(err), backoffMs: this.backoffMs });
      this.scheduleReconnect();
      this.events.disconnected();
    };
    call.on('error', ended);
    call.on('end', () => ended('stream ended'));
    // The opening message names both ends, so the follower can check it is the intended target.
    this.canWrite = call.write({ senderNodeId: this.senderNodeId, targetNodeId: this.targetNodeId, messages: [] } satisfies ReplicationStreamRequest);
    this.events.connected();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.retryTimer !== undefined) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(backoffMaxMs, this.backoffMs * 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.connect();
    }, delay);
    this.retryTimer.unref();
  }

  private endStream(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const call = this.call;
    this.call = undefined;
    this.canWrite = false;
    if (call !== undefined) {
      call.on('error', () => undefined);
      call.cancel();
    }
  }
}
