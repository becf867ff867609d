/**
 * MultiplexedStream carries many operations over one long-lived bidirectional gRPC stream,
 * batched per event-loop turn and matched to results by id. Both hops that carry many
 * operations use it: client → router and router → data node (a unary RPC per operation would
 * cap a Node.js process near 3,000 operations per second).
 *
 * It connects before it sends, so it knows what was delivered:
 *  - never sent (the peer was unreachable, or the deadline passed first): UNAVAILABLE or
 *    DEADLINE_EXCEEDED, and the operation is dropped, never sent late;
 *  - sent, then the stream broke or the deadline passed: a read fails with UNAVAILABLE or
 *    DEADLINE_EXCEEDED, a write with AMBIGUOUS_RESULT (it may have been applied).
 */
import { connectivityState, type ClientDuplexStream } from '@grpc/grpc-js';
import type { Clock, TimerHandle } from '../clock.js';
import { AmbiguousResultError, DeadlineExceededError, OverloadedError, UnavailableError, type QuireError } from '../errors/quire-error.js';
import { defaultLimits } from '../limits.js';
import { MicroBatcher } from './micro-batcher.js';

/** The gRPC client side a MultiplexedStream drives. */
export interface MultiplexedTransport<Req, Res> {
  /** Waits until the channel is connected (grpc-js Client.waitForReady). */
  waitForReady(deadline: Date, callback: (error?: Error) => void): void;
  /** Opens the bidirectional stream. */
  openStream(): ClientDuplexStream<Req, Res>;
  /** The channel's connectivity state, for error messages. */
  connectivityState(): connectivityState;
}

/** How operations and results are framed. */
export interface MultiplexedCodec<Op extends { id: number }, Result extends { id: number }, Req, Res> {
  /** Wraps a batch of operations in one request message. */
  request(operations: Op[]): Req;
  /** Unwraps the results of one response message. */
  results(response: Res): readonly Result[];
  /** Builds the result reporting `error` for operation `id`. */
  error(id: number, error: QuireError): Result;
  /** Payload bytes of an operation (key and value), for the byte bound on messages. */
  payloadBytes(op: Op): number;
}

/** Limits of one multiplexed stream. */
export interface MultiplexedStreamSettings {
  /** Describes the peer in error messages, e.g. "data node at 127.0.0.1:7101". */
  readonly peer: string;
  /** How long an operation may wait for the connection. */
  readonly connectTimeoutMs: number;
  /** Most unanswered operations. */
  readonly opsInFlightMax: number;
  /** Most operations per message. */
  readonly batchOpsMax: number;
  /** Most payload bytes per message (default: the stream batch limit, 4 MiB). */
  readonly batchBytesMax?: number;
  /** How often deadlines are checked. */
  readonly deadlineCheckIntervalMs: number;
}

interface Pending<Result> {
  readonly resolve: (result: Result) => void;
  readonly write: boolean;
  readonly deadlineMs: number;
  sent: boolean;
}

/** One multiplexed stream to one peer; reconnects on demand after failures. */
export class MultiplexedStream<Op extends { id: number }, Result extends { id: number }, Req, Res> {
  private call: ClientDuplexStream<Req, Res> | undefined;
  private connecting = false;
  private waiting: Op[] = [];
  private readonly pending = new Map<number, Pending<Result>>();
  private nextId = 1;
  private readonly batcher: MicroBatcher<Op>;
  private readonly sweep: TimerHandle;
  private closed = false;

  constructor(
    private readonly transport: MultiplexedTransport<Req, Res>,
    private readonly codec: MultiplexedCodec<Op, Result, Req, Res>,
    private readonly settings: MultiplexedStreamSettings,
    private readonly clock: Clock,
    private readonly onStreamFailed: (inFlightLost: number, err: unknown) => void = () => undefined,
  ) {
    this.batcher = new MicroBatcher((ops) => this.write(ops), settings.batchOpsMax, setImmediate, {
      bytesOf: (op) => codec.payloadBytes(op),
      bytesMax: settings.batchBytesMax ?? defaultLimits.streamBatchBytesMax,
    });
    this.sweep = clock.every(settings.deadlineCheckIntervalMs, () => this.expire());
  }

  /** Operations sent or waiting, not yet answered. */
  get inFlight(): number {
    return this.pending.size;
  }

  /**
   * Fails every operation not yet sent with UNAVAILABLE (they definitely did not happen), e.g.
   * because the peer's registration vanished and waiting for its connection is pointless: the
   * caller can route them elsewhere at once. Operations already sent keep waiting for answers.
   */
  failUnsent(reason: string): number {
    this.waiting = [];
    let failed = 0;
    for (const [id, p] of this.pending) {
      if (p.sent) continue;
      failed++;
      this.settle(id, this.codec.error(id, new UnavailableError(`Not sent to ${this.settings.peer}: ${reason}`)));
    }
    return failed;
  }

