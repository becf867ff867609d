/**
 * A userspace TCP fault proxy for the chaos harness (§6.4 of the reliability test plan; the
 * idea of TigerBeetle's Vortex "faulty network"). The kernel here has no netem, so delay,
 * stall, reset and half-open faults come from a proxy on each directed link: a FaultProxy
 * listens on one address and forwards every accepted connection to one target. Faults are
 * set and cleared at run time while connections are open, and every change is recorded in
 * `events` for the nemesis log.
 *
 * Each connection has two pipes, one per direction (`toTarget`: client → target, `toClient`:
 * target → client). A pipe reads chunks from its source socket into an ordered queue and
 * delivers them to its sink socket when they are due, the link is not stalled, the token
 * bucket (if any) allows, and the sink is not pushing back.
 *
 * Invariants:
 *  - FIFO per direction: a chunk is never delivered before an earlier chunk of the same pipe
 *    (a delayed chunk's due time is at least its predecessor's).
 *  - Bounded memory: a pipe pauses its source as soon as it holds more than `bufferedBytesMax`
 *    bytes (its queue plus the sink socket's unflushed buffer), and resumes it only once it holds
 *    at most that, so a pipe never holds more than bufferedBytesMax plus one chunk (one socket
 *    read), whether the link is stalled or the consumer is slow.
 *  - No stream with a hole: once a pipe has discarded bytes or a FIN (blackhole, halfOpen), it
 *    never delivers anything again. TCP never delivers a byte stream with a gap, and a gRPC peer
 *    reading one would misframe. When the dropping fault is cleared, such connections are reset
 *    (as a long partition would have killed them); new connections work normally.
 *  - Limits on everything: connections (`connectionsMax`), queued bytes, recorded events
 *    (`eventsMax`, oldest dropped first and counted), delays (`delayMsMax`).
 * Time and jitter come from an injected Clock and Rng, so a seeded run draws the same jitter.
 */
import net from 'node:net';
import { assert, seededRng, silentLogger, systemClock, unreachable, type Clock, type Logger, type Rng, type TimerHandle } from '@quire/common';

/** A direction of a proxied connection. */
export type Direction = 'toTarget' | 'toClient';

/** The two directions, in a fixed order. */
export const directions: readonly Direction[] = Object.freeze(['toTarget', 'toClient']);

/** A fault that can be applied to a link. */
export type Fault =
  | { readonly kind: 'delay'; readonly meanMs: number; readonly jitterMs: number }
  | { readonly kind: 'stall' }
  | { readonly kind: 'blackhole' }
  | { readonly kind: 'reset'; readonly refuse?: boolean }
  | { readonly kind: 'halfOpen'; readonly direction: Direction }
  | { readonly kind: 'bandwidth'; readonly bytesPerSecond: number };

/** A fault that stays in force until cleared (`reset` acts once; its `refuse` part stays). */
export type StandingFault = 'delay' | 'stall' | 'blackhole' | 'refuse' | 'halfOpen' | 'bandwidth';

/** One entry of the nemesis record. */
export interface FaultEvent {
  /** Wall-clock time (Clock.nowMs) the change was applied, to line up with the history. */
  readonly timeMs: number;
  readonly link: string;
  /** The fault applied, or `unstall` / `clear` / `heal`. */
  readonly fault: Fault['kind'] | 'unstall' | 'clear' | 'heal';
  readonly params: Readonly<Record<string, number | string | boolean>>;
}

/** The faults in force on a link. */
export interface FaultState {
  readonly delay: { readonly meanMs: number; readonly jitterMs: number } | null;
  readonly stalled: boolean;
  readonly blackholed: boolean;
  readonly refusing: boolean;
  readonly halfOpen: readonly Direction[];
  readonly bandwidthBytesPerSecond: number | null;
}

/** Byte counters of one direction, summed over all connections of a proxy. */
export interface DirectionStats {
  /** Bytes read from the source sockets. */
  readonly received: number;
  /** Bytes written to the sink sockets. */
  readonly delivered: number;
  /** Bytes discarded (blackhole, halfOpen, a closed sink, or a queue flushed by a fault). */
  readonly dropped: number;
}

