/**
 * Link faults through the TCP fault proxies a cluster started with `proxies: true` puts in
 * front of its data nodes (every router → data node connection crosses one): each fault
 * applies one of the given kinds — delay with jitter, stall, reset, blackhole, half-open,
 * bandwidth — to the chosen nodes' links, cycling through the kinds from one start to the
 * next; stop() and heal() clear them.
 */
import type { Rng } from '@quire/common';
import { type ChaosCluster, type ChaosProcess } from '../harness/chaos-cluster.js';
import { type Nemesis, type NemesisLog } from './nemesis.js';
import { selectTargets, type TargetSelector } from './targets.js';
import { type Fault } from './tcp-proxy.js';

/** Applies proxy faults to data node links. */
export class ProxyNemesis implements Nemesis {
  readonly name = 'link-fault';
  private affected: ChaosProcess[] = [];
  private next = 0;

  constructor(
    private readonly deps: { readonly cluster: ChaosCluster; readonly log: NemesisLog; readonly rng: Rng },
    private readonly selector: TargetSelector,
    private readonly faults: readonly Fault[],
  ) {
    if (faults.length === 0) throw new Error('ProxyNemesis needs at least one fault');
  }

  async start(): Promise<void> {
    const fault = this.faults[this.next++ % this.faults.length] as Fault;
    try {
      const targets = await selectTargets(this.deps.cluster, this.selector, this.deps.rng);
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
