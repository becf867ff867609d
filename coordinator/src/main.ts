/**
 * Entry point of `quire coordinator`: loads the metadata view, campaigns for leadership,
 * serves Admin and Coordination, and while elected runs the controller (bootstrap, placement,
 * failover). On SIGTERM/SIGINT it resigns (a standby takes over at once) and exits.
 */
import { AdminService, CoordinationService, DebugService, type CoordinatorLeaderRecord } from '@quire/proto';
import {
  ackPolicyFromName,
  Failpoints,
  RpcMetrics,
  bindGrpcServer,
  createDebugService,
  createGrpcServer,
  createLogger,
  guardService,
  installCrashHandlers,
  shutdownGrpcServer,
  startMetrics,
  systemClock,
  systemRng,
  stopWithParentRequested,
  waitForStopSignal,
  type Env,
} from '@quire/common';
import { FencedWriter, LeaderElection, openMetadataClient } from '@quire/metastore';
import { loadCoordinatorConfig } from './config.js';
import { CoordinatorController } from './controller.js';
import { HandOverClient } from './hand-over-client.js';
import { FollowerProgressClient } from './follower-progress-client.js';
import { LogEndClient } from './log-end-client.js';
import { ReplicationClients } from './replication-clients.js';
import { createAdminService } from './server/admin-service.js';
import { createCoordinationService } from './server/coordination-service.js';

/** Runs a coordinator until SIGINT/SIGTERM. */
export async function runCoordinator(argv: readonly string[], env: Env): Promise<void> {
  const config = loadCoordinatorConfig(argv, env);
  const log = createLogger({ component: 'coordinator', level: config.logLevel, fields: { coordinatorId: config.coordinatorId } });
  installCrashHandlers(log);
  const failpoints = new Failpoints({ component: 'coordinator', rng: systemRng, clock: systemClock, crash: () => process.kill(process.pid, 'SIGKILL'), log });
  if (config.failpoints !== '') failpoints.set(config.failpoints);
  const metrics = await startMetrics({ component: 'coordinator', instanceId: config.coordinatorId, listen: config.metricsListen });

  const metadata = await openMetadataClient(config.etcdEndpoints, log);
  const { etcd, view, watcher } = metadata;

  let election: LeaderElection | undefined;
  const replicationClients = new ReplicationClients(view);
  const logEnds = new LogEndClient(replicationClients, systemClock, log);
  const followerProgress = new FollowerProgressClient(replicationClients, systemClock, log);
  const controller = new CoordinatorController(
    {
      nodesMin: config.nodesMin,
      defaultPartitions: config.defaultPartitions,
      replicationFactor: config.replicationFactor,
      minIsr: config.minIsr,
      ackPolicy: ackPolicyFromName(config.ackPolicy),
      reconcileIntervalMs: config.reconcileIntervalMs,
      failoverLogEndDeadlineMs: config.failoverLogEndDeadlineMs,
      failoverRetryMs: config.failoverRetryMs,
      failoverPartitionsMax: config.failoverPartitionsMax,
    },
    {
      view,
      watcher,
      writer: new FencedWriter(etcd),
      logEnds,
      clock: systemClock,
      rng: systemRng,
      log,
      meter: metrics.meter,
      onFenced: () => election?.fenced(),
      failpoints,
    },
  );

  const server = createGrpcServer();
  server.addService(
    ...guardService(
      AdminService,
      createAdminService(view, () => controller.isLeader, config.limits, new RpcMetrics(metrics.meter, 'coordinator', 'admin'), systemClock, {
        handOver: new HandOverClient(systemClock),
        log,
        followerProgress,
        followerProgressDeadlineMs: config.statusProgressDeadlineMs,
      }),
    ),
  );
  server.addService(
    ...guardService(
      CoordinationService,
      createCoordinationService({
        view,
        watcher,
        writer: controller,
        limits: config.limits,
        metrics: new RpcMetrics(metrics.meter, 'coordinator', 'coordination'),
        meter: metrics.meter,
        clock: systemClock,
        log,
      }),
    ),
  );
  if (config.failpointsAdmin) {
    // Without --failpoints-admin the service does not exist: calls are UNIMPLEMENTED.
    server.addService(...guardService(DebugService, createDebugService(failpoints)));
    log.warn('Serving the Debug service: failpoints can be armed remotely');
  }
  const bound = await bindGrpcServer(server, config.listen);
  const address = config.advertise ?? bound;

  const record: CoordinatorLeaderRecord = { coordinatorId: config.coordinatorId, address };
  election = new LeaderElection(
    etcd,
    record,
    config.leaseTtlSeconds,
    { onElected: (term) => controller.onElected(term), onDeposed: () => controller.onDeposed() },
    log,
  );
  election.start();
  log.info('Coordinator ready', { address, metrics: metrics.address });

  const signal = await waitForStopSignal(log, { stopWithParent: stopWithParentRequested(env) });
  log.info('Stopping coordinator', { signal });
  await election.close();
  await controller.idle();
  replicationClients.close();
  await shutdownGrpcServer(server, 1_000);
  await metadata.close();
  await metrics.close();
  log.info('Coordinator stopped');
}