  /**
   * Sends an operation (its id is assigned here) and resolves with its result; never
   * rejects. `deadlineMs` is on the clock's monotonic scale.
   */
  send(op: Omit<Op, 'id'>, write: boolean, deadlineMs: number): Promise<Result> {
    const id = this.nextId++;
    if (this.closed) return Promise.resolve(this.codec.error(id, new UnavailableError(`The connection to ${this.settings.peer} is closed`)));
    if (this.pending.size >= this.settings.opsInFlightMax) {
      return Promise.resolve(
        this.codec.error(
          id,
          new OverloadedError(`${this.pending.size} operations are in flight to ${this.settings.peer}`, {
            retryAfterMs: 10,
            limit: this.settings.opsInFlightMax,
          }),
        ),
      );
    }
    return new Promise((resolve) => {
      this.pending.set(id, { resolve, write, deadlineMs, sent: false });
      const full = { ...op, id } as Op;
      if (this.call !== undefined) {
        this.batcher.push(full);
      } else {
        this.waiting.push(full);
        this.connect();
      }
    });
  }

  private connect(): void {
    if (this.connecting || this.closed) return;
    this.connecting = true;
    this.transport.waitForReady(new Date(Date.now() + this.settings.connectTimeoutMs), (err) => {
      this.connecting = false;
      const waiting = this.waiting;
      this.waiting = [];
      if (err !== undefined && err !== null) {
        // Nothing was sent: these operations definitely did not happen.
        const state = connectivityState[this.transport.connectivityState()];
        for (const op of waiting) {
          this.settle(op.id, this.codec.error(op.id, new UnavailableError(`Cannot reach ${this.settings.peer}: not connected within ${this.settings.connectTimeoutMs} ms (channel ${state.toLowerCase()}; is it running?)`)));
        }
        return;
      }
      if (this.closed) return;
      this.openStream();
      for (const op of waiting) this.batcher.push(op);
    });
  }

  private openStream(): void {
    const call = this.transport.openStream();
    this.call = call;
    call.on('data', (res: Res) => {
      for (const result of this.codec.results(res)) this.settle(result.id, result);
    });
    call.on('error', (err) => this.streamFailed(call, err));
    call.on('end', () => this.streamFailed(call, new Error(`${this.settings.peer} closed the stream`)));
  }

  private write(ops: Op[]): void {
    // Operations whose callers already got a deadline error must never be sent late.
    const live = ops.filter((op) => this.pending.has(op.id));
    if (live.length === 0) return;
    const call = this.call;
    if (call === undefined) {
      this.waiting.push(...live);
      this.connect();
      return;
    }
    for (const op of live) {
      const p = this.pending.get(op.id);
      if (p !== undefined) p.sent = true;
    }
    call.write(this.codec.request(live));
  }

  private streamFailed(call: ClientDuplexStream<Req, Res>, err: unknown): void {
    if (this.call !== call) return;
    this.call = undefined;
    let lost = 0;
    for (const [id, p] of this.pending) {
      if (!p.sent) continue;
      lost++;
      const e = p.write
        ? new AmbiguousResultError(`Lost the stream to ${this.settings.peer} while the write was in flight; it may or may not have been applied`)
        : new UnavailableError(`Lost the stream to ${this.settings.peer}`);
      this.settle(id, this.codec.error(id, e));
    }
    if (!this.closed) this.onStreamFailed(lost, err);
    if (this.waiting.length > 0) this.connect();
  }

  private settle(id: number, result: Result): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    this.pending.delete(id);
    p.resolve(result);
  }

  private expire(): void {
    const now = this.clock.monotonicMs();
    for (const [id, p] of this.pending) {
      if (p.deadlineMs > now) continue;
      const e =
        p.write && p.sent
          ? new AmbiguousResultError(`The write to ${this.settings.peer} did not complete before its deadline; it may or may not have been applied`)
          : new DeadlineExceededError(`${this.settings.peer} did not answer before the deadline`);
      this.settle(id, this.codec.error(id, e));
    }
  }

  /** Closes the stream, failing whatever is outstanding. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sweep.cancel();
    const call = this.call;
    this.call = undefined;
    for (const [id, p] of this.pending) {
      const e =
        p.write && p.sent
          ? new AmbiguousResultError(`The connection to ${this.settings.peer} closed with the write in flight`)
          : new UnavailableError(`The connection to ${this.settings.peer} closed`);
      this.settle(id, this.codec.error(id, e));
    }
    call?.cancel();
  }
}