/** Counters of a proxy. */
export interface ProxyStats {
  readonly connectionsAccepted: number;
  readonly connectionsOpen: number;
  /** Connections reset by reset() or because a dropping fault left a hole in their stream. */
  readonly connectionsReset: number;
  /** Connections reset on accept while `refuse` was set. */
  readonly connectionsRefused: number;
  /** Connections reset on accept because connectionsMax were open. */
  readonly connectionsRejected: number;
  /** Connections whose target could not be reached (the client is reset). */
  readonly targetConnectFailures: number;
  /** Socket errors seen on either side (each is propagated to the other side as a reset). */
  readonly socketErrors: number;
  readonly toTarget: DirectionStats;
  readonly toClient: DirectionStats;
  /**
   * Bytes the proxy holds now, over all pipes: queued, or written to a sink socket and not yet
   * taken by the kernel.
   */
  readonly bytesQueued: number;
  /** The most bytes any single pipe ever held (at most bufferedBytesMax plus one chunk). */
  readonly bytesQueuedPeak: number;
  /** Times a pipe paused its source because it held more than bufferedBytesMax (the limit was hit). */
  readonly sourcePauses: number;
  /** Events dropped from the front of `events` because eventsMax was reached. */
  readonly eventsDropped: number;
}

/** Limits and injected dependencies of a proxy. */
export interface FaultProxyOptions {
  /** Name used in events and logs, e.g. "n1->n2". */
  readonly name: string;
  readonly listenHost: string;
  /** 0 picks a free port; read it back from `port`. */
  readonly listenPort: number;
  readonly targetHost: string;
  readonly targetPort: number;
  /** Random source for delay jitter; pass a seeded one for reproducible runs. */
  readonly rng: Rng;
  readonly clock?: Clock;
  readonly log?: Logger;
  /** Queued bytes per pipe above which the source socket is paused. */
  readonly bufferedBytesMax?: number;
  readonly connectionsMax?: number;
  readonly eventsMax?: number;
  /** Largest meanMs + jitterMs a delay may have. */
  readonly delayMsMax?: number;
  /** Token-bucket depth, in milliseconds of traffic at the configured bandwidth. */
  readonly bandwidthBurstMs?: number;
}

interface Limits {
  readonly bufferedBytesMax: number;
  readonly connectionsMax: number;
  readonly eventsMax: number;
  readonly delayMsMax: number;
  readonly bandwidthBurstMs: number;
}

/** Default limits of a proxy. */
export const faultProxyDefaults: Limits = Object.freeze({
  bufferedBytesMax: 1024 * 1024,
  connectionsMax: 256,
  eventsMax: 10_000,
  delayMsMax: 60_000,
  bandwidthBurstMs: 50,
});

interface MutableDirectionStats {
  received: number;
  delivered: number;
  dropped: number;
}

/** A token bucket; `take` grants bytes only once a whole quantum is available, to avoid dribbles. */
class TokenBucket {
  private tokens: number;
  private refilledAtMs: number;

  constructor(
    private readonly bytesPerSecond: number,
    private readonly capacityBytes: number,
    private readonly clock: Clock,
  ) {
    this.tokens = capacityBytes;
    this.refilledAtMs = clock.monotonicMs();
  }

  /** Returns how many of `wantBytes` may be sent now (0 means wait `waitMs`). */
  take(wantBytes: number): number {
    this.refill();
    if (this.tokens < Math.min(wantBytes, this.capacityBytes)) return 0;
    const granted = Math.min(wantBytes, Math.floor(this.tokens));
    this.tokens -= granted;
    return granted;
  }

  /** Returns the milliseconds until `take(wantBytes)` grants something. */
  waitMs(wantBytes: number): number {
    this.refill();
    const missing = Math.min(wantBytes, this.capacityBytes) - this.tokens;
    return Math.max(1, Math.ceil((missing * 1000) / this.bytesPerSecond));
  }

  private refill(): void {
    const now = this.clock.monotonicMs();
    this.tokens = Math.min(this.capacityBytes, this.tokens + ((now - this.refilledAtMs) * this.bytesPerSecond) / 1000);
    this.refilledAtMs = now;
  }
}

/** The fault state and counters of one proxy, shared by its pipes. */
class Link {
  delay: { meanMs: number; jitterMs: number } | null = null;
  stalled = false;
  blackholed = false;
  refusing = false;
  readonly halfOpen = new Set<Direction>();
  bandwidthBytesPerSecond: number | null = null;
  buckets: Record<Direction, TokenBucket> | null = null;
  readonly bytes: Record<Direction, MutableDirectionStats> = {
    toTarget: { received: 0, delivered: 0, dropped: 0 },
    toClient: { received: 0, delivered: 0, dropped: 0 },
  };
  bytesHeldPeak = 0;
  /** Times a pipe paused its source because it held more than bufferedBytesMax. */
  sourcePauses = 0;

