/**
 * Test clusters: a LocalCluster (real etcd, coordinator, data node and router processes on
 * 127.0.0.1) in a fresh temporary directory, plus a client. stop() stops every process the
 * test started; the directory (logs included) is kept when QUIRE_KEEP_TEST_DIRS=1.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QuireClient } from '@quire/client';
import { LocalCluster, type LocalClusterOptions } from '@quire/cli';
import { isQuireError, type QuireError } from '@quire/common';
import { storageEngineArgs } from './storage-engine.js';

/** A running test cluster. */
export interface TestCluster {
  readonly cluster: LocalCluster;
  readonly client: QuireClient;
  readonly dataDir: string;
  stop(): Promise<void>;
}

/** Options a test may override. */
export type TestClusterOptions = Partial<Omit<LocalClusterOptions, 'dataDir' | 'env'>>;

/** Starts a cluster for one test file. */
export async function startTestCluster(name: string, options: TestClusterOptions = {}): Promise<TestCluster> {
  const dataDir = mkdtempSync(join(tmpdir(), `quire-${name}-`));
  const cluster = await LocalCluster.start({
    dataDir,
    nodes: 3,
    coordinators: 1,
    partitions: 16,
    routerPort: 0,
    etcdBin: process.env.QUIRE_ETCD_BIN ?? 'etcd',
    nodeLeaseTtlSeconds: 3,
    coordinatorLeaseTtlSeconds: 3,
    logLevel: 'info',
    env: process.env,
    ...options,
    extraArgs: { ...options.extraArgs, datanode: [...(options.extraArgs?.datanode ?? []), ...storageEngineArgs(process.env)] },
  });
  const client = new QuireClient({ router: cluster.routerAddress, requestTimeoutMs: 10_000 });
  return {
    cluster,
    client,
    dataDir,
    async stop() {
      client.close();
      await cluster.stop();
      if (process.env.QUIRE_KEEP_TEST_DIRS !== '1') rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls `condition` every 100 ms until it holds or `timeoutMs` passes. */
export async function eventually<T>(what: string, timeoutMs: number, condition: () => Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await condition();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${lastError === undefined ? '' : `: ${String(lastError)}`}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Returns the error an async call rejects with (fails if it resolves). */
export async function rejection(p: Promise<unknown>): Promise<Error & { code?: string; details?: Record<string, unknown> }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: string; details?: Record<string, unknown> };
  }
  throw new Error('Expected the call to fail, but it succeeded');
}

/** The QuireError a call fails with; throws if it succeeds or fails with anything else. */
export async function failure(p: Promise<unknown>): Promise<QuireError> {
  const err: unknown = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isQuireError(err)) throw new Error(`expected a QuireError, got ${String(err)}`);
  return err;
}
