/**
 * RANGE keyspaces and splits against a real etcd: a coordinator (controller, election, Admin and
 * Coordination services, in this process) creates a RANGE keyspace with split keys, splits it
 * through Admin.SplitPartition, and every bad request is refused with nothing written (the
 * records' mod revisions in etcd do not move). No data node runs: three registrations are
 * written directly, so placement assigns partitions to them and their leaders count as live;
 * nothing here needs a data node to answer (e2e tests split with real data nodes).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { sendUnaryData, ServerUnaryCall, ServiceError } from '@grpc/grpc-js';
import {
  AckPolicy,
  NodeRegistration,
  PartitionRecord,
  PartitionScheme,
  type AdminServer,
  type CoordinationServer,
  type CreateKeyspaceRequest,
  type SplitPartitionRequest,
} from '@quire/proto';
import { Failpoints, defaultLimits, fromGrpcError, keyspaceKey, nodeKey, partitionKey, seededRng, silentLogger, systemClock, type QuireError } from '@quire/common';
import { RpcMetrics } from '@quire/runtime';
import { FencedWriter, LeaderElection, openMetadataClient, type MetadataClient } from '@quire/metastore';
import { recordingMeter } from '../../runtime/src/testing/recorders.js';
import { CoordinatorController } from './controller.js';
import { createAdminService } from './server/admin-service.js';
import { createCoordinationService } from './server/coordination-service.js';
import { SplitWriter } from './split-writer.js';

const nodes = ['n1', 'n2', 'n3'];

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function eventually<T>(what: string, timeoutMs: number, condition: () => T | undefined | false | Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Calls a unary handler as gRPC would; resolves with the answer or the typed error decoded from the status. */
function callUnary<Req, Res>(handler: (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void, request: Req): Promise<{ response?: Res; error?: QuireError }> {
  return new Promise((resolve) => {
    const callback: sendUnaryData<Res> = (err, response) => (err === null ? resolve(response === null || response === undefined ? {} : { response }) : resolve({ error: fromGrpcError(err as ServiceError, 'coordinator') }));
    handler({ request, cancelled: false, getDeadline: () => Number.POSITIVE_INFINITY } as unknown as ServerUnaryCall<Req, Res>, callback);
  });
}

describe('RANGE keyspaces and splits against etcd', () => {
  let etcdProcess: ChildProcess | undefined;
  let dataDir = '';
  let metadata: MetadataClient;
  let election: LeaderElection;
  let controller: CoordinatorController;
  let admin: AdminServer;
  let coordination: CoordinationServer;
  let meter: ReturnType<typeof recordingMeter>;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'quire-split-int-'));
    const [clientPort, peerPort] = [await freePort(), await freePort()];
    const client = `127.0.0.1:${clientPort}`;
    const peer = `127.0.0.1:${peerPort}`;
    etcdProcess = spawn(process.env.QUIRE_ETCD_BIN ?? 'etcd', [
      '--name', 'split-int', '--data-dir', join(dataDir, 'etcd'),
      '--listen-client-urls', `http://${client}`, '--advertise-client-urls', `http://${client}`,
      '--listen-peer-urls', `http://${peer}`, '--initial-advertise-peer-urls', `http://${peer}`,
      '--initial-cluster', `split-int=http://${peer}`, '--initial-cluster-state', 'new',
    ], { stdio: 'ignore' });
    await eventually('etcd healthy', 30_000, async () => {
      try {
        const res = await fetch(`http://${client}/health`, { signal: AbortSignal.timeout(1_000) });
        return res.ok && ((await res.json()) as { health?: string }).health === 'true';
      } catch {
        return false;
      }
    });
    metadata = await openMetadataClient([client], silentLogger);
    const { etcd, view, watcher } = metadata;
    // Three data node registrations (no process behind them): placement uses them, and their partitions count as led.
    for (const [i, nodeId] of nodes.entries()) {
      await etcd.put(nodeKey(nodeId)).value(Buffer.from(NodeRegistration.encode({ nodeId, address: `127.0.0.1:${1 + i}`, metricsAddress: '', startedAtMs: 0, version: 'test', partitionsMax: 0, zone: '' }).finish()));
    }
    meter = recordingMeter();
    controller = new CoordinatorController(
      {
        nodesMin: 3,
        defaultPartitions: 2,
        replicationFactor: 3,
        minIsr: 2,
        ackPolicy: AckPolicy.ACK_POLICY_SYNC,
        reconcileIntervalMs: 500,
        failoverLogEndDeadlineMs: 100,
        failoverRetryMs: 200,
        failoverPartitionsMax: 64,
        moves: { autoRebalance: false, nodeDeadAfterMs: 600_000, movesPerNodeMax: 2, catchUpTimeoutMs: 60_000, leaderBalanceDelayMs: 600_000, transferRetryMs: 10_000 },
      },
      {
        view,
        watcher,
        writer: new FencedWriter(etcd),
        logEnds: { logEnd: () => Promise.resolve(undefined) },
        clock: systemClock,
        rng: seededRng(7),
        log: silentLogger,
        meter: meter.meter,
        onFenced: () => election.fenced(),
        failpoints: Failpoints.disabled(),
        handOver: { handOver: () => Promise.reject(new Error('no data node in this test')) },
      },
    );
    const splits = new SplitWriter({ view, watcher, writer: controller, limits: defaultLimits, meter: meter.meter, log: silentLogger });
    admin = createAdminService(
      view,
      () => controller.isLeader,
      defaultLimits,
      new RpcMetrics(meter.meter, 'coordinator', 'admin'),
      systemClock,
      { handOver: { handOver: () => Promise.reject(new Error('no data node in this test')) }, log: silentLogger },
      { writer: controller, defaults: { replicationFactor: 3, ackPolicy: AckPolicy.ACK_POLICY_SYNC } },
      { rebalance: () => Promise.resolve([]), inFlightCount: () => 0 },
      splits,
    );
    coordination = createCoordinationService({ view, watcher, writer: controller, limits: defaultLimits, metrics: new RpcMetrics(meter.meter, 'coordinator', 'coordination'), meter: meter.meter, clock: systemClock, log: silentLogger, splits });
    election = new LeaderElection(etcd, { coordinatorId: 'c1', address: '127.0.0.1:1' }, 5, { onElected: (term) => controller.onElected(term), onDeposed: () => controller.onDeposed() }, silentLogger);
    election.start();
    await eventually('the default keyspace placed', 30_000, () => view.keyspace('default')?.partitions.every((p) => p !== undefined));
  });

  afterAll(async () => {
    await election?.close();
    await controller?.idle();
    await metadata?.close();
    etcdProcess?.kill('SIGTERM');
    if (dataDir !== '') await rm(dataDir, { recursive: true, force: true });
  });

  /** Mod revisions of the keyspace record and every partition record of `r`, as etcd has them. */
  async function revisionsInEtcd(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    const ks = await metadata.etcd.get(keyspaceKey('r')).exec();
    for (const kv of ks.kvs) out[kv.key.toString()] = kv.mod_revision;
    const parts = await metadata.etcd.getAll().prefix(partitionKey('r', 0).slice(0, -5)).exec();
    for (const kv of parts.kvs) out[kv.key.toString()] = kv.mod_revision;
    return out;
  }

  async function recordInEtcd(id: number): Promise<PartitionRecord> {
    const value = await metadata.etcd.get(partitionKey('r', id)).buffer();
    if (value === null) throw new Error(`no record for r/${id}`);
    return PartitionRecord.decode(value);
  }

  const split = (request: Partial<SplitPartitionRequest>) => callUnary(admin.splitPartition, { keyspace: 'r', at: Buffer.alloc(0), ...request } as SplitPartitionRequest);

  it('creates a RANGE keyspace whose partitions are placed with the ranges of its split keys', async () => {
    const request: CreateKeyspaceRequest = { keyspace: 'r', scheme: PartitionScheme.PARTITION_SCHEME_RANGE, partitionCount: 0, replicationFactor: 3, ackPolicy: AckPolicy.ACK_POLICY_UNSPECIFIED, minIsr: 0, splitKeys: [Buffer.from('g'), Buffer.from('p')] };
    const { response, error } = await callUnary(admin.createKeyspace, request);
    expect(error).toBeUndefined();
    expect(response?.map).toMatchObject({ keyspace: 'r', scheme: PartitionScheme.PARTITION_SCHEME_RANGE, partitionCount: 3 });
    expect(response?.map?.partitions.map((p) => [p.partitionId, p.startKey.toString(), p.endKey.toString(), p.leaderLive])).toEqual([
      [0, '', 'g', true],
      [1, 'g', 'p', true],
      [2, 'p', '', true],
    ]);
    expect((await recordInEtcd(1))).toMatchObject({ startKey: Buffer.from('g'), endKey: Buffer.from('p'), epoch: 1 });
    // split_keys with HASH, and a partition count that is not len + 1, are refused.
    expect((await callUnary(admin.createKeyspace, { ...request, keyspace: 'h', scheme: PartitionScheme.PARTITION_SCHEME_HASH, partitionCount: 2 })).error?.details.field).toBe('split_keys');
    expect((await callUnary(admin.createKeyspace, { ...request, keyspace: 'r2', partitionCount: 5 })).error?.details.field).toBe('partition_count');
  });

  it('refuses every bad split with nothing written', async () => {
    const before = await revisionsInEtcd();
    expect(Object.keys(before)).toHaveLength(4);
    const cases: [Partial<SplitPartitionRequest>, string, string | undefined][] = [
      [{ keyspace: 'nope', at: Buffer.from('k') }, 'KEYSPACE_NOT_FOUND', 'keyspace'],
      [{ keyspace: '', at: Buffer.from('k') }, 'INVALID_ARGUMENT', 'keyspace'],
      [{ keyspace: 'default', at: Buffer.from('k') }, 'INVALID_ARGUMENT', 'keyspace'],
      [{ at: Buffer.alloc(0) }, 'INVALID_ARGUMENT', 'at'],
      [{ at: Buffer.alloc(4097, 0x61) }, 'INVALID_ARGUMENT', 'at'],
      [{ at: Buffer.from('g') }, 'INVALID_ARGUMENT', 'at'],
      [{ at: Buffer.from('z'), partitionId: 1 }, 'INVALID_ARGUMENT', 'at'],
      [{ at: Buffer.from('p'), partitionId: 1 }, 'INVALID_ARGUMENT', 'at'],
      [{ at: Buffer.from('k'), partitionId: 9 }, 'INVALID_ARGUMENT', 'partition_id'],
    ];
    for (const [request, code, field] of cases) {
      const { error } = await split(request);
      expect([error?.code, error?.details.field], JSON.stringify(request)).toEqual([code, field]);
    }
    expect(await revisionsInEtcd()).toEqual(before);
  });

  it('refuses PARTITION_UNAVAILABLE while the leader is not registered, with nothing written', async () => {
    const leader = (await recordInEtcd(1)).leader;
    const registration = await metadata.etcd.get(nodeKey(leader)).buffer();
    const before = await revisionsInEtcd();
    await metadata.etcd.delete().key(nodeKey(leader));
    await eventually('the view without the leader', 5_000, () => !metadata.view.nodes.has(leader));
    const { error } = await split({ at: Buffer.from('k') });
    expect(error?.code).toBe('PARTITION_UNAVAILABLE');
    await metadata.etcd.put(nodeKey(leader)).value(registration!);
    await eventually('the view with the leader', 5_000, () => metadata.view.nodes.has(leader));
    expect(await revisionsInEtcd()).toEqual(before);
  });

  it('splits through Admin.SplitPartition in one fenced change, then refuses to split either half until the new one is carved', async () => {
    const parentBefore = await recordInEtcd(1);
    const { response, error } = await split({ at: Buffer.from('k'), partitionId: 1 });
    expect(error).toBeUndefined();
    expect(response).toMatchObject({ leftPartitionId: 1, rightPartitionId: 3, epoch: parentBefore.epoch + 1 });
    const parent = await recordInEtcd(1);
    const child = await recordInEtcd(3);
    expect(parent).toEqual({ ...parentBefore, epoch: parentBefore.epoch + 1, endKey: Buffer.from('k') });
    expect(child).toEqual({
      ...parentBefore,
      partitionId: 3,
      epoch: parentBefore.epoch + 1,
      startKey: Buffer.from('k'),
      endKey: Buffer.from('p'),
      isr: [parentBefore.leader],
      splitFrom: { parentPartitionId: 1, parentEpoch: parentBefore.epoch + 1 },
    });
    const revisions = await revisionsInEtcd();
    // One transaction: the three records share its revision.
    expect(new Set([revisions[keyspaceKey('r')], revisions[partitionKey('r', 1)], revisions[partitionKey('r', 3)]])).toEqual(new Set([String(response!.revision)]));
    expect(meter.sum('quire_coordinator_splits', { reason: 'manual' })).toBe(1);

    const map = await callUnary(admin.getPartitionMap, { keyspace: 'r' });
    expect(map.response?.map?.partitionCount).toBe(4);
    expect(map.response?.map?.partitions.map((p) => [p.startKey.toString(), p.endKey.toString()])).toEqual([['', 'g'], ['g', 'k'], ['p', ''], ['k', 'p']]);

    for (const at of ['h', 'm']) {
      const refused = await split({ at: Buffer.from(at) });
      expect(refused.error?.code).toBe('FAILED_PRECONDITION');
      expect(refused.error?.message).toMatch(/earlier split .* is still being carved/);
    }
    expect(await revisionsInEtcd()).toEqual(revisions);
  });

  it('clears splitFrom when a follower joins the new partition\'s ISR (AlterIsr), after which the parent splits again', async () => {
    const child = metadata.view.keyspace('r')!.partitions[3]!;
    const follower = child.record.replicas.find((n) => n !== child.record.leader)!;
    const { response, error } = await callUnary(coordination.alterIsr, {
      keyspace: 'r',
      partitionId: 3,
      epoch: child.record.epoch,
      leaderNodeId: child.record.leader,
      isr: [child.record.leader, follower],
      recordRevision: child.modRevision,
    });
    expect(error).toBeUndefined();
    expect(response?.record).toMatchObject({ splitFrom: undefined, epoch: child.record.epoch, startKey: Buffer.from('k'), endKey: Buffer.from('p') });
    expect((await recordInEtcd(3)).splitFrom).toBeUndefined();
    await eventually('the view with the ISR change', 5_000, () => metadata.view.keyspace('r')!.partitions[3]!.record.splitFrom === undefined);
    const again = await split({ at: Buffer.from('h') });
    expect(again.error).toBeUndefined();
    expect(again.response?.rightPartitionId).toBe(4);
  });

  it('drops the keyspace: the controller deletes every partition record, those made by splits included', async () => {
    const { error } = await callUnary(admin.dropKeyspace, { keyspace: 'r' });
    expect(error).toBeUndefined();
    await eventually('the partition records deleted', 10_000, async () => Object.keys(await revisionsInEtcd()).length === 0);
  });
});