  constructor(
    readonly clock: Clock,
    readonly rng: Rng,
    readonly limits: Limits,
    readonly log: Logger,
  ) {}

  isDropping(direction: Direction): boolean {
    return this.blackholed || this.halfOpen.has(direction);
  }

  /** Draws one chunk's delay: meanMs ± uniform jitter, never negative. */
  sampleDelayMs(): number {
    if (this.delay === null) return 0;
    const { meanMs, jitterMs } = this.delay;
    return Math.max(0, meanMs + (this.rng.next() * 2 - 1) * jitterMs);
  }
}

interface Chunk {
  data: Buffer;
  dueMs: number;
}

/** One direction of a connection: an ordered, bounded queue from a source to a sink socket. */
class Pipe {
  private chunks: Chunk[] = [];
  private head = 0;
  private timer: TimerHandle | null = null;
  private sourceEnded = false;
  private sinkEnded = false;
  private waitingForDrain = false;
  private pausedForBuffer = false;
  /** The sink is closed: everything for it is discarded. */
  private sinkGone = false;
  bytesQueued = 0;
  /** Bytes or a FIN were discarded: this stream has a hole and may never deliver again. */
  holed = false;

  constructor(
    readonly direction: Direction,
    private readonly source: net.Socket,
    private readonly sink: net.Socket,
    private readonly link: Link,
  ) {
    source.on('data', (data: Buffer) => this.onData(data));
    source.on('end', () => this.onEnd());
    sink.on('drain', () => {
      this.waitingForDrain = false;
      this.pump();
    });
    sink.on('close', () => this.onSinkClose());
  }

  private get stats(): MutableDirectionStats {
    return this.link.bytes[this.direction];
  }

  private onData(data: Buffer): void {
    this.stats.received += data.length;
    if (this.sinkGone || this.holed || this.link.isDropping(this.direction)) {
      this.stats.dropped += data.length;
      if (!this.sinkGone) this.holed = true;
      return;
    }
    // Only the head of the queue is ever delivered, so a chunk drawn a shorter delay than its
    // predecessor waits for it: FIFO holds by construction.
    this.chunks.push({ data, dueMs: this.link.clock.monotonicMs() + this.link.sampleDelayMs() });
    this.bytesQueued += data.length;
    const bytesHeld = this.bytesHeld();
    this.link.bytesHeldPeak = Math.max(this.link.bytesHeldPeak, bytesHeld);
    if (bytesHeld > this.link.limits.bufferedBytesMax && !this.pausedForBuffer) {
      this.pausedForBuffer = true;
      this.link.sourcePauses++;
      this.source.pause();
    }
    this.pump();
  }

  private onEnd(): void {
    if (this.sinkGone) return;
    if (this.holed || this.link.isDropping(this.direction)) {
      this.holed = true;
      return;
    }
    this.sourceEnded = true;
    this.pump();
  }

  private onSinkClose(): void {
    this.sinkGone = true;
    this.discardQueued();
  }

  /** Drops everything queued (the pipe is being blackholed or its sink is gone). */
  discardQueued(): void {
    this.cancelTimer();
    if (this.bytesQueued > 0 || (this.sourceEnded && !this.sinkEnded)) {
      if (!this.sinkGone) this.holed = true;
      // A FIN queued behind the discarded bytes is lost with them.
      this.sourceEnded = false;
    }
    this.stats.dropped += this.bytesQueued;
    this.chunks = [];
    this.head = 0;
    this.bytesQueued = 0;
    this.resumeSource();
  }

  /** Makes every queued chunk due now (the delay was cleared), keeping their order. */
  makeQueuedDue(): void {
    for (let i = this.head; i < this.chunks.length; i++) {
      const chunk = this.chunks[i];
      assert(chunk !== undefined, 'Queued chunk missing');
      chunk.dueMs = 0;
    }
  }

  /** Re-evaluates delivery at once, e.g. after a fault was cleared. */
  reschedule(): void {
    this.cancelTimer();
    this.pump();
  }

  cancelTimer(): void {
    if (this.timer !== null) {
      this.timer.cancel();
      this.timer = null;
    }
  }

