/**
 * Network faults with iptables inside the cluster's namespaces (§6.2–6.3 of the test plan):
 * partitions by grudge — one node, halves, majorities ring, bridge, each partition leader
 * isolated, one node cut from etcd only — and random packet loss. Only processes in the
 * harness's own namespaces are ever affected; the driver (workload clients) keeps its links.
 */
import type { QuireClient } from '@quire/client';
import type { Rng } from '@quire/common';
import { type ChaosCluster } from '../harness/chaos-cluster.js';
import { bridge, cutLinks, cutPairs, halves, isolateEach, isolateOne, majoritiesRing, type Grudge } from './grudge.js';
import { type Nemesis, type NemesisLog } from './nemesis.js';
import { pick } from './targets.js';

/** The partition shapes. */
export type PartitionMode = 'one' | 'halves' | 'majorities-ring' | 'bridge' | 'isolate-leaders' | 'etcd-only';

/** What a network nemesis needs. */
export interface NetworkNemesisDeps {
  readonly cluster: ChaosCluster;
  readonly log: NemesisLog;
  readonly rng: Rng;
  /** For isolate-leaders: reads the partition leaders at the moment of the fault. */
  readonly client?: QuireClient;
}

function network(cluster: ChaosCluster): NonNullable<ChaosCluster['network']> {
  if (cluster.network === undefined) throw new Error('Network faults need a cluster started with namespaces: true');
  return cluster.network;
}

/** Partitions the cluster by a grudge of the given mode; stop() and heal() flush every rule. */
export class PartitionNemesis implements Nemesis {
  readonly name: string;

  constructor(
    private readonly deps: NetworkNemesisDeps,
    readonly mode: PartitionMode,
    /** Process ids the grudge is drawn over (default: every server process — data nodes, coordinators, routers, etcd). */
    private readonly participants?: readonly string[],
  ) {
    this.name = `partition-${mode}`;
  }

  private async grudge(): Promise<Grudge> {
    const { cluster, rng } = this.deps;
    const nodes = this.participants ?? cluster.processes.map((p) => p.id);
    switch (this.mode) {
      case 'one':
        return isolateOne(nodes, rng);
      case 'halves':
        return halves(nodes, rng);
      case 'majorities-ring':
        return majoritiesRing(nodes, rng);
      case 'bridge':
        return bridge(nodes, rng);
      case 'isolate-leaders': {
        if (this.deps.client === undefined) throw new Error('isolate-leaders needs a client to read the leaders');
        const status = await this.deps.client.clusterStatus();
        const leaders = [...new Set(status.keyspaces.flatMap((k) => k.partitions.map((p) => p.leader)).filter((l) => l !== ''))];
        return isolateEach(nodes, leaders);
      }
      case 'etcd-only': {
        const [victim] = pick(cluster.byRole('datanode'), 1, rng);
        if (victim === undefined) throw new Error('No data node to cut from etcd');
        return cutLinks(victim.id, cluster.byRole('etcd').map((e) => e.id));
      }
    }
  }

  async start(): Promise<void> {
    const net = network(this.deps.cluster);
    let pairs: [string, string][] = [];
    try {
      pairs = cutPairs(await this.grudge());
      for (const [dropper, source] of pairs) {
        const d = this.deps.cluster.process(dropper).host;
        const s = this.deps.cluster.process(source).host;
        if (d === undefined || s === undefined) throw new Error(`${dropper} or ${source} has no namespace`);
        await net.drop(d, s);
      }
      const targets = [...new Set(pairs.flat())].sort();
      this.deps.log.record(this.name, 'start', targets, true, { cut: pairs.map(([a, b]) => `${a}<-${b}`) });
    } catch (err) {
      this.deps.log.record(this.name, 'start', [], false, { error: (err as Error).message, cut: pairs.map(([a, b]) => `${a}<-${b}`) });
      await net.heal();
    }
  }

  async stop(): Promise<void> {
    await network(this.deps.cluster).heal();
    this.deps.log.record(this.name, 'stop', [], true);
  }

  async heal(): Promise<void> {
    await this.stop();
  }
}

/** Drops incoming packets at random on the chosen processes' hosts. */
export class PacketLossNemesis implements Nemesis {
  readonly name = 'packet-loss';

  constructor(
    private readonly deps: NetworkNemesisDeps,
    private readonly targets: readonly string[],
    private readonly probability: number,
  ) {}

  async start(): Promise<void> {
    const net = network(this.deps.cluster);
    try {
      for (const id of this.targets) {
        const host = this.deps.cluster.process(id).host;
        if (host === undefined) throw new Error(`${id} has no namespace`);
        await net.loss(host, this.probability);
      }
      this.deps.log.record(this.name, 'start', this.targets, true, { probability: this.probability });
    } catch (err) {
      this.deps.log.record(this.name, 'start', this.targets, false, { error: (err as Error).message });
      await net.heal();
    }
  }

  async stop(): Promise<void> {
    await network(this.deps.cluster).heal();
    this.deps.log.record(this.name, 'stop', this.targets, true);
  }

  async heal(): Promise<void> {
    await this.stop();
  }
}
