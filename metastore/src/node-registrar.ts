/**
 * NodeRegistrar keeps a data node's registration in etcd: the key /quire/v1/nodes/<id> is
 * attached to a lease the registrar keeps alive, so the key disappears when the node stops
 * renewing it (crash, partition from etcd) and the coordinator sees the node as down. A lost
 * lease (etcd unreachable longer than the TTL) is replaced with a new one as soon as etcd
 * answers again. The node also records itself once under /quire/v1/known-nodes/<id>, which
 * has no lease, so ClusterStatus still lists a node that is down.
 */
import type { Lease } from 'etcd3';
import { KnownNode, NodeRegistration } from '@quire/proto';
import { knownNodeKey, nodeKey, type Logger } from '@quire/common';
import type { EtcdClient } from './connect.js';
import { retryUntilDone } from './retry.js';

/**
 * Clock rates of any two machines differ by less than this fraction (RFC 0001 "Leader leases").
 * The lease is believed for TTL × (1 − ρ) after a keep-alive was sent.
 */
export const clockRateDriftMax = 0.01;
/** Safety margin subtracted from every lease expiry, in milliseconds. */
export const leaseMarginMs = 100;

/** Keeps one node's lease-bound registration alive. */
export class NodeRegistrar {
  private lease: Lease | undefined;
  private closed = false;
  private registered = false;
  /** Monotonic send times of keep-alives not yet answered, oldest first. */
  private fired: number[] = [];
  private heldUntil = 0;
  private revision = 0;

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

  /**
   * Until when (monotonic ms, performance.now()) etcd provably keeps the lease: the send time of
   * the last answered keep-alive plus TTL × (1 − ρ) − margin. etcd expires a lease no sooner
   * than TTL after it *received* a keep-alive, which is after it was sent; so while this holds,
   * the registration exists and no coordinator can have failed this node's partitions over.
   * 0 when the lease is lost or not yet renewed.
   */
  get leaseHeldUntilMs(): number {
    return this.heldUntil;
  }

  /** The etcd revision at which the current registration was written (0 when not registered). */
  get registrationRevision(): number {
    return this.revision;
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
    const ttlMs = this.leaseTtlSeconds * 1000;
    lease.on('keepaliveEstablished', () => {
      // A new keep-alive stream: answers to keep-alives sent on the old one never come.
      if (this.lease === lease || this.lease === undefined) this.fired = [];
    });
    lease.on('keepaliveFired', () => {
      if (this.lease === lease || this.lease === undefined) this.fired.push(performance.now());
    });
    lease.on('keepaliveSucceeded', (res: { TTL?: string | number }) => {
      const sentAt = this.fired.shift();
      if (sentAt === undefined || (this.lease !== lease && this.lease !== undefined)) return;
      const granted = Number(res.TTL ?? this.leaseTtlSeconds) * 1000;
      this.heldUntil = Math.max(this.heldUntil, sentAt + Math.min(granted, ttlMs) * (1 - clockRateDriftMax) - leaseMarginMs);
    });
    lease.on('lost', (err) => {
      if (this.lease !== lease || this.closed) return;
      this.registered = false;
      this.heldUntil = 0;
      this.revision = 0;
      this.fired = [];
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
      const put = await lease.put(nodeKey(nodeId)).value(Buffer.from(NodeRegistration.encode(this.registration).finish())).exec();
      this.revision = Number(put.header.revision);
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
    this.heldUntil = 0;
    if (lease !== undefined) await lease.revoke().catch(() => lease.release());
  }
}