  /** Delivers every chunk that may go now, in order; schedules a wake-up for the rest. */
  private pump(): void {
    for (;;) {
      if (this.holed || this.sinkGone || this.waitingForDrain || this.timer !== null || this.link.stalled) return;
      if (this.head === this.chunks.length) {
        if (this.sourceEnded && !this.sinkEnded) {
          this.sinkEnded = true;
          this.sink.end();
        }
        return;
      }
      const chunk = this.chunks[this.head];
      assert(chunk !== undefined, 'Queued chunk missing');
      const now = this.link.clock.monotonicMs();
      if (chunk.dueMs > now) {
        this.wakeAfter(chunk.dueMs - now);
        return;
      }
      let bytes = chunk.data;
      const bucket = this.link.buckets?.[this.direction];
      if (bucket !== undefined) {
        const granted = bucket.take(bytes.length);
        if (granted === 0) {
          this.wakeAfter(bucket.waitMs(bytes.length));
          return;
        }
        if (granted < bytes.length) {
          chunk.data = bytes.subarray(granted);
          bytes = bytes.subarray(0, granted);
        } else {
          this.shift();
        }
      } else {
        this.shift();
      }
      this.bytesQueued -= bytes.length;
      assert(this.bytesQueued >= 0, 'Queued bytes went negative');
      this.stats.delivered += bytes.length;
      // The callback runs once the kernel took the bytes, which may bring bytesHeld under the limit.
      if (!this.sink.write(bytes, () => this.maybeResumeSource())) this.waitingForDrain = true;
    }
  }

  /**
   * Bytes this pipe holds in memory: its queue plus what was written to the sink socket but not
   * yet taken by the kernel (a slow consumer would otherwise grow the socket's buffer instead).
   */
  bytesHeld(): number {
    return this.bytesQueued + this.sink.writableLength;
  }

  private shift(): void {
    this.head++;
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.chunks.length) {
      // Compact now and then so a long queue of small chunks stays O(1) per chunk.
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }

  private wakeAfter(delayMs: number): void {
    this.timer = this.link.clock.after(Math.max(0, delayMs), () => {
      this.timer = null;
      this.pump();
    });
  }

  private maybeResumeSource(): void {
    if (this.bytesHeld() <= this.link.limits.bufferedBytesMax) this.resumeSource();
  }

  private resumeSource(): void {
    if (!this.pausedForBuffer) return;
    this.pausedForBuffer = false;
    this.source.resume();
  }
}

function resetSocket(socket: net.Socket): void {
  if (!socket.destroyed) socket.resetAndDestroy();
}

function describeSocketError(err: Error): string {
  return (err as NodeJS.ErrnoException).code ?? err.name;
}

/** One proxied connection: the accepted client socket, the target socket and two pipes. */
class Connection {
  readonly pipes: Record<Direction, Pipe>;
  private clientClosed = false;
  private targetClosed = false;
  private targetConnected = false;

  constructor(
    private readonly client: net.Socket,
    private readonly target: net.Socket,
    link: Link,
    counters: { socketErrors: number; targetConnectFailures: number },
    onClosed: (connection: Connection) => void,
  ) {
    this.pipes = {
      toTarget: new Pipe('toTarget', client, target, link),
      toClient: new Pipe('toClient', target, client, link),
    };
    target.once('connect', () => (this.targetConnected = true));
    // An error on one side reaches the other side as a reset, unless the direction towards it
    // is dropping: then the reset is lost like everything else and the pipe is marked holed.
    const propagate = (towards: Direction, peer: net.Socket): void => {
      if (link.isDropping(towards)) this.pipes[towards].holed = true;
      else resetSocket(peer);
    };
    client.on('error', (err: Error) => {
      counters.socketErrors++;
      link.log.debug('Client socket error', { error: describeSocketError(err) });
      propagate('toTarget', target);
    });
    target.on('error', (err: Error) => {
      counters.socketErrors++;
      if (!this.targetConnected) counters.targetConnectFailures++;
      link.log.debug('Target socket error', { error: describeSocketError(err) });
      propagate('toClient', client);
    });
    const closed = (): void => {
      if (this.clientClosed && this.targetClosed) onClosed(this);
    };
    client.on('close', () => {
      this.clientClosed = true;
      closed();
    });
    target.on('close', () => {
      this.targetClosed = true;
      closed();
    });
  }

  reset(): void {
    resetSocket(this.client);
    resetSocket(this.target);
  }

  destroy(): void {
    for (const direction of directions) this.pipes[direction].cancelTimer();
    this.client.destroy();
    this.target.destroy();
  }
}

