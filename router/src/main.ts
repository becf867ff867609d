/**
 * Entry point of `quire router`: loads and watches the partition map in etcd, serves the
 * public KV service and an Admin proxy, and forwards operations to data nodes over pooled,
 * multiplexed streams. Stateless: everything it knows it can rebuild from etcd.
 */
import { AdminService, KVService } from '@quire/proto';
import { loadHashPartitioner, type Env } from '@quire/common';
import { guardService, runServerProcess } from '@quire/runtime';
import { openMetadataClient } from '@quire/metastore';
import { loadRouterConfig } from './config.js';
import { NodePool } from './node-connection.js';
import { Router } from './router.js';
import { createAdminProxy } from './server/admin-proxy.js';
import { createKvService } from './server/kv-service.js';

/** Runs a router until SIGINT/SIGTERM. */
export async function runRouter(argv: readonly string[], env: Env): Promise<void> {
  const config = loadRouterConfig(argv, env);
  const spec = { component: 'router', instanceId: config.routerId, logFields: { routerId: config.routerId }, config, env } as const;
  await runServerProcess(spec, async ({ log, failpoints, metrics, server, clock, closeAtExit }) => {
    const partitioner = await loadHashPartitioner();
    const metadata = await openMetadataClient(config.etcdEndpoints, log);
    closeAtExit('etcd', () => metadata.close());
    const { view, watcher } = metadata;
    metrics.meter
      .createObservableGauge('quire_router_map_revision', { description: 'The etcd revision of the partition map this router routes by' })
      .addCallback((r) => r.observe(view.revision));

    const pool = new NodePool({ connectTimeoutMs: config.connectTimeoutMs, opsInFlightMax: config.nodeOpsInFlightMax, batchOpsMax: config.limits.streamBatchOpsMax }, clock, log);
    closeAtExit('data node streams', () => pool.close());
    view.subscribe((v) => pool.retain(new Set([...v.nodes.values()].map((n) => n.address))));
    const router = new Router(
      { limits: config.limits, requestTimeoutMs: config.requestTimeoutMs, staleMapWaitMs: config.staleMapWaitMs, failoverWaitMs: config.failoverWaitMs, followerReadTimeoutMs: config.followerReadTimeoutMs },
      { map: watcher, partitioner, pool, clock, log, meter: metrics.meter, failpoints },
    );

    server.addService(
      ...guardService(
        KVService,
        createKvService(router, { limits: config.limits, streamOpsInFlightMax: config.clientOpsInFlightMax, scanChunkKeysMax: 256, scanChunkBytesMax: 256 * 1024 }, log),
      ),
    );
    const admin = createAdminProxy(view, 5_000, { meter: metrics.meter, clock });
    closeAtExit('coordinator channel', () => admin.close());
    server.addService(...guardService(AdminService, admin));

    return {
      started: async () => ({ mapRevision: view.revision }),
      serverGraceMs: 2_000,
    };
  });
}
