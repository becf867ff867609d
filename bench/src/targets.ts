/**
 * The systems a benchmark drives, behind one interface: Quire through its router with the
 * client library (one multiplexed stream), and the peer etcd through the `etcd3` client (one
 * unary gRPC call per operation, which is how etcd's own Node client works).
 */
import { Etcd3 } from 'etcd3';
import { QuireClient } from '@quire/client';

/** A key-value store under test. */
export interface KvTarget {
  /** "quire" or "etcd": the system, as recorded in the JSON results. */
  readonly name: string;
  /** The name in progress lines: `name`, or the system with its configuration. */
  readonly label: string;
  put(key: Buffer, value: Buffer): Promise<void>;
  /** Reads a key; fails when it is absent, since every benchmark read targets a loaded key. */
  get(key: Buffer): Promise<void>;
  close(): void;
}

/** Quire through a router. */
export function quireTarget(router: string, label = 'quire'): KvTarget {
  const client = new QuireClient({ router, requestTimeoutMs: 30_000 });
  return {
    name: 'quire',
    label,
    async put(key, value) {
      await client.put(key, value);
    },
    async get(key) {
      const r = await client.get(key);
      if (!r.found) throw new Error(`quire: key ${key.toString()} is missing`);
    },
    close: () => client.close(),
  };
}

/** etcd through the etcd3 client, connected to every member's client endpoint (host:port). */
export function etcdTarget(endpoints: readonly string[], label = 'etcd'): KvTarget {
  const client = new Etcd3({ hosts: endpoints.map((e) => `http://${e}`) });
  return {
    name: 'etcd',
    label,
    async put(key, value) {
      await client.put(key).value(value).exec();
    },
    async get(key) {
      const v = await client.get(key).buffer();
      if (v === null) throw new Error(`etcd: key ${key.toString()} is missing`);
    },
    close: () => client.close(),
  };
}
