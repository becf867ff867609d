/**
 * The routers a client talks to, as the caller gives them: `routers` (a list) or `router` (one,
 * the shorthand every earlier version took). Pure: validation only, no network.
 *
 * An entry is `host:port` (a DNS name or an IPv4 address), `[ipv6]:port`, or a gRPC target
 * name: `dns:///host:port` (or `dns:host:port`), `ipv4:addr:port[,addr:port...]`,
 * `ipv6:[addr]:port[,[addr]:port...]`. A DNS name may resolve to several addresses: the client
 * connects to all of them (grpc-js's round_robin policy over its DNS resolver). The port is
 * always required: grpc-js would otherwise pick 443, which no Quire router listens on.
 */
import { InvalidArgumentError } from '@quire/common';

/** Most router entries one client accepts (each gets its own channel). */
export const routerTargetsMax = 32;

/** Longest router entry, in characters (a DNS name is at most 253, plus scheme and port). */
const routerTargetCharsMax = 1024;

const hostPort = /^(?:[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]):(\d{1,5})$/;
const ipv4Port = /^\d{1,3}(?:\.\d{1,3}){3}:(\d{1,5})$/;
const ipv6Port = /^\[[0-9A-Fa-f:.]+\]:(\d{1,5})$/;

function portOk(port: string | undefined): boolean {
  const n = Number(port);
  return Number.isInteger(n) && n >= 1 && n <= 65_535;
}

function entryOk(entry: string): boolean {
  if (entry.length === 0 || entry.length > routerTargetCharsMax) return false;
  if (entry.startsWith('ipv4:')) return entry.slice(5).split(',').every((a) => portOk(ipv4Port.exec(a)?.[1]));
  if (entry.startsWith('ipv6:')) return entry.slice(5).split(',').every((a) => portOk(ipv6Port.exec(a)?.[1]));
  // dns:///name:port, dns://resolver/name:port (grpc-js honours the resolver only when
  // GRPC_NODE_USE_ALTERNATIVE_RESOLVER=true), or dns:name:port.
  const name = entry.startsWith('dns:') ? entry.slice(entry.startsWith('dns://') ? entry.indexOf('/', 6) + 1 : 4) : entry;
  if (entry.startsWith('dns://') && entry.indexOf('/', 6) === -1) return false;
  return portOk(hostPort.exec(name)?.[1]);
}

/** The two ways of naming the routers, as QuireClientOptions carries them. */
export interface RouterTargetOptions {
  readonly router?: string | undefined;
  readonly routers?: readonly string[] | undefined;
}

/**
 * Returns the router entries the options name, in order, or throws INVALID_ARGUMENT naming the
 * field (`routers` or `router`): neither or both given, an empty list, more than
 * routerTargetsMax entries, a repeated entry, or an entry that is not host:port or a gRPC target
 * name with a port.
 */
export function routerTargetsOf(options: RouterTargetOptions): string[] {
  const { router, routers } = options;
  if (router !== undefined && routers !== undefined) {
    throw new InvalidArgumentError('Give either router (one host:port) or routers (a list), not both', { field: 'routers' });
  }
  const field = routers === undefined ? 'router' : 'routers';
  const list = routers ?? (router === undefined ? [] : [router]);
  if (!Array.isArray(list) || list.length === 0) {
    throw new InvalidArgumentError(`${field} must name at least one router as host:port (for example 127.0.0.1:7000)`, { field, limit: routerTargetsMax, actual: 0 });
  }
  if (list.length > routerTargetsMax) {
    throw new InvalidArgumentError(`${field} names ${list.length} routers; at most ${routerTargetsMax} are allowed`, { field, limit: routerTargetsMax, actual: list.length });
  }
  const seen = new Set<string>();
  for (const entry of list as unknown[]) {
    if (typeof entry !== 'string' || !entryOk(entry)) {
      throw new InvalidArgumentError(`${field} entry ${JSON.stringify(entry)} is not host:port (a port from 1 to 65535 is required), [ipv6]:port or a gRPC target name (dns:///host:port)`, { field });
    }
    if (seen.has(entry)) throw new InvalidArgumentError(`${field} names ${entry} twice`, { field });
    seen.add(entry);
  }
  return [...(list as string[])];
}
