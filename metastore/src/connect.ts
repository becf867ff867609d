/**
 * Creating the etcd client. Options are explicit because etcd3's defaults suit long-running
 * services poorly here: a circuit breaker that stays open for 5 s and a watch reconnect
 * backoff that grows to 30 s would leave routers blind for that long after an etcd restart.
 */
import { Etcd3, isRecoverableError } from 'etcd3';
import { ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleWhen, retry } from 'cockatiel';

/** Connection settings for etcd. */
export interface EtcdOptions {
  /** host:port or http://host:port of each member. */
  readonly endpoints: readonly string[];
  /** How long to wait for a connection before a call fails. */
  readonly dialTimeoutMs: number;
  /** Deadline of every unary etcd call. */
  readonly requestTimeoutMs: number;
}

/** The etcd client type the rest of metastore works with. */
export type EtcdClient = Etcd3;

/** Returns a client for the given etcd cluster (connections open lazily). */
export function connectEtcd(options: EtcdOptions): EtcdClient {
  return new Etcd3({
    hosts: options.endpoints.map((e) => (e.startsWith('http://') || e.startsWith('https://') ? e : `http://${e}`)),
    dialTimeout: options.dialTimeoutMs,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + options.requestTimeoutMs }),
    faultHandling: {
      host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 500, breaker: new ConsecutiveBreaker(5) }),
      global: retry(handleWhen(isRecoverableError), {
        maxAttempts: 2,
        backoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 500 }),
      }),
      // etcd3 takes a backoff state here (it calls next() on it), not a factory.
      watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 1_000 }).next(),
    },
  });
}

/** Parses an etcd revision string (etcd3 returns int64 as decimal strings). */
export function revisionOf(value: string | number | undefined | null): number {
  const n = Number(value ?? 0);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`Invalid etcd revision ${String(value)}`);
  return n;
}
