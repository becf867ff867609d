/**
 * Metrics through OpenTelemetry, exported for Prometheus on a /metrics HTTP endpoint per
 * process. Metric names follow quire_<component>_<noun>_<unit>; the Prometheus exporter adds
 * `_total` to counters. Latency histograms use the same millisecond buckets everywhere so
 * dashboards can compare hops.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Attributes, Counter, Histogram, Meter } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { resourceFromAttributes } from '@opentelemetry/resources';

/** Bucket boundaries for latency histograms, in milliseconds. */
export const latencyBucketsMs: readonly number[] = [
  0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 5000, 10000,
];

/** Bucket boundaries for batch-size histograms (operations per batch). */
export const batchSizeBuckets: readonly number[] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096];

/** A running metrics endpoint and the meter to create instruments on. */
export interface MetricsEndpoint {
  readonly meter: Meter;
  /** host:port the endpoint listens on. */
  readonly address: string;
  close(): Promise<void>;
}

/** Options for startMetrics. */
export interface MetricsOptions {
  readonly component: string;
  /** Instance id (node id, coordinator id, router id). */
  readonly instanceId: string;
  /** host:port to listen on; port 0 picks a free one. */
  readonly listen: string;
}

/** Starts the Prometheus endpoint (GET /metrics) and returns its meter. */
export async function startMetrics(options: MetricsOptions): Promise<MetricsEndpoint> {
  const exporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true });
  const provider = new MeterProvider({
    resource: resourceFromAttributes({ 'service.name': `quire-${options.component}`, 'service.instance.id': options.instanceId }),
    readers: [exporter],
  });
  const server: Server = createServer((req, res) => {
    if (req.url === '/metrics' || req.url?.startsWith('/metrics?')) {
      exporter.getMetricsRequestHandler(req, res);
    } else {
      res.statusCode = 404;
      res.end('Not found: metrics are at /metrics\n');
    }
  });
  const host = options.listen.slice(0, options.listen.lastIndexOf(':'));
  const port = Number(options.listen.slice(options.listen.lastIndexOf(':') + 1));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  return {
    meter: provider.getMeter(`quire-${options.component}`),
    address: `${host}:${bound.port}`,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await provider.shutdown();
    },
  };
}

/** Per-method request counts and latencies of one RPC surface. */
export class RpcMetrics {
  private readonly requests: Counter;
  private readonly durations: Histogram;
  private readonly attributeCache = new Map<string, Attributes>();

  constructor(meter: Meter, component: string, surface: string) {
    this.requests = meter.createCounter(`quire_${component}_${surface}_requests`, {
      description: `Requests handled by the ${surface} surface, by method and result code`,
    });
    this.durations = meter.createHistogram(`quire_${component}_${surface}_duration_ms`, {
      description: `Latency of ${surface} requests by method, in milliseconds`,
      unit: 'ms',
      advice: { explicitBucketBoundaries: [...latencyBucketsMs] },
    });
  }

  /** Records one finished request. `code` is OK or the error code. */
  record(method: string, code: string, durationMs: number): void {
    const key = `${method}\u0000${code}`;
    let attrs = this.attributeCache.get(key);
    if (attrs === undefined) {
      attrs = { method, code };
      this.attributeCache.set(key, attrs);
    }
    this.requests.add(1, attrs);
    this.durations.record(durationMs, attrs);
  }
}