/** Forwards connections from a listen address to a target with runtime-controllable faults. */
export class FaultProxy {
  readonly name: string;
  private readonly link: Link;
  private readonly connections = new Set<Connection>();
  private readonly eventLog: FaultEvent[] = [];
  private readonly counters = {
    connectionsAccepted: 0,
    connectionsReset: 0,
    connectionsRefused: 0,
    connectionsRejected: 0,
    targetConnectFailures: 0,
    socketErrors: 0,
    eventsDropped: 0,
  };
  private closing = false;

  private constructor(
    private readonly server: net.Server,
    private readonly options: FaultProxyOptions,
    private readonly limits: Limits,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    this.name = options.name;
    this.link = new Link(clock, options.rng, limits, log.child({ link: options.name }));
    server.on('connection', (socket) => this.accept(socket));
  }

  /** Starts a proxy listening on listenHost:listenPort. */
  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const limits: Limits = {
      bufferedBytesMax: options.bufferedBytesMax ?? faultProxyDefaults.bufferedBytesMax,
      connectionsMax: options.connectionsMax ?? faultProxyDefaults.connectionsMax,
      eventsMax: options.eventsMax ?? faultProxyDefaults.eventsMax,
      delayMsMax: options.delayMsMax ?? faultProxyDefaults.delayMsMax,
      bandwidthBurstMs: options.bandwidthBurstMs ?? faultProxyDefaults.bandwidthBurstMs,
    };
    assert(Number.isInteger(limits.bufferedBytesMax) && limits.bufferedBytesMax >= 1, 'bufferedBytesMax must be a positive integer');
    assert(Number.isInteger(limits.connectionsMax) && limits.connectionsMax >= 1, 'connectionsMax must be a positive integer');
    assert(Number.isInteger(limits.eventsMax) && limits.eventsMax >= 1, 'eventsMax must be a positive integer');
    assert(limits.delayMsMax >= 0 && limits.bandwidthBurstMs > 0, 'delayMsMax and bandwidthBurstMs must be positive');
    assert(Number.isInteger(options.targetPort) && options.targetPort > 0 && options.targetPort < 65536, 'targetPort out of range');
    // allowHalfOpen: a FIN from one side is forwarded in order and does not end the other direction.
    const server = net.createServer({ allowHalfOpen: true, noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.listenPort, options.listenHost, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new FaultProxy(server, options, limits, options.clock ?? systemClock, options.log ?? silentLogger);
  }

  /** The port the proxy listens on (the real one when listenPort was 0). */
  get port(): number {
    const address = this.server.address();
    assert(address !== null && typeof address === 'object', 'Proxy is not listening');
    return address.port;
  }

  /** The host the proxy listens on. */
  get host(): string {
    return this.options.listenHost;
  }

  /** Every fault change applied so far (at most eventsMax, oldest dropped first). */
  get events(): readonly FaultEvent[] {
    return this.eventLog;
  }

  /** Returns the faults in force now. */
  faults(): FaultState {
    const link = this.link;
    return {
      delay: link.delay === null ? null : { ...link.delay },
      stalled: link.stalled,
      blackholed: link.blackholed,
      refusing: link.refusing,
      halfOpen: directions.filter((d) => link.halfOpen.has(d)),
      bandwidthBytesPerSecond: link.bandwidthBytesPerSecond,
    };
  }

  /** Returns a snapshot of the counters. */
  stats(): ProxyStats {
    let bytesQueued = 0;
    for (const connection of this.connections) {
      for (const direction of directions) bytesQueued += connection.pipes[direction].bytesHeld();
    }
    return {
      ...this.counters,
      connectionsOpen: this.connections.size,
      toTarget: { ...this.link.bytes.toTarget },
      toClient: { ...this.link.bytes.toClient },
      bytesQueued,
      bytesQueuedPeak: this.link.bytesHeldPeak,
      sourcePauses: this.link.sourcePauses,
    };
  }

  /** Applies one fault (the data form of the methods below, for meshes and control sockets). */
  apply(fault: Fault): void {
    switch (fault.kind) {
      case 'delay':
        return this.delay(fault);
      case 'stall':
        return this.stall();
      case 'blackhole':
        return this.blackhole();
      case 'reset':
        return this.reset(fault.refuse === undefined ? {} : { refuse: fault.refuse });
      case 'halfOpen':
        return this.halfOpen(fault.direction);
      case 'bandwidth':
        return this.bandwidth(fault.bytesPerSecond);
      default:
        return unreachable(fault, 'Unknown fault');
    }
  }

  /** Delivers each later chunk meanMs ± uniform(jitterMs) after it arrives, keeping FIFO order. */
  delay(params: { readonly meanMs: number; readonly jitterMs: number }): void {
    const { meanMs, jitterMs } = params;
    assert(Number.isFinite(meanMs) && meanMs >= 0, 'delay meanMs must be a finite number >= 0');
    assert(Number.isFinite(jitterMs) && jitterMs >= 0, 'delay jitterMs must be a finite number >= 0');
    assert(meanMs + jitterMs <= this.limits.delayMsMax, 'delay exceeds delayMsMax');
    this.link.delay = { meanMs, jitterMs };
    this.record('delay', { meanMs, jitterMs });
  }

  /** Stops delivery in both directions; arriving data is buffered up to bufferedBytesMax per pipe. */
  stall(): void {
    this.link.stalled = true;
    this.record('stall', {});
  }

  /** Resumes delivery after stall(), buffered data first and in order. */
  unstall(): void {
    this.link.stalled = false;
    this.record('unstall', {});
    this.rescheduleAll();
  }

  /** Reads and discards everything in both directions, queued data included; connections stay open. */
  blackhole(): void {
    this.link.blackholed = true;
    for (const connection of this.connections) {
      for (const direction of directions) connection.pipes[direction].discardQueued();
    }
    this.record('blackhole', {});
  }

  /**
   * Resets every open connection (RST, so peers see ECONNRESET). With `refuse`, connections
   * accepted later are reset at once too, until clear('refuse') or heal().
   */
  reset(options: { readonly refuse?: boolean } = {}): void {
    const refuse = options.refuse ?? false;
    const connections = this.connections.size;
    for (const connection of this.connections) connection.reset();
    this.counters.connectionsReset += connections;
    if (refuse) this.link.refusing = true;
    this.record('reset', { refuse, connections });
  }

  /** Reads and discards one direction only; the other keeps flowing. */
  halfOpen(direction: Direction): void {
    this.link.halfOpen.add(direction);
    for (const connection of this.connections) connection.pipes[direction].discardQueued();
    this.record('halfOpen', { direction });
  }

  /** Limits each direction to bytesPerSecond (a token bucket shared by all connections). */
  bandwidth(bytesPerSecond: number): void {
    assert(Number.isFinite(bytesPerSecond) && bytesPerSecond > 0, 'bandwidth must be a positive number of bytes per second');
    const capacityBytes = Math.max(1, Math.floor((bytesPerSecond * this.limits.bandwidthBurstMs) / 1000));
    this.link.bandwidthBytesPerSecond = bytesPerSecond;
    this.link.buckets = {
      toTarget: new TokenBucket(bytesPerSecond, capacityBytes, this.clock),
      toClient: new TokenBucket(bytesPerSecond, capacityBytes, this.clock),
    };
    this.record('bandwidth', { bytesPerSecond });
  }

  /** Clears one standing fault, leaving the others in force. */
  clear(fault: StandingFault): void {
    this.clearQuietly(fault);
    const connectionsReset = this.resetHoled();
    this.record('clear', { fault, connectionsReset });
    this.rescheduleAll();
  }

  /** Clears every fault. Connections whose stream lost bytes are reset; the others carry on. */
  heal(): void {
    for (const fault of ['delay', 'stall', 'blackhole', 'refuse', 'halfOpen', 'bandwidth'] as const) this.clearQuietly(fault);
    const connectionsReset = this.resetHoled();
    this.record('heal', { connectionsReset });
    this.rescheduleAll();
  }

  /** Closes the listener and every connection. */
  async close(): Promise<void> {
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const connection of this.connections) connection.destroy();
    await closed;
  }

