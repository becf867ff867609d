/**
 * A private network of hosts on one machine: a bridge in its own network namespace and one
 * namespace per host, joined to the bridge by a veth pair, with addresses in 10.77.S.0/24 (S
 * chosen free at creation). The test driver's own namespace joins the bridge as 10.77.S.254 so
 * workloads reach routers directly. Faults are iptables rules inside host namespaces, where
 * they can only affect traffic among these hosts (Jepsen's grudges, §6.2 of the test plan).
 *
 * Names carry the creating process id (`quire-<pid>-<host>`), so a later run removes what a
 * killed run left behind (`removeStaleNetworks`) and never touches another live run's hosts.
 */
import { run, succeeds } from './exec.js';
import { processAlive } from './pids.js';

/** One host: a network namespace with one address on the bridge. */
export interface Host {
  readonly name: string;
  /** The network namespace, e.g. quire-1234-n1. */
  readonly namespace: string;
  readonly ip: string;
}

const prefix = 'quire-';
const subnetBase = '10.77';

/** Lists the network namespaces on this machine. */
export async function listNamespaces(): Promise<string[]> {
  const out = await run('ip', ['netns', 'list']);
  return out.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n !== '');
}

/** Deletes namespaces (and with them their veths) left by harness runs whose process is gone. */
export async function removeStaleNetworks(): Promise<string[]> {
  const removed: string[] = [];
  for (const ns of await listNamespaces()) {
    const m = /^quire-(\d+)-/.exec(ns);
    if (m === null || processAlive(Number(m[1]))) continue;
    if (await succeeds('ip', ['netns', 'del', ns])) removed.push(ns);
  }
  return removed;
}

async function usedSubnets(): Promise<Set<number>> {
  const out = await run('ip', ['-4', '-o', 'addr', 'show']);
  const used = new Set<number>();
  for (const m of out.matchAll(/inet 10\.77\.(\d+)\./g)) used.add(Number(m[1]));
  return used;
}

/** Runs `command` inside a namespace. */
export async function inNamespace(namespace: string, command: string, args: readonly string[]): Promise<string> {
  return run('ip', ['netns', 'exec', namespace, command, ...args]);
}

/** The bridge network of one harness run. */
export class Network {
  private readonly hosts = new Map<string, Host>();
  private closed = false;

  private constructor(
    readonly id: string,
    /** The third octet of 10.77.S.0/24. */
    readonly subnet: number,
    /** This process's address on the bridge. */
    readonly driverIp: string,
  ) {}

  private static ns(id: string, host: string): string {
    return `${prefix}${id}-${host}`;
  }

  /** Creates the bridge and joins the driver to it. */
  static async create(): Promise<Network> {
    await removeStaleNetworks();
    const used = await usedSubnets();
    let subnet = 1 + (process.pid % 250);
    while (used.has(subnet)) subnet = (subnet % 250) + 1;
    const id = String(process.pid);
    const net = new Network(id, subnet, `${subnetBase}.${subnet}.254`);
    const sw = Network.ns(id, 'sw');
    try {
      await run('ip', ['netns', 'add', sw]);
      await run('ip', ['-n', sw, 'link', 'add', 'br0', 'type', 'bridge']);
      await run('ip', ['-n', sw, 'link', 'set', 'br0', 'up']);
      // The driver (this process, in the root namespace) gets one leg on the bridge.
      const driverLeg = `qd${id}`;
      await run('ip', ['link', 'add', driverLeg, 'type', 'veth', 'peer', 'name', 'drv', 'netns', sw]);
      await run('ip', ['-n', sw, 'link', 'set', 'drv', 'master', 'br0', 'up']);
      await run('ip', ['addr', 'add', `${net.driverIp}/24`, 'dev', driverLeg]);
      await run('ip', ['link', 'set', driverLeg, 'up']);
    } catch (err) {
      await net.destroy();
      throw err;
    }
    return net;
  }

  /** The namespace of the bridge. */
  get switchNamespace(): string {
    return Network.ns(this.id, 'sw');
  }

  /** Adds a host with address 10.77.S.octet. */
  async addHost(name: string, octet: number): Promise<Host> {
    if (this.closed) throw new Error('The network was destroyed');
    if (!/^[a-z0-9]{1,12}$/.test(name)) throw new Error(`Host name "${name}" must be 1-12 lowercase letters or digits`);
    if (!Number.isInteger(octet) || octet < 1 || octet > 250) throw new Error(`Host octet ${octet} must be in 1..250`);
    const namespace = Network.ns(this.id, name);
    const ip = `${subnetBase}.${this.subnet}.${octet}`;
    const leg = `q${this.id}-${octet}`.slice(0, 15);
    await run('ip', ['netns', 'add', namespace]);
    await run('ip', ['link', 'add', leg, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', namespace]);
    await run('ip', ['link', 'set', leg, 'netns', this.switchNamespace]);
    await run('ip', ['-n', this.switchNamespace, 'link', 'set', leg, 'master', 'br0', 'up']);
    await run('ip', ['-n', namespace, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
    await run('ip', ['-n', namespace, 'link', 'set', 'eth0', 'up']);
    await run('ip', ['-n', namespace, 'link', 'set', 'lo', 'up']);
    const host = { name, namespace, ip };
    this.hosts.set(name, host);
    return host;
  }

  /** The host with this name. */
  host(name: string): Host {
    const h = this.hosts.get(name);
    if (h === undefined) throw new Error(`No host ${name} in this network`);
    return h;
  }

  /** Every host, in creation order. */
  get all(): readonly Host[] {
    return [...this.hosts.values()];
  }

  /** Makes `target` drop every packet from `source` (one direction; call twice for a symmetric cut). */
  async drop(target: Host, source: Host): Promise<void> {
    await inNamespace(target.namespace, 'iptables', ['-w', '-A', 'INPUT', '-s', source.ip, '-j', 'DROP']);
  }

  /** Makes `target` drop incoming packets from anywhere with probability p (0..1). */
  async loss(target: Host, probability: number): Promise<void> {
    if (!(probability > 0 && probability <= 1)) throw new Error(`Loss probability ${probability} must be in (0, 1]`);
    await inNamespace(target.namespace, 'iptables', ['-w', '-A', 'INPUT', '-m', 'statistic', '--mode', 'random', '--probability', String(probability), '-j', 'DROP']);
  }

  /** Removes every fault rule from every host. */
  async heal(): Promise<void> {
    await Promise.all(this.all.map((h) => inNamespace(h.namespace, 'iptables', ['-w', '-F', 'INPUT'])));
  }

  /** Deletes every namespace of this network (idempotent; best effort on each). */
  async destroy(): Promise<void> {
    this.closed = true;
    for (const h of this.hosts.values()) await succeeds('ip', ['netns', 'del', h.namespace]);
    this.hosts.clear();
    await succeeds('ip', ['netns', 'del', this.switchNamespace]);
    await succeeds('ip', ['link', 'del', `qd${this.id}`]);
  }
}
