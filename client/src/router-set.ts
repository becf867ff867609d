/**
 * RouterSet: the client's connections to its routers, one gRPC channel and one multiplexed
 * operation stream per router entry, all kept connected, and the choice of which one carries
 * the next attempt of an operation.
 *
 * Every channel uses grpc-js's round_robin policy, which connects to every address its target
 * resolves to and keeps reconnecting them: a DNS name with several A records is several routers
 * behind one entry, and a new stream goes to one that is connected. Each channel is watched: it
 * is asked to connect whenever it goes idle (so standby routers are connected before they are
 * needed), a router whose channel stops being READY has its unsent operations failed at once
 * (they go to another router instead of waiting out the connect timeout), and callers waiting
 * for a router wake up when one becomes READY.
 *
 * Invariants:
 *  - An attempt is only ever given a router whose channel is READY (ready() waits, bounded by
 *    the caller's deadline, and returns undefined rather than an unconnected router), so an
 *    operation is never queued behind a dead router's connect timeout.
 *  - The preferred router is kept until it fails (stream broken, channel not READY), then the
 *    next READY one in list order takes over; a router that failed is avoided for
 *    routerSuspectMs unless its channel reconnects or no other router is READY.
 *  - Bounded: one channel and one stream per entry (at most routerTargetsMax), waiters at most
 *    one per operation in flight (the client bounds those).
 */
import { connectivityState } from '@grpc/grpc-js';
import { AdminClient, KVClient, type Operation, type OperationResult, type StreamRequest, type StreamResponse } from '@quire/proto';
import { MultiplexedStream, clientCredentials, grpcClientOptions, operationPayloadBytes, type Clock, type QuireError, type TimerHandle } from '@quire/common';

/**
 * What one attempt of an operation came back with: the router's answer (`result`, an ErrorInfo
 * included), or `local`, an error raised here without an answer (never sent, stream lost,
 * deadline passed, too many in flight, closed).
 */
export interface AttemptResult {
  readonly id: number;
  readonly result?: OperationResult['result'];
  readonly local?: QuireError;
}

/** One router entry: its channel, Admin client and operation stream. */
export interface RouterConnection {
  /** The entry as the caller gave it (host:port or a gRPC target name). */
  readonly target: string;
  readonly kv: KVClient;
  readonly admin: AdminClient;
  readonly stream: MultiplexedStream<Operation, AttemptResult, StreamRequest, StreamResponse>;
}

/** Settings of a RouterSet. */
export interface RouterSetSettings {
  /** Most operations in flight per router stream. */
  readonly opsInFlightMax: number;
  /** How long an operation may wait for a stream's connection once its router was chosen. */
  readonly connectTimeoutMs: number;
  /** Operations per stream message. */
  readonly batchOpsMax: number;
  /** How often each stream checks deadlines. */
  readonly deadlineCheckIntervalMs: number;
  /** How long a router that failed is passed over while another is READY. */
  readonly routerSuspectMs: number;
}

/** Channel options of every router channel: the shared ones, round_robin over the target's addresses. */
export const routerChannelOptions = Object.freeze({
  ...grpcClientOptions,
  'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
  // The policy is ours: never one from a DNS TXT record.
  'grpc.service_config_disable_resolution': 1,
});

interface RouterState {
  readonly connection: RouterConnection;
  state: connectivityState;
  /** Until when (monotonic ms) this router is passed over after a failure; 0: not suspect. */
  suspectUntilMs: number;
}

interface Waiter {
  readonly resolve: (router: RouterConnection | undefined) => void;
  readonly timer: TimerHandle;
}

/** The routers of one client. */
export class RouterSet {
  private readonly routers: RouterState[];
  private preferred: number;
  private readonly waiters = new Set<Waiter>();
  private closed = false;

  /**
   * @param targets validated router entries (routerTargetsOf)
   * @param firstPreferred index of the router to prefer first (the client picks it at random, to spread clients over routers)
   */
  constructor(
    targets: readonly string[],
    private readonly settings: RouterSetSettings,
    private readonly clock: Clock,
    firstPreferred: number,
  ) {
    this.preferred = firstPreferred % targets.length;
    this.routers = targets.map((target) => this.connect(target));
    for (const r of this.routers) this.watch(r);
  }

  private connect(target: string): RouterState {
    const kv = new KVClient(target, clientCredentials(), routerChannelOptions);
    // The Admin client shares the KV client's channel.
    const admin = new AdminClient(target, clientCredentials(), { ...routerChannelOptions, channelOverride: kv.getChannel() });
    const stream = new MultiplexedStream<Operation, AttemptResult, StreamRequest, StreamResponse>(
      {
        waitForReady: (deadline, callback) => kv.waitForReady(deadline, callback),
        openStream: () => kv.stream(),
        connectivityState: () => kv.getChannel().getConnectivityState(false),
      },
      {
        request: (operations) => ({ operations }),
        results: (response) => response.results,
        error: (id, local) => ({ id, local }),
        payloadBytes: operationPayloadBytes,
      },
      {
        peer: `router at ${target}`,
        connectTimeoutMs: this.settings.connectTimeoutMs,
        opsInFlightMax: this.settings.opsInFlightMax,
        batchOpsMax: this.settings.batchOpsMax,
        deadlineCheckIntervalMs: this.settings.deadlineCheckIntervalMs,
      },
      this.clock,
      () => this.failed(connection),
    );
    const connection: RouterConnection = { target, kv, admin, stream };
    return { connection, state: connectivityState.IDLE, suspectUntilMs: 0 };
  }