  private clearQuietly(fault: StandingFault): void {
    const link = this.link;
    switch (fault) {
      case 'delay':
        link.delay = null;
        for (const connection of this.connections) {
          for (const direction of directions) connection.pipes[direction].makeQueuedDue();
        }
        return;
      case 'stall':
        link.stalled = false;
        return;
      case 'blackhole':
        link.blackholed = false;
        return;
      case 'refuse':
        link.refusing = false;
        return;
      case 'halfOpen':
        link.halfOpen.clear();
        return;
      case 'bandwidth':
        link.bandwidthBytesPerSecond = null;
        link.buckets = null;
        return;
      default:
        return unreachable(fault, 'Unknown standing fault');
    }
  }

  /** Resets connections with a hole in a direction that no longer drops; returns how many. */
  private resetHoled(): number {
    let count = 0;
    for (const connection of this.connections) {
      const holed = directions.some((d) => connection.pipes[d].holed && !this.link.isDropping(d));
      if (!holed) continue;
      connection.reset();
      count++;
    }
    this.counters.connectionsReset += count;
    return count;
  }

  private rescheduleAll(): void {
    for (const connection of this.connections) {
      for (const direction of directions) connection.pipes[direction].reschedule();
    }
  }

  private accept(client: net.Socket): void {
    this.counters.connectionsAccepted++;
    const turnedAway = this.closing || this.link.refusing || this.connections.size >= this.limits.connectionsMax;
    if (turnedAway) {
      // A socket we reset can still report an error (e.g. the client's data racing the RST).
      client.on('error', () => this.counters.socketErrors++);
      if (this.closing) {
        client.destroy();
      } else if (this.link.refusing) {
        this.counters.connectionsRefused++;
        resetSocket(client);
      } else {
        this.counters.connectionsRejected++;
        this.log.warn('Proxy connection limit reached', { link: this.name, connectionsMax: this.limits.connectionsMax });
        resetSocket(client);
      }
      return;
    }
    client.setNoDelay(true);
    const target = net.connect({ host: this.options.targetHost, port: this.options.targetPort, allowHalfOpen: true, noDelay: true });
    const connection = new Connection(client, target, this.link, this.counters, (c) => this.connections.delete(c));
    this.connections.add(connection);
  }

