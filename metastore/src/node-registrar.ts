/**
 * NodeRegistrar keeps a data node's registration in etcd: the key /quire/v1/nodes/<id> is
 * attached to a lease the registrar keeps alive, so the key disappears when the node stops
 * renewing it (crash, partition from etcd) and the coordinator sees the node as down. A lost
 * lease (etcd unreachable longer than the TTL) is replaced with a new one as soon as etcd
 * answers again. The node also records itself once under /quire/v1/known-nodes/<id>, which
 * has no lease: placement remembers nodes that are briefly down.
 */
import type { Lease } from 'etcd3';
import { KnownNode, NodeRegistration } from '@quire/proto';
import { knownNodeKey, nodeKey, type Logger } from '@quire/common';
import type { EtcdClient } from './connect.js';
import { retryUntilDone } from './retry.js';

/** Keeps one node's lease-bound registration alive. */
export class NodeRegistrar {
  private lease: Lease | undefined;
  private closed = false;
  private registered = false;

  constructor(
    private readonly etcd: EtcdClient,
    private readonly registration: NodeRegistration,
    private readonly leaseTtlSeconds: number,
    private readonly log: Logger,
    private readonly retryDelayMs = 500,
  ) {}

  /** Whether the registration currently holds a live lease. */
  get isRegistered(): boolean {
    return this.registered;
  }

  /** Registers, retrying until etcd answers. */
  async start(): Promise<void> {
    await retryUntilDone(() => this.registerOnce(), {
      log: this.log,
      what: 'register in etcd',
      delayMs: this.retryDelayMs,
      stopped: () => this.closed,
    });
  }

  private async registerOnce(): Promise<void> {
    const lease = this.etcd.lease(this.leaseTtlSeconds, { autoKeepAlive: true });
    lease.on('lost', (err) => {
      if (this.lease !== lease || this.closed) return;
      this.registered = false;
      this.lease = undefined;
      this.log.warn('Lost the registration lease; registering again', { err: String(err) });
      void this.start();
    });
    try {
      const { nodeId } = this.registration;
      const known = Buffer.from(KnownNode.encode({ nodeId, firstSeenMs: this.registration.startedAtMs }).finish());
      await this.etcd
        .if(knownNodeKey(nodeId), 'Create', '==', 0)
        .then(this.etcd.put(knownNodeKey(nodeId)).value(known))
        .commit();
      await lease.put(nodeKey(nodeId)).value(Buffer.from(NodeRegistration.encode(this.registration).finish())).exec();
    } catch (err) {
      lease.release();
      throw err;
    }
    if (this.closed) {
      await lease.revoke().catch(() => undefined);
      return;
    }
    this.lease = lease;
    this.registered = true;
    this.log.info('Registered in etcd', { leaseTtlSeconds: this.leaseTtlSeconds, address: this.registration.address });
  }

  /** Revokes the lease so the registration disappears at once (graceful stop). */
  async close(): Promise<void> {
    this.closed = true;
    const lease = this.lease;
    this.lease = undefined;
    this.registered = false;
    if (lease !== undefined) await lease.revoke().catch(() => lease.release());
  }
}
