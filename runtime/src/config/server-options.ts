/**
 * Options every server process shares (etcd endpoints, metrics endpoint, log level,
 * failpoints) and the checks of address-valued options, so the three components declare and
 * validate them the same way.
 */
import {
  ConfigError,
  type BooleanOption,
  type IntegerOption,
  type ListOption,
  type StringOption,
  logLevels,
  parseFailpointSpec,
  type FailpointComponent,
} from '@quire/common';

/** --etcd: the etcd endpoints. */
export const etcdOption = { kind: 'list', flag: 'etcd', env: 'QUIRE_ETCD', default: ['127.0.0.1:2379'], description: 'etcd endpoints' } as const satisfies ListOption;

/** --metrics-listen: the Prometheus endpoint. */
export const metricsListenOption = {
  kind: 'string',
  flag: 'metrics-listen',
  env: 'QUIRE_METRICS_LISTEN',
  default: '127.0.0.1:0',
  description: 'host:port of the Prometheus /metrics endpoint',
} as const satisfies StringOption;

/** --log-level. */
export const logLevelOption = { kind: 'string', flag: 'log-level', env: 'QUIRE_LOG_LEVEL', default: 'info', choices: logLevels, description: 'Log level' } as const satisfies StringOption;

/** --failpoints: failpoints armed at start (tests and chaos runs; docs/testing.md). */
export const failpointsOption = {
  kind: 'string',
  flag: 'failpoints',
  env: 'QUIRE_FAILPOINTS',
  description: 'Failpoints to arm at start, for tests and chaos runs only: name=[P%][N*]action;... (docs/testing.md)',
} as const satisfies StringOption;

/** --failpoints-admin: serve the Debug service that arms failpoints at runtime. */
export const failpointsAdminOption = {
  kind: 'boolean',
  flag: 'failpoints-admin',
  env: 'QUIRE_FAILPOINTS_ADMIN',
  default: false,
  description: 'Serve the internal Debug service that arms failpoints at runtime (tests and chaos runs only; never in production)',
} as const satisfies BooleanOption;

/** Throws a ConfigError naming --failpoints unless `spec` parses for `component`. */
export function validateFailpoints(component: FailpointComponent, spec: string): void {
  try {
    parseFailpointSpec(spec, component);
  } catch (err) {
    throw new ConfigError(`--failpoints (or $${failpointsOption.env}) is invalid: ${(err as Error).message}`);
  }
}

/** --lease-ttl-seconds with a component-specific default and meaning. */
export function leaseTtlOption(defaultSeconds: number, description: string): IntegerOption & { readonly default: number } {
  // 1 s needs an etcd whose election timeout is at most 666 ms: etcd grants no lease shorter
  // than ⌈1.5 × election timeout⌉ seconds (a longer grant only makes the lease last longer).
  return { kind: 'integer', flag: 'lease-ttl-seconds', env: 'QUIRE_LEASE_TTL_SECONDS', default: defaultSeconds, min: 1, max: 300, description };
}

/** Throws unless `value` is host:port. */
export function validateAddress(flag: string, value: string): void {
  if (!/^[^:]+:\d+$/.test(value) || Number(value.slice(value.lastIndexOf(':') + 1)) > 65535) {
    throw new ConfigError(`--${flag} "${value}" must be host:port`);
  }
}

/** Throws unless there is at least one etcd endpoint. */
export function validateEtcdEndpoints(endpoints: readonly string[]): void {
  if (endpoints.length === 0) throw new ConfigError('--etcd needs at least one endpoint');
}

/** Throws when a server binds every interface but has no address to advertise. */
export function validateAdvertise(listen: string, advertise: string | undefined): void {
  if (advertise !== undefined) {
    validateAddress('advertise', advertise);
  } else if (/^(0\.0\.0\.0|\[::\]|::):/.test(listen)) {
    throw new ConfigError('--advertise is required when --listen binds every interface (peers need an address they can dial)');
  }
}