  private record(fault: FaultEvent['fault'], params: FaultEvent['params']): void {
    if (this.eventLog.length >= this.limits.eventsMax) {
      this.eventLog.shift();
      this.counters.eventsDropped++;
    }
    const event: FaultEvent = { timeMs: this.clock.nowMs(), link: this.name, fault, params };
    this.eventLog.push(event);
    this.log.info('Link fault changed', { link: this.name, fault, ...params });
  }
}

/** One directed link of a mesh: a proxy on listenHost:listenPort forwarding to the target. */
export interface LinkSpec {
  readonly name: string;
  /** Defaults to 127.0.0.1. */
  readonly listenHost?: string;
  readonly listenPort: number;
  readonly targetHost: string;
  readonly targetPort: number;
}

/** Options shared by every proxy of a mesh. */
export type ProxyMeshOptions = Omit<FaultProxyOptions, 'name' | 'listenHost' | 'listenPort' | 'targetHost' | 'targetPort'> & {
  /** Most links a mesh may have. */
  readonly linksMax?: number;
};

/** Options of swizzleClog. */
export interface SwizzleClogOptions {
  /** Pause between stalling (and later unstalling) consecutive links. */
  readonly stepMs: number;
  /** Chooses the subset and both orders. */
  readonly rng: Rng;
  /** Time every chosen link stays stalled after the last one was stalled; defaults to stepMs. */
  readonly holdMs?: number;
  readonly clock?: Clock;
  /** Aborting unstalls every link still stalled at once and returns the record so far. */
  readonly signal?: AbortSignal;
}

/** What swizzleClog did. */
export interface SwizzleClogRecord {
  /** The chosen links in the order they were stalled. */
  readonly stalled: readonly string[];
  /** The chosen links in the order they were unstalled. */
  readonly unstalled: readonly string[];
  readonly steps: readonly { readonly timeMs: number; readonly link: string; readonly action: 'stall' | 'unstall' }[];
  readonly aborted: boolean;
}

function shuffled<T>(items: readonly T[], rng: Rng): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    const a = out[i];
    const b = out[j];
    assert(a !== undefined && b !== undefined, 'Shuffle index out of range');
    out[i] = b;
    out[j] = a;
  }
  return out;
}

