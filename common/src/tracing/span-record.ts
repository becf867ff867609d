/**
 * The span file format of `quire dev --trace` (issue 15): one JSON object per line, written by
 * each server process's file exporter (runtime/src/tracing) and read by `quire trace`. A span
 * is one request's stay in one process (client, router, partition leader) or one follower's
 * append of a batch; events mark where it waited (see docs/observability.md).
 *
 * Pure: types and a line parser that names what is wrong with a malformed line.
 */

/** An attribute value as spans carry them. */
export type SpanAttributeValue = string | number | boolean;

/** One event inside a span: its name, when (ms after the span's start), attributes. */
export interface SpanEventRecord {
  readonly name: string;
  readonly atMs: number;
  readonly attributes?: Readonly<Record<string, SpanAttributeValue>>;
}

/** One finished span. */
export interface SpanRecord {
  readonly traceId: string;
  readonly spanId: string;
  /** The parent span in the same trace, if any. */
  readonly parentSpanId?: string;
  readonly name: string;
  /** The process that recorded it: `router router-1`, `datanode node-2`, ... */
  readonly service: string;
  /** Wall-clock start, ms since the Unix epoch (fractional). */
  readonly startUnixMs: number;
  readonly durationMs: number;
  readonly status: 'unset' | 'ok' | 'error';
  readonly attributes: Readonly<Record<string, SpanAttributeValue>>;
  readonly events: readonly SpanEventRecord[];
  /** Spans this one is linked to (a follower's append links every traced request of its batch). */
  readonly links: readonly { readonly traceId: string; readonly spanId: string }[];
}

const hex = (s: unknown, length: number): s is string => typeof s === 'string' && s.length === length && /^[0-9a-f]+$/.test(s);

/** Parses one line of a span file, or throws an Error naming the field that is wrong. */
export function parseSpanRecord(line: string): SpanRecord {
  const v = JSON.parse(line) as Record<string, unknown>;
  if (!hex(v.traceId, 32)) throw new Error('traceId is not 32 hex digits');
  if (!hex(v.spanId, 16)) throw new Error('spanId is not 16 hex digits');
  if (v.parentSpanId !== undefined && !hex(v.parentSpanId, 16)) throw new Error('parentSpanId is not 16 hex digits');
  if (typeof v.name !== 'string' || typeof v.service !== 'string') throw new Error('name and service must be strings');
  if (typeof v.startUnixMs !== 'number' || typeof v.durationMs !== 'number' || v.durationMs < 0) throw new Error('startUnixMs and durationMs must be numbers, durationMs ≥ 0');
  if (v.status !== 'unset' && v.status !== 'ok' && v.status !== 'error') throw new Error('status must be unset, ok or error');
  if (!Array.isArray(v.events) || !Array.isArray(v.links) || typeof v.attributes !== 'object' || v.attributes === null) throw new Error('events, links and attributes are missing');
  return v as unknown as SpanRecord;
}