  /** The router entries, in the order given. */
  get targets(): string[] {
    return this.routers.map((r) => r.connection.target);
  }

  /** The router entry new operations go to while it works. */
  get preferredTarget(): string {
    return (this.routers[this.preferred] as RouterState).connection.target;
  }

  /** Operations in flight on every router stream. */
  get inFlight(): number {
    return this.routers.reduce((n, r) => n + r.connection.stream.inFlight, 0);
  }

  /** Asks the channel to connect when idle, and watches it for the next change. */
  private watch(r: RouterState): void {
    if (this.closed) return;
    const channel = r.connection.kv.getChannel();
    const state = channel.getConnectivityState(true);
    this.changed(r, state);
    if (state === connectivityState.SHUTDOWN) return;
    // No deadline: a watcher without one holds no timer, and fires on the next change
    // (SHUTDOWN when the client closes).
    channel.watchConnectivityState(state, Infinity, () => this.watch(r));
  }

  private changed(r: RouterState, state: connectivityState): void {
    const was = r.state;
    r.state = state;
    if (state === was) return;
    if (state === connectivityState.READY) {
      r.suspectUntilMs = 0;
      this.wake();
    } else if (was === connectivityState.READY) {
      // The connection went away: what has not left yet goes to another router now.
      this.failed(r.connection);
    }
  }

  /**
   * Records that `router` failed an operation (its stream broke, it could not be reached):
   * it is passed over for a while, and its operations not yet sent fail with UNAVAILABLE so
   * their callers send them elsewhere.
   */
  failed(router: RouterConnection): void {
    const i = this.routers.findIndex((r) => r.connection === router);
    const r = this.routers[i];
    if (r === undefined || this.closed) return;
    r.suspectUntilMs = this.clock.monotonicMs() + this.settings.routerSuspectMs;
    r.connection.stream.failUnsent('the connection was lost');
    if (this.preferred === i) {
      const next = this.pick();
      if (next !== undefined) this.preferred = next;
    }
  }

  /** Index of the router to use now: the preferred one if READY and trusted, else the next READY trusted one, else any READY one. */
  private pick(): number | undefined {
    const now = this.clock.monotonicMs();
    const n = this.routers.length;
    let fallback: number | undefined;
    for (let k = 0; k < n; k++) {
      const i = (this.preferred + k) % n;
      const r = this.routers[i] as RouterState;
      if (r.state !== connectivityState.READY) continue;
      if (r.suspectUntilMs <= now) return i;
      fallback ??= i;
    }
    return fallback;
  }

  /**
   * Resolves with a router whose channel is READY, the preferred one when it is: at once, or
   * when one connects, or undefined at `deadlineMs` (monotonic) or when the set closes.
   */
  async ready(deadlineMs: number): Promise<RouterConnection | undefined> {
    const now = this.take();
    const waitMs = deadlineMs - this.clock.monotonicMs();
    if (now !== undefined || this.closed || waitMs <= 0) return now;
    return new Promise((resolve) => {
      // A referenced timer, unlike the clock's: a caller waiting for a router keeps the
      // process alive, as grpc-js's own waitForReady does.
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        resolve(undefined);
      }, waitMs);
      const waiter: Waiter = { resolve, timer: { cancel: () => clearTimeout(timer) } };
      this.waiters.add(waiter);
    });
  }

  private take(): RouterConnection | undefined {
    if (this.closed) return undefined;
    const i = this.pick();
    if (i === undefined) return undefined;
    this.preferred = i;
    return (this.routers[i] as RouterState).connection;
  }

  private wake(): void {
    for (const waiter of this.waiters) {
      const router = this.take();
      if (router === undefined) return;
      this.waiters.delete(waiter);
      waiter.timer.cancel();
      waiter.resolve(router);
    }
  }

  /**
   * Whether every router's channel is in TRANSIENT_FAILURE: its last connection attempts failed
   * (round_robin keeps that state until an address connects), so no router is known to be up.
   */
  everyRouterFailing(): boolean {
    return this.routers.every((r) => r.state === connectivityState.TRANSIENT_FAILURE);
  }

  /** Every router's channel state (with its target unless `withTargets` is false), for error messages. */
  describe(withTargets = true): string {
    return this.routers.map((r) => `${withTargets ? `${r.connection.target} ` : ''}${connectivityState[r.state].toLowerCase()}`).join(', ');
  }

  /** Closes every stream and channel; operations in flight fail, waiters get undefined. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const waiter of this.waiters) {
      waiter.timer.cancel();
      waiter.resolve(undefined);
    }
    this.waiters.clear();
    for (const r of this.routers) {
      r.connection.stream.close();
      r.connection.kv.close();
    }
  }
}