/** Waits delayMs on the clock; resolves false if the signal aborts first. */
async function pause(clock: Clock, delayMs: number, signal: AbortSignal | undefined): Promise<boolean> {
  if (signal?.aborted === true) return false;
  return new Promise<boolean>((resolve) => {
    const onAbort = (): void => {
      timer.cancel();
      resolve(false);
    };
    const timer = clock.after(delayMs, () => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * FoundationDB's swizzle-clog: picks a random non-empty subset of the links, stalls them one at
 * a time stepMs apart, holds, then unstalls them one at a time in an independent random order.
 * Every link it stalled is unstalled before it returns, also on abort.
 */
export async function swizzleClog(links: readonly FaultProxy[], options: SwizzleClogOptions): Promise<SwizzleClogRecord> {
  assert(links.length > 0, 'swizzleClog needs at least one link');
  assert(Number.isFinite(options.stepMs) && options.stepMs >= 0, 'stepMs must be >= 0');
  const { rng } = options;
  const clock = options.clock ?? systemClock;
  let chosen = links.filter(() => rng.next() < 0.5);
  if (chosen.length === 0) {
    const only = links[rng.below(links.length)];
    assert(only !== undefined, 'Random link index out of range');
    chosen = [only];
  }
  const stallOrder = shuffled(chosen, rng);
  const unstallOrder = shuffled(chosen, rng);
  const steps: { timeMs: number; link: string; action: 'stall' | 'unstall' }[] = [];
  const stalled: string[] = [];
  const unstalled: string[] = [];
  const stalledNow = new Set<FaultProxy>();
  let aborted = false;
  try {
    for (const [i, link] of stallOrder.entries()) {
      if (i > 0 && !(await pause(clock, options.stepMs, options.signal))) {
        aborted = true;
        break;
      }
      link.stall();
      stalledNow.add(link);
      stalled.push(link.name);
      steps.push({ timeMs: clock.nowMs(), link: link.name, action: 'stall' });
    }
    if (!aborted && !(await pause(clock, options.holdMs ?? options.stepMs, options.signal))) aborted = true;
    for (const [i, link] of unstallOrder.entries()) {
      if (!aborted && i > 0 && !(await pause(clock, options.stepMs, options.signal))) aborted = true;
      if (!stalledNow.has(link)) continue;
      link.unstall();
      stalledNow.delete(link);
      unstalled.push(link.name);
      steps.push({ timeMs: clock.nowMs(), link: link.name, action: 'unstall' });
    }
  } finally {
    // Never leave a link clogged, whatever happened above.
    for (const link of stalledNow) link.unstall();
  }
  return { stalled, unstalled, steps, aborted };
}

/** A set of FaultProxies, one per directed link, addressed by link name. */
export class ProxyMesh {
  private constructor(private readonly proxies: ReadonlyMap<string, FaultProxy>) {}

  /** Starts one proxy per link; if any fails to start, closes the ones already started. */
  static async start(links: readonly LinkSpec[], options: ProxyMeshOptions): Promise<ProxyMesh> {
    const { linksMax, ...proxyOptions } = options;
    assert(links.length <= (linksMax ?? 1024), 'Too many links for one mesh');
    assert(new Set(links.map((l) => l.name)).size === links.length, 'Link names must be unique');
    const proxies = new Map<string, FaultProxy>();
    try {
      for (const spec of links) {
        const proxy = await FaultProxy.start({
          ...proxyOptions,
          // Each link draws from its own stream, so one link's traffic does not shift another's jitter.
          rng: seededRng(options.rng.below(2 ** 32)),
          name: spec.name,
          listenHost: spec.listenHost ?? '127.0.0.1',
          listenPort: spec.listenPort,
          targetHost: spec.targetHost,
          targetPort: spec.targetPort,
        });
        proxies.set(spec.name, proxy);
      }
    } catch (err) {
      await Promise.all([...proxies.values()].map((p) => p.close()));
      throw err;
    }
    return new ProxyMesh(proxies);
  }

  /** The link names, in creation order. */
  get names(): readonly string[] {
    return [...this.proxies.keys()];
  }

  /** Returns the proxy of a link. */
  proxy(name: string): FaultProxy {
    const proxy = this.proxies.get(name);
    assert(proxy !== undefined, `Unknown link ${name}`);
    return proxy;
  }

  /** Applies a fault to the named links. */
  apply(names: readonly string[], fault: Fault): void {
    for (const proxy of names.map((n) => this.proxy(n))) proxy.apply(fault);
  }

  /** Clears one standing fault on the named links. */
  clear(names: readonly string[], fault: StandingFault): void {
    for (const proxy of names.map((n) => this.proxy(n))) proxy.clear(fault);
  }

  /** Heals the named links (all links by default). */
  heal(names: readonly string[] = this.names): void {
    for (const proxy of names.map((n) => this.proxy(n))) proxy.heal();
  }

  /** Runs swizzleClog over the named links. */
  async swizzleClog(names: readonly string[], options: SwizzleClogOptions): Promise<SwizzleClogRecord> {
    return swizzleClog(
      names.map((n) => this.proxy(n)),
      options,
    );
  }

  /** Every link's events, merged in time order. */
  events(): FaultEvent[] {
    return [...this.proxies.values()].flatMap((p) => p.events).sort((a, b) => a.timeMs - b.timeMs);
  }

  /** Closes every proxy. */
  async close(): Promise<void> {
    await Promise.all([...this.proxies.values()].map((p) => p.close()));
  }
}
