/**
 * Entry point of `quire coordinator`: loads the metadata view, campaigns for leadership,
 * serves Admin and Coordination, and while elected runs the controller (bootstrap, placement,
 * failover). On SIGTERM/SIGINT it resigns (a standby takes over at once) and exits.
 */
import { AdminService, CoordinationService, type CoordinatorLeaderRecord } from '@quire/proto';
import { ackPolicyFromName, type Env } from '@quire/common';
import { RpcMetrics, guardService, runServerProcess } from '@quire/runtime';
import { FencedWriter, LeaderElection, openMetadataClient } from '@quire/metastore';
import { loadCoordinatorConfig } from './config.js';
import { CoordinatorController } from './controller.js';
import { HandOverClient } from './hand-over-client.js';
import { FollowerProgressClient } from './follower-progress-client.js';
import { LogEndClient } from './log-end-client.js';
import { ReplicationClients } from './replication-clients.js';
import { createAdminService } from './server/admin-service.js';
import { createCoordinationService } from './server/coordination-service.js';
import { SplitWriter } from './split-writer.js';

/** How long a replica move waits for a requested hand-over before asking the leader again. */
const moveTransferRetryMs = 10_000;

/** Runs a coordinator until SIGINT/SIGTERM. */
export async function runCoordinator(argv: readonly string[], env: Env): Promise<void> {
  const config = loadCoordinatorConfig(argv, env);
  const spec = { component: 'coordinator', instanceId: config.coordinatorId, logFields: { coordinatorId: config.coordinatorId }, config, env } as const;
  await runServerProcess(spec, async ({ log, failpoints, metrics, server, clock, rng, closeAtExit }) => {
    const metadata = await openMetadataClient(config.etcdEndpoints, log);
    closeAtExit('etcd', () => metadata.close());
    const { etcd, view, watcher } = metadata;

    let election: LeaderElection | undefined;
    const replicationClients = new ReplicationClients(view);
    closeAtExit('data node channels', () => replicationClients.close());
    const logEnds = new LogEndClient(replicationClients, clock, log);
    const followerProgress = new FollowerProgressClient(replicationClients, clock, log);
    const handOver = new HandOverClient(clock);
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
        moves: {
          autoRebalance: config.autoRebalance,
          nodeDeadAfterMs: config.nodeDeadAfterMs,
          movesPerNodeMax: config.movesPerNodeMax,
          catchUpTimeoutMs: config.moveCatchUpTimeoutMs,
          leaderBalanceDelayMs: config.leaderBalanceDelayMs,
          transferRetryMs: moveTransferRetryMs,
        },
      },
      {
        view,
        watcher,
        writer: new FencedWriter(etcd),
        logEnds,
        clock,
        rng,
        log,
        meter: metrics.meter,
        onFenced: () => election?.fenced(),
        failpoints,
        handOver,
      },
    );

    const splits = new SplitWriter({ view, watcher, writer: controller, limits: config.limits, meter: metrics.meter, log });
    server.addService(
      ...guardService(
        AdminService,
        createAdminService(view, () => controller.isLeader, config.limits, new RpcMetrics(metrics.meter, 'coordinator', 'admin'), clock, {
          handOver,
          log,
          followerProgress,
          followerProgressDeadlineMs: config.statusProgressDeadlineMs,
        }, {
          writer: controller,
          defaults: { replicationFactor: config.replicationFactor, ackPolicy: ackPolicyFromName(config.ackPolicy) },
        }, {
          rebalance: (dryRun) => controller.rebalance(dryRun),
          inFlightCount: () => controller.moves.inFlight().length,
        }, splits),
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
          clock,
          log,
          splits,
        }),
      ),
    );

    return {
      started: async (address) => {
        const record: CoordinatorLeaderRecord = { coordinatorId: config.coordinatorId, address };
        election = new LeaderElection(etcd, record, config.leaseTtlSeconds, { onElected: (term) => controller.onElected(term), onDeposed: () => controller.onDeposed() }, log);
        election.start();
        return undefined;
      },
      stop: async () => {
        // Resign first, so a standby takes over at once; then let the controller finish its pass.
        await election?.close();
        await controller.idle();
      },
      serverGraceMs: 1_000,
    };
  });
}
