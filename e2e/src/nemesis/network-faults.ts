/**
 * Network faults with iptables inside the cluster's namespaces (§6.2–6.3 of the test plan):
 * partitions by grudge — one node, halves, majorities ring, bridge, each partition leader
 * isolated, one node cut from etcd only — and random packet loss. Only processes in the
 * harness's own namespaces are ever affected; the driver (workload clients) keeps its links.
 * The node cut from etcd and the hosts losing packets can be chosen by a TargetSelector (e.g.
 * the leader of a partition, read from the cluster status at the moment of the fault).
 */
import type { QuireClient } from '@quire/client';
import type { Rng } from '@quire/common';
import { type ChaosCluster } from '../harness/chaos-cluster.js';
import { bridge, cutLinks, cutPairs, halves, isolateEach, isolateOne, majoritiesRing, type Grudge } from './grudge.js';
import { type Nemesis, type NemesisLog } from './nemesis.js';
import { selectTargets, type TargetSelector } from './targets.js';

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

/** Options of a partition nemesis. */
export interface PartitionOptions {
  /** Process ids the grudge is drawn over (default: every server process — data nodes, coordinators, routers, etcd). */
  readonly participants?: readonly string[];
  /** etcd-only: the data node cut from etcd (default: one at random). */
  readonly victim?: TargetSelector;
  /**
   * etcd-only: more processes cut from etcd with the victim — a router, say, whose partition
   * map then stays stale, so it keeps sending the victim requests after a failover.
   */
  readonly alsoCut?: readonly string[];
}

/** "keyspace/partition" for every partition `nodeId` leads in the cluster status. */
export async function partitionsLedBy(client: QuireClient, nodeId: string): Promise<string[]> {
  const status = await client.clusterStatus();
  return status.keyspaces.flatMap((k) => k.partitions.filter((p) => p.leader === nodeId).map((p) => `${k.keyspace}/${p.partitionId}`));
}

/**
 * Partitions the cluster by a grudge of the given mode; stop() and heal() flush every rule.
 * etcd-only records the partitions its victim leads when the cut starts (`leadsAtStart`) and
 * just before it is healed (`leadsAtStop`), so a run can tell that they failed over.
 */
export class PartitionNemesis implements Nemesis {
  readonly name: string;
  private readonly options: PartitionOptions;
  /** The etcd-only victim of the fault in force. */
  private victim: string | undefined;

  constructor(
    private readonly deps: NetworkNemesisDeps,
    readonly mode: PartitionMode,
    options: PartitionOptions = {},
  ) {
    this.name = `partition-${mode}`;
    this.options = options;
  }

  private async grudge(): Promise<Grudge> {
    const { cluster, rng } = this.deps;
    const nodes = this.options.participants ?? cluster.processes.map((p) => p.id);
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
        const [victim] = await selectTargets(cluster, this.options.victim ?? { kind: 'one', role: 'datanode' }, rng, this.deps.client);
        if (victim === undefined) throw new Error('No data node to cut from etcd');
        this.victim = victim.id;
        return cutLinks([victim.id, ...(this.options.alsoCut ?? [])], cluster.byRole('etcd').map((e) => e.id));
      }
    }
  }

  /** The partitions the etcd-only victim leads now, when a client can tell. */
  private async victimLeads(): Promise<Record<string, unknown>> {
    if (this.victim === undefined || this.deps.client === undefined) return {};
    try {
      return { victim: this.victim, leads: await partitionsLedBy(this.deps.client, this.victim) };
    } catch (err) {
      return { victim: this.victim, leadsError: (err as Error).message };
    }
  }

  async start(): Promise<void> {
    const net = network(this.deps.cluster);
    let pairs: [string, string][] = [];
    this.victim = undefined;
    try {
      pairs = cutPairs(await this.grudge());
      const before = await this.victimLeads();
      for (const [dropper, source] of pairs) {
        const d = this.deps.cluster.process(dropper).host;
        const s = this.deps.cluster.process(source).host;
        if (d === undefined || s === undefined) throw new Error(`${dropper} or ${source} has no namespace`);
        await net.drop(d, s);
      }
      const targets = [...new Set(pairs.flat())].sort();
      this.deps.log.record(this.name, 'start', targets, true, { cut: pairs.map(([a, b]) => `${a}<-${b}`), ...renameLeads(before, 'leadsAtStart') });
    } catch (err) {
      this.victim = undefined;
      this.deps.log.record(this.name, 'start', [], false, { error: (err as Error).message, cut: pairs.map(([a, b]) => `${a}<-${b}`) });
      await net.heal();
    }
  }

  async stop(): Promise<void> {
    const after = await this.victimLeads();
    this.victim = undefined;
    await network(this.deps.cluster).heal();
    this.deps.log.record(this.name, 'stop', [], true, renameLeads(after, 'leadsAtStop'));
  }

  async heal(): Promise<void> {
    await this.stop();
  }
}

function renameLeads(details: Record<string, unknown>, key: string): Record<string, unknown> {
  const { leads, ...rest } = details;
  return leads === undefined ? rest : { ...rest, [key]: leads };
}

/**
 * Drops incoming packets at random on the chosen processes' hosts: named ids, or a selector
 * resolved at each fault (the leader of a partition moves between faults).
 */
export class PacketLossNemesis implements Nemesis {
  readonly name = 'packet-loss';
  private readonly selector: TargetSelector;
  private lossy: readonly string[] = [];

  constructor(
    private readonly deps: NetworkNemesisDeps,
    targets: readonly string[] | TargetSelector,
    private readonly probability: number,
  ) {
    this.selector = 'kind' in targets ? targets : { kind: 'ids', ids: targets };
  }

  async start(): Promise<void> {
    const net = network(this.deps.cluster);
    let ids: string[] = [];
    try {
      ids = (await selectTargets(this.deps.cluster, this.selector, this.deps.rng, this.deps.client)).map((p) => p.id);
      this.lossy = ids;
      for (const id of ids) {
        const host = this.deps.cluster.process(id).host;
        if (host === undefined) throw new Error(`${id} has no namespace`);
        await net.loss(host, this.probability);
      }
      this.deps.log.record(this.name, 'start', ids, true, { probability: this.probability, selector: this.selector.kind });
    } catch (err) {
      this.deps.log.record(this.name, 'start', ids, false, { error: (err as Error).message });
      await net.heal();
    }
  }

  async stop(): Promise<void> {
    await network(this.deps.cluster).heal();
    this.deps.log.record(this.name, 'stop', this.lossy, true);
    this.lossy = [];
  }

  async heal(): Promise<void> {
    await this.stop();
  }
}
