/**
 * Link faults through the TCP fault proxies a cluster started with `proxies: true` puts in
 * front of its data nodes. A data node advertises its proxy as its address, so every
 * connection *to* it crosses the proxy: routers', the coordinator's and its peers' replication
 * streams. ProxyNemesis applies one of the given kinds — delay with jitter, stall, reset,
 * blackhole, half-open, bandwidth — to the chosen nodes' links, cycling through the kinds from
 * one start to the next; SwizzleClogNemesis runs FoundationDB's swizzle-clog over all of them.
 * stop() and heal() clear them.
 */
import type { QuireClient } from '@quire/client';
import type { Rng } from '@quire/common';
import { type ChaosCluster, type ChaosProcess } from '../harness/chaos-cluster.js';
import { type Nemesis, type NemesisLog } from './nemesis.js';
import { selectTargets, type TargetSelector } from './targets.js';
import { type Fault, type FaultProxy, type SwizzleClogRecord, swizzleClog } from './tcp-proxy.js';

/** What a proxy nemesis needs; the client reads the cluster status for leader-of and follower-only targets. */
export interface ProxyNemesisDeps {
  readonly cluster: ChaosCluster;
  readonly log: NemesisLog;
  readonly rng: Rng;
  readonly client?: QuireClient;
}

/** Applies proxy faults to data node links. */
export class ProxyNemesis implements Nemesis {
  readonly name = 'link-fault';
  private affected: ChaosProcess[] = [];
  private next = 0;

  constructor(
    private readonly deps: ProxyNemesisDeps,
    private readonly selector: TargetSelector,
    private readonly faults: readonly Fault[],
  ) {
    if (faults.length === 0) throw new Error('ProxyNemesis needs at least one fault');
  }

  async start(): Promise<void> {
    const fault = this.faults[this.next++ % this.faults.length] as Fault;
    try {
      const targets = await selectTargets(this.deps.cluster, this.selector, this.deps.rng, this.deps.client);
      for (const p of targets) {
        if (p.proxy === undefined) throw new Error(`${p.id} has no fault proxy; start the cluster with proxies: true`);
        p.proxy.apply(fault);
        this.affected.push(p);
      }
      this.deps.log.record(this.name, 'start', targets.map((p) => p.id), true, { ...fault });
    } catch (err) {
      this.deps.log.record(this.name, 'start', this.affected.map((p) => p.id), false, { error: (err as Error).message, ...fault });
    }
  }

  async stop(): Promise<void> {
    const list = this.affected;
    this.affected = [];
    for (const p of list) p.proxy?.heal();
    this.deps.log.record(this.name, 'stop', list.map((p) => p.id), true);
  }

  async heal(): Promise<void> {
    if (this.affected.length > 0) await this.stop();
  }
}

/** Timing of a swizzle-clog. */
export interface SwizzleClogSettings {
  /** Pause between clogging (and later unclogging) consecutive links. */
  readonly stepMs: number;
  /** How long every chosen link stays clogged after the last one was. */
  readonly holdMs: number;
}

/**
 * FoundationDB's swizzle-clog over the data nodes' proxies: each fault picks a random subset
 * of the links, stalls them one at a time `stepMs` apart, holds, then unstalls them one at a
 * time in another random order (tcp-proxy.ts `swizzleClog`). A stalled link buffers (bounded)
 * instead of dropping, so connections survive it: the peers see a link go silent, not break.
 * start() returns once the first link is stalled; stop() aborts what is left of the sequence,
 * unstalling every link still stalled, and records the orders.
 */
export class SwizzleClogNemesis implements Nemesis {
  readonly name = 'swizzle-clog';
  private running: { readonly abort: AbortController; readonly done: Promise<SwizzleClogRecord>; readonly links: readonly string[] } | undefined;

  constructor(
    private readonly deps: ProxyNemesisDeps,
    private readonly settings: SwizzleClogSettings,
  ) {}

  private proxies(): FaultProxy[] {
    const proxies = this.deps.cluster.byRole('datanode').map((p) => p.proxy);
    if (proxies.length === 0 || proxies.some((p) => p === undefined)) throw new Error('swizzle-clog needs data nodes behind fault proxies; start the cluster with proxies: true');
    return proxies as FaultProxy[];
  }

  async start(): Promise<void> {
    if (this.running !== undefined) return;
    try {
      const links = this.proxies();
      const abort = new AbortController();
      // swizzleClog stalls its first link before its first await, so the clog has begun when this returns.
      const done = swizzleClog(links, { stepMs: this.settings.stepMs, holdMs: this.settings.holdMs, rng: this.deps.rng, signal: abort.signal });
      this.running = { abort, done, links: links.map((l) => l.name) };
      this.deps.log.record(this.name, 'start', this.running.links, true, { ...this.settings });
    } catch (err) {
      this.deps.log.record(this.name, 'start', [], false, { error: (err as Error).message });
    }
  }

  async stop(): Promise<void> {
    const running = this.running;
    if (running === undefined) return;
    this.running = undefined;
    running.abort.abort();
    try {
      const record = await running.done;
      this.deps.log.record(this.name, 'stop', record.stalled, true, { stalled: record.stalled, unstalled: record.unstalled, aborted: record.aborted });
    } catch (err) {
      this.deps.log.record(this.name, 'stop', running.links, false, { error: (err as Error).message });
    }
  }

  async heal(): Promise<void> {
    await this.stop();
    for (const proxy of this.deps.cluster.byRole('datanode').map((p) => p.proxy)) proxy?.heal();
  }
}
