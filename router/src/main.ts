/**
 * Entry point of `quire router`: loads and watches the partition map in etcd, serves the
 * public KV service and an Admin proxy, and forwards operations to data nodes over pooled,
 * multiplexed streams. Stateless: everything it knows it can rebuild from etcd.
 */
import { AdminService, DebugService, KVService } from '@quire/proto';
import {
  Failpoints,
  bindGrpcServer,
  createDebugService,
  createGrpcServer,
  createLogger,
  guardService,
  installCrashHandlers,
  loadHashPartitioner,
  shutdownGrpcServer,
  startMetrics,
  systemClock,
  systemRng,
  stopWithParentRequested,
  waitForStopSignal,
  type Env,
} from '@quire/common';
import { openMetadataClient } from '@quire/metastore';
import { loadRouterConfig } from './config.js';
import { NodePool } from './node-connection.js';
import { Router } from './router.js';
import { createAdminProxy } from './server/admin-proxy.js';
import { createKvService } from './server/kv-service.js';

/** Runs a router until SIGINT/SIGTERM. */
export async function runRouter(argv: readonly string[], env: Env): Promise<void> {
  const config = loadRouterConfig(argv, env);
  const log = createLogger({ component: 'router', level: config.logLevel, fields: { routerId: config.routerId } });
  installCrashHandlers(log);
  const failpoints = new Failpoints({ component: 'router', rng: systemRng, clock: systemClock, crash: () => process.kill(process.pid, 'SIGKILL'), log });
  if (config.failpoints !== '') failpoints.set(config.failpoints);
  const metrics = await startMetrics({ component: 'router', instanceId: config.routerId, listen: config.metricsListen });
  const partitioner = await loadHashPartitioner();

  const metadata = await openMetadataClient(config.etcdEndpoints, log);
  const { view, watcher } = metadata;
  metrics.meter
    .createObservableGauge('quire_router_map_revision', { description: 'The etcd revision of the partition map this router routes by' })
    .addCallback((r) => r.observe(view.revision));

  const pool = new NodePool(
    { connectTimeoutMs: config.connectTimeoutMs, opsInFlightMax: config.nodeOpsInFlightMax, batchOpsMax: config.limits.streamBatchOpsMax },
    systemClock,
    log,
  );
  view.subscribe((v) => pool.retain(new Set([...v.nodes.values()].map((n) => n.address))));
  const router = new Router(
    { limits: config.limits, requestTimeoutMs: config.requestTimeoutMs, staleMapWaitMs: config.staleMapWaitMs, failoverWaitMs: config.failoverWaitMs, followerReadTimeoutMs: config.followerReadTimeoutMs },
    { map: watcher, partitioner, pool, clock: systemClock, log, meter: metrics.meter, failpoints },
  );

  const server = createGrpcServer();
  server.addService(
    ...guardService(
      KVService,
      createKvService(router, { limits: config.limits, streamOpsInFlightMax: config.clientOpsInFlightMax, scanChunkKeysMax: 256, scanChunkBytesMax: 256 * 1024 }, log),
    ),
  );
  const admin = createAdminProxy(view, 5_000, { meter: metrics.meter, clock: systemClock });
  server.addService(...guardService(AdminService, admin));
  if (config.failpointsAdmin) {
    // Without --failpoints-admin the service does not exist: calls are UNIMPLEMENTED.
    server.addService(...guardService(DebugService, createDebugService(failpoints)));
    log.warn('Serving the Debug service: failpoints can be armed remotely');
  }
  const address = await bindGrpcServer(server, config.listen);
  log.info('Router ready', { address, metrics: metrics.address, mapRevision: view.revision });

  const signal = await waitForStopSignal(log, { stopWithParent: stopWithParentRequested(env) });
  log.info('Stopping router', { signal });
  await shutdownGrpcServer(server, 2_000);
  pool.close();
  admin.close();
  await metadata.close();
  await metrics.close();
  log.info('Router stopped');
}
