/**
 * Entry point of `quire datanode`: reads the configuration, opens storage, loads the
 * cluster metadata from etcd, serves the internal DataNode service, registers in etcd under
 * a lease, and on SIGTERM/SIGINT hands the partitions it leads over to in-sync followers
 * (RFC 0001 "Leadership transfer"), deregisters, stops taking requests, lets every accepted
 * write become durable and exits.
 */
import { join } from 'node:path';
import { DataNodeService } from '@quire/proto';
import { quireVersion, systemClock, type Env, type Logger, type MetadataView } from '@quire/common';
import { guardService, killSelf, runServerProcess } from '@quire/runtime';
import { NodeRegistrar, openMetadataClient } from '@quire/metastore';
import { loadDataNodeConfig } from './config.js';
import { DataNode, gateOf } from './node.js';
import { loadIdentity, writeIdentity, type NodeIdentity } from './node-identity.js';
import { createDataService } from './server/data-service.js';
import { createReplicationService } from './server/replication-service.js';
import { replicationServiceDefinition } from './server/snapshot-wire.js';
import { CoordinationCaller } from './replicate/coordination-client.js';
import { snapshotSourceDefaults } from './replicate/snapshot-source.js';
import { chooseStorageEngine } from './storage/engine-choice.js';
import { openLmdbEngine } from './storage/lmdb-engine.js';
import { openWalEngine } from './storage/wal-engine.js';

/** Keys per scan chunk sent to routers. */
const scanChunkKeysMax = 512;
/** Bytes per scan chunk sent to routers. */
const scanChunkBytesMax = 1024 * 1024;

/**
 * Binds the data directory to the cluster the first time the cluster record is seen, and
 * exits if the directory belongs to another cluster. Returns the view listener that does it and
 * the cluster id the directory is bound to ('' until then).
 */
function bindToCluster(dataDir: string, identity: NodeIdentity, view: MetadataView, log: Logger): { bind: () => void; boundClusterId: () => string } {
  let current = identity;
  const bind = (): void => {
    const clusterId = view.cluster?.clusterId;
    if (clusterId === undefined || clusterId === current.clusterId) return;
    if (current.clusterId !== '') {
      log.error('This data directory belongs to another cluster; refusing to serve', {
        storedClusterId: current.clusterId,
        etcdClusterId: clusterId,
        dataDir,
      });
      process.exit(1);
    }
    current = { ...current, clusterId };
    writeIdentity(dataDir, current);
    log.info('Joined cluster', { clusterId });
  };
  return { bind, boundClusterId: () => current.clusterId };
}

