/**
 * The one start-up and stop sequence of Quire's server processes (`quire datanode`,
 * `quire coordinator`, `quire router`). Each component's main.ts loads its config and hands
 * runServerProcess a setup function; everything around it is the same for all three:
 *
 *   1. the logger (with the component's bound fields), crash handlers, the failpoints armed by
 *      --failpoints, the Prometheus endpoint, tracing when the environment asks for it
 *      (tracing/tracing.ts), and an unbound gRPC server;
 *   2. setup(context): the component opens what it needs (storage, etcd), adds its services to
 *      the server and registers what must be closed at exit (context.closeAtExit);
 *   3. the Debug service when --failpoints-admin is set (never otherwise);
 *   4. bind, then the component's started(address) (a data node registers in etcd, a
 *      coordinator campaigns), then one "<Component> ready" line;
 *   5. on SIGINT/SIGTERM (or the parent's exit under `quire dev`): one "Stopping" line, the
 *      component's stop(signal) (hand-overs, deregistration, draining), the server's shutdown
 *      (running calls get the component's serverGraceMs, then are cancelled), everything
 *      registered with closeAtExit in reverse order, the metrics endpoint, the span exporter's
 *      flush, and one
 *      "<Component> stopped" line.
 *
 * Invariant: whatever setup or started() opened is closed when either throws, so a process
 * that fails to start exits instead of lingering on an open etcd connection or port.
 */
import type { Server } from '@grpc/grpc-js';
import { DebugService } from '@quire/proto';
import {
  Failpoints,
  systemClock,
  systemRng,
  type Clock,
  type Env,
  type FailpointComponent,
  type LogFields,
  type Logger,
  type LogLevel,
  type Rng,
} from '@quire/common';
import { createDebugService } from '../failpoint/debug-service.js';
import { guardService } from '../grpc/malformed.js';
import { bindGrpcServer, createGrpcServer, shutdownGrpcServer } from '../grpc/servers.js';
import { createLogger } from '../log/pino-logger.js';
import { startMetrics, type MetricsEndpoint } from '../metrics/metrics.js';
import { startTracing } from '../tracing/tracing.js';
import { installCrashHandlers, stopWithParentRequested, waitForStopSignal } from './lifecycle.js';

/** The settings every server process has (see config/server-options.ts for the flags). */
export interface ServerProcessConfig {
  /** host:port the gRPC server binds (port 0 picks a free one). */
  readonly listen: string;
  /** host:port peers reach this process at, when it differs from the bound address. */
  readonly advertise?: string | undefined;
  /** host:port of the Prometheus /metrics endpoint. */
  readonly metricsListen: string;
  readonly logLevel: LogLevel;
  /** The --failpoints spec armed at start ("" arms none). */
  readonly failpoints: string;
  /** Whether to serve the Debug service, which arms failpoints remotely. */
  readonly failpointsAdmin: boolean;
}

/** What runServerProcess needs to know about the process it runs. */
export interface ServerProcessSpec {
  readonly component: FailpointComponent;
  /** The instance id: node id, coordinator id or router id (metrics' instance label). */
  readonly instanceId: string;
  /** Fields bound to every log line, e.g. { nodeId }. */
  readonly logFields: LogFields;
  readonly config: ServerProcessConfig;
  readonly env: Env;
}

/** What a component's setup builds itself with. */
export interface ServerProcessContext {
  readonly log: Logger;
  readonly failpoints: Failpoints;
  readonly metrics: MetricsEndpoint;
  /** The process's gRPC server, not yet bound: setup adds its services to it. */
  readonly server: Server;
  readonly clock: Clock;
  readonly rng: Rng;
  /**
   * Registers a resource to close at exit, after the component's stop(), or at once if the
   * start fails. Resources close in the reverse order of registration.
   */
  closeAtExit(name: string, close: () => Promise<void> | void): void;
}

/** A component once set up, as runServerProcess drives it. */
export interface ServerComponent {
  /**
   * Runs once the server is bound, with the address peers reach it at (--advertise, else the
   * bound one). Returns fields for the ready line.
   */
  started?(address: string): Promise<LogFields | undefined>;
  /** The component's own stop sequence, if it has one; runs before the server shuts down. */
  stop?(signal: string): Promise<void>;
  /** How long calls still running after stop() may take before they are cancelled. Default 0. */
  readonly serverGraceMs?: number;
}

/** The name of each component in its lifecycle log lines. */
const displayNames: Readonly<Record<FailpointComponent, string>> = { datanode: 'Data node', coordinator: 'Coordinator', router: 'Router' };

/** Runs a server process until SIGINT/SIGTERM (see the header for the sequence). */
export async function runServerProcess(spec: ServerProcessSpec, setup: (context: ServerProcessContext) => Promise<ServerComponent>): Promise<void> {
  const { component, config } = spec;
  const name = displayNames[component];
  const log = createLogger({ component, level: config.logLevel, fields: spec.logFields });
  installCrashHandlers(log);
  const failpoints = new Failpoints({ component, rng: systemRng, clock: systemClock, crash: () => process.kill(process.pid, 'SIGKILL'), log });
  if (config.failpoints !== '') failpoints.set(config.failpoints);
  const metrics = await startMetrics({ component, instanceId: spec.instanceId, listen: config.metricsListen });
  // Off unless OTEL_* or QUIRE_TRACE_FILE ask for it (tracing/tracing.ts); flushed last at exit.
  const tracing = startTracing(`${component} ${spec.instanceId}`, spec.env, log);

  const resources: { readonly name: string; readonly close: () => Promise<void> | void }[] = [];
  const closeAll = async (): Promise<void> => {
    for (const resource of resources.splice(0).reverse()) {
      try {
        await resource.close();
      } catch (err) {
        log.warn('Closing a resource failed', { resource: resource.name, err: String(err) });
      }
    }
    await metrics.close();
    await tracing.shutdown();
  };
  const server = createGrpcServer();
  let running: ServerComponent;
  let address: string;
  let readyFields: LogFields | undefined;
  try {
    running = await setup({
      log,
      failpoints,
      metrics,
      server,
      clock: systemClock,
      rng: systemRng,
      closeAtExit: (resource, close) => void resources.push({ name: resource, close }),
    });
    if (config.failpointsAdmin) {
      // Without --failpoints-admin the service does not exist: calls are UNIMPLEMENTED.
      server.addService(...guardService(DebugService, createDebugService(failpoints)));
      log.warn('Serving the Debug service: failpoints can be armed remotely');
    }
    const bound = await bindGrpcServer(server, config.listen);
    address = config.advertise ?? bound;
    readyFields = await running.started?.(address);
  } catch (err) {
    log.error(`${name} failed to start`, { err: err instanceof Error ? { name: err.name, message: err.message } : String(err) });
    server.forceShutdown();
    await closeAll();
    throw err;
  }
  log.info(`${name} ready`, { address, metrics: metrics.address, ...readyFields });

  const signal = await waitForStopSignal(log, { stopWithParent: stopWithParentRequested(spec.env) });
  log.info(`Stopping ${name.toLowerCase()}`, { signal });
  try {
    await running.stop?.(signal);
    await shutdownGrpcServer(server, running.serverGraceMs ?? 0);
  } finally {
    server.forceShutdown();
    await closeAll();
  }
  log.info(`${name} stopped`);
}
