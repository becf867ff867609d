/**
 * Tracing for Quire's server processes (issue 15): OpenTelemetry through
 * @opentelemetry/sdk-node, off unless switched on, by either
 *  - the standard variables: OTEL_TRACES_EXPORTER (otlp, console, zipkin) or an OTLP endpoint
 *    (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT); the SDK then configures
 *    exporter, sampler (OTEL_TRACES_SAMPLER) and batching (OTEL_BSP_*) from the environment, as
 *    any OpenTelemetry user expects;
 *  - QUIRE_TRACE_FILE=<path> (`quire dev --trace`): every span as one JSON line appended to that
 *    file (common/src/tracing/span-record.ts), which `quire trace` summarizes.
 * OTEL_SDK_DISABLED=true, or OTEL_TRACES_EXPORTER=none without a trace file, keeps it off.
 *
 * While tracing is off, `tracingOn()` is false and the components skip every tracing call, so
 * the request path costs one boolean check. Only traces: metrics stay on the Prometheus
 * endpoint (metrics.ts) and logs on pino; the SDK is given no metric readers, no log
 * processors and no auto-instrumentation.
 *
 * Context travels as a W3C `traceparent` string: in gRPC metadata for unary calls, and in the
 * `traceparent` field of each operation on the multiplexed KV and DataNode streams and in each
 * replication Append (many requests share one stream, so one stream's metadata cannot carry
 * them); see docs/observability.md.
 */
import { appendFileSync } from 'node:fs';
import { context, propagation, ROOT_CONTEXT, trace, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { ExportResultCode, hrTimeToMilliseconds, type ExportResult } from '@opentelemetry/core';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace';
import type { Env, Logger, SpanAttributeValue, SpanRecord } from '@quire/common';

let on = false;

/** Whether this process records spans (tracing was started and enabled). */
export function tracingOn(): boolean {
  return on;
}

/** The tracer of a component; spans from it are no-ops while tracing is off. */
export function tracer(component: string): Tracer {
  return trace.getTracer(`quire.${component}`);
}

/** What started tracing, and how to flush and stop it. */
export interface Tracing {
  /** "off", "file <path>" or "OTEL_* environment". */
  readonly mode: string;
  /** Flushes buffered spans and stops the SDK. */
  shutdown(): Promise<void>;
}

/** Whether the environment asks for tracing, and how. */
export function tracingModeOf(env: Env): { readonly kind: 'off' } | { readonly kind: 'file'; readonly path: string } | { readonly kind: 'otel' } {
  if (env.OTEL_SDK_DISABLED?.toLowerCase() === 'true') return { kind: 'off' };
  const file = env.QUIRE_TRACE_FILE;
  if (file !== undefined && file !== '') return { kind: 'file', path: file };
  const exporter = env.OTEL_TRACES_EXPORTER;
  if (exporter !== undefined && exporter !== '' && exporter !== 'none') return { kind: 'otel' };
  if ((env.OTEL_EXPORTER_OTLP_ENDPOINT ?? '') !== '' || (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? '') !== '') return { kind: 'otel' };
  return { kind: 'off' };
}

/** Starts tracing as the environment asks (see the header); `service` names the process in spans. */
export function startTracing(service: string, env: Env, log: Logger): Tracing {
  const mode = tracingModeOf(env);
  if (mode.kind === 'off') return { mode: 'off', shutdown: () => Promise.resolve() };
  const sdk = new NodeSDK({
    serviceName: service,
    instrumentations: [],
    metricReaders: [],
    logRecordProcessors: [],
    resourceDetectors: [],
    ...(mode.kind === 'file' ? { spanProcessors: [new BatchSpanProcessor({ exporter: new FileSpanExporter(mode.path, service), scheduledDelayMillis: 1_000, maxQueueSize: 65_536, maxExportBatchSize: 4_096 })] } : {}),
  });
  sdk.start();
  on = true;
  const described = mode.kind === 'file' ? `file ${mode.path}` : 'OTEL_* environment';
  log.info('Tracing on', { tracing: described });
  return {
    mode: described,
    shutdown: async () => {
      on = false;
      await sdk.shutdown().catch((err: unknown) => log.warn('Tracing did not flush', { err: String(err) }));
    },
  };
}

/** The context a `traceparent` string names (the root context for an empty or invalid one). */
export function contextFromTraceparent(traceparent: string): Context {
  if (traceparent === '') return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, { traceparent });
}

/** The `traceparent` string of a span, for the next hop ('' while it does not record). */
export function traceparentOf(span: Span): string {
  if (!span.isRecording()) return '';
  const carrier: { traceparent?: string } = {};
  propagation.inject(trace.setSpan(context.active(), span), carrier);
  return carrier.traceparent ?? '';
}

/** Writes spans as JSON lines (SpanRecord) to one file; appends, so restarts keep earlier spans. */
export class FileSpanExporter implements SpanExporter {
  constructor(
    private readonly path: string,
    private readonly service: string,
  ) {}

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    try {
      appendFileSync(this.path, spans.map((s) => `${JSON.stringify(spanRecordOf(s, this.service))}\n`).join(''));
      resultCallback({ code: ExportResultCode.SUCCESS });
    } catch (err) {
      resultCallback({ code: ExportResultCode.FAILED, error: err as Error });
    }
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** A finished span in the span file's format. */
export function spanRecordOf(span: ReadableSpan, service: string): SpanRecord {
  const startMs = hrTimeToMilliseconds(span.startTime);
  const parent = span.parentSpanContext;
  const status = span.status.code === 1 ? 'ok' : span.status.code === 2 ? 'error' : 'unset';
  return {
    traceId: span.spanContext().traceId,
    spanId: span.spanContext().spanId,
    ...(parent === undefined ? {} : { parentSpanId: parent.spanId }),
    name: span.name,
    service,
    startUnixMs: startMs,
    durationMs: hrTimeToMilliseconds(span.duration),
    status,
    attributes: plainAttributes(span.attributes),
    events: span.events.map((e) => ({
      name: e.name,
      atMs: hrTimeToMilliseconds(e.time) - startMs,
      ...(e.attributes === undefined ? {} : { attributes: plainAttributes(e.attributes) }),
    })),
    links: span.links.map((l) => ({ traceId: l.context.traceId, spanId: l.context.spanId })),
  };
}

function plainAttributes(attributes: ReadableSpan['attributes']): Record<string, SpanAttributeValue> {
  const out: Record<string, SpanAttributeValue> = {};
  for (const [k, v] of Object.entries(attributes)) {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = v;
    else if (Array.isArray(v)) out[k] = v.join(',');
  }
  return out;
}