/** Runs a data node until SIGINT/SIGTERM. */
export async function runDataNode(argv: readonly string[], env: Env): Promise<void> {
  const config = loadDataNodeConfig(argv, env);
  const identity = loadIdentity(config.dataDir, config.nodeId, systemClock.nowMs());
  const nodeId = identity.nodeId;
  await runServerProcess({ component: 'datanode', instanceId: nodeId, logFields: { nodeId }, config, env }, async ({ log, failpoints, metrics, server, clock, closeAtExit }) => {
    const skipFsync = failpoints.isOn('datanode.storage.skipFsync');
    /** The node, once built: the WAL engine asks it to trim logs (onLogTrimWanted). */
    let trimTarget: DataNode | undefined;
    const chosen = chooseStorageEngine(config.dataDir, config.storageEngine);
    log.info('Opening storage', { storageEngine: chosen.engine, because: chosen.reason });
    const engine =
      chosen.engine === 'wal'
        ? await openWalEngine({
            lmdbPath: join(config.dataDir, 'lmdb'),
            walDir: join(config.dataDir, 'wal'),
            partitionsMax: config.partitionsMax,
            walRetentionBytes: config.walRetentionBytes,
            onLogTrimWanted: (p) => trimTarget?.trimLogFor(p.keyspace, p.partitionId),
            skipFsync,
            beforeWalSync: () => gateOf(failpoints, 'datanode.wal.beforeSync'),
            onFatal: (err) => killSelf(log, 'A storage apply transaction failed; stopping so no unsynced state is served', { err: String(err) }),
          })
        : openLmdbEngine({ path: join(config.dataDir, 'lmdb'), partitionsMax: config.partitionsMax, skipFsync });
    closeAtExit('storage', () => engine.close());

    const metadata = await openMetadataClient(config.etcdEndpoints, log);
    closeAtExit('etcd', () => metadata.close());
    const { etcd, view } = metadata;
    const { bind, boundClusterId } = bindToCluster(config.dataDir, identity, view, log);
    view.subscribe(bind);
    bind();

    const coordination = new CoordinationCaller();
    closeAtExit('coordinator channels', () => coordination.close());
    // Created once the server is bound (it registers the address); reads wait for its lease.
    let registrar: NodeRegistrar | undefined = undefined;
    const node = new DataNode(
      {
        nodeId,
        limits: config.limits,
        partitionsMax: config.partitionsMax,
        writeQueueOpsMax: config.writeQueueOpsMax,
        writeBatchOpsMax: config.writeBatchOpsMax,
        ...(config.commitLingerUs === 0 ? {} : { commitPacing: { opsMin: config.commitOpsMin, lingerMs: config.commitLingerUs / 1000 } }),
        logRetainEntries: config.logRetainEntries,
        pendingEntriesMax: config.pendingEntriesMax,
        pendingBytesMax: config.pendingBytesMax,
        dedupWindowMs: config.dedupWindowMs,
        dedupEntriesMax: config.dedupEntriesMax,
        scanChunkKeysMax,
        scanChunkBytesMax,
        isrLagTimeMs: config.isrLagTimeMs,
        followerSilenceMs: config.followerSilenceMs,
        newReplicaSnapshotEntries: config.newReplicaSnapshotEntries,
        followerReads: { sessionReadWaitMs: config.sessionReadWaitMs, sessionReadWaitersMax: config.sessionReadWaitersMax },
        splits: config.splits,
      },
      {
        engine,
        view,
        clock,
        log,
        meter: metrics.meter,
        schedule: setImmediate,
        onFatal: (err) => killSelf(log, 'A storage commit failed; stopping so no unsynced state is served', { err: String(err) }),
        failpoints,
        snapshotSource: { ...snapshotSourceDefaults, bytesPerSecond: config.snapshotBytesPerSecond },
        // Replicas the view no longer gives this node are deleted only while it names this cluster.
        boundClusterId,
        alterIsr: (address, request) => coordination.alterIsr(address, request),
        transferLeader: (address, request) => coordination.transferLeader(address, request),
        requestSplit: (address, request) => coordination.requestSplit(address, request),
        leaseHolds: () => {
          const revision = registrar?.registrationRevision ?? 0;
          return revision > 0 && view.revision >= revision && performance.now() < (registrar?.leaseHeldUntilMs ?? 0);
        },
      },
    );
    trimTarget = node;
    node.openOwnedPartitions();
    view.subscribe(() => node.openOwnedPartitions());

    server.addService(...guardService(DataNodeService, createDataService(node, { streamOpsInFlightMax: config.streamOpsInFlightMax, limits: config.limits }, log)));
    server.addService(...guardService(replicationServiceDefinition, createReplicationService(node, nodeId, log)));

    return {
      started: async (address) => {
        registrar = new NodeRegistrar(etcd, { nodeId, address, metricsAddress: metrics.address, startedAtMs: clock.nowMs(), version: quireVersion, partitionsMax: config.partitionsMax, zone: config.zone }, config.leaseTtlSeconds, log);
        await registrar.start();
        return { dataDir: config.dataDir, storageEngine: chosen.engine, storedPartitions: engine.storedPartitions().length };
      },
      stop: async () => {
        // Hand every led partition with a live in-sync follower over first, so its writes pause
        // briefly instead of waiting for a failover; the rest fail over once the node is gone.
        // Bounded by --shutdown-grace-ms: hand-overs still running then keep their partitions
        // fenced (they are refused, never served twice) and fail over like the others.
        if (config.shutdownGraceMs > 0) {
          await withinGrace(
            node.handOvers.handOverAll(config.shutdownGraceMs).catch((err: unknown) => log.warn('Handing leaderships over failed', { err: String(err) })),
            config.shutdownGraceMs,
            () => log.warn('Shutdown grace ran out while handing leaderships over', { shutdownGraceMs: config.shutdownGraceMs }),
          );
        }
        // Deregister so the coordinator sees the node leave (and leaders drop it from their ISRs
        // at once); then finish accepted writes.
        await registrar?.close();
        // Accepted writes get up to --shutdown-grace-ms to become durable and be answered; after
        // that the streams close and their callers see AMBIGUOUS_RESULT (never a false failure).
        await withinGrace(node.stop(), config.shutdownGraceMs, () =>
          log.warn('Shutdown grace ran out with writes still in flight', { shutdownGraceMs: config.shutdownGraceMs }),
        );
        // Let the last results leave (they are flushed after the current turn); runServerProcess
        // then closes the streams, the coordinator channels, etcd and storage.
        await new Promise((resolve) => setTimeout(resolve, 50));
      },
    };
  });
}

/** Waits for `work`, or for `graceMs` to pass (then calls `onTimeout` and stops waiting). */
async function withinGrace(work: Promise<unknown>, graceMs: number, onTimeout: () => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    work,
    new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        onTimeout();
        resolve();
      }, graceMs);
    }),
  ]);
  clearTimeout(timer);
}
