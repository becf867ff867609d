/**
 * A Logger and a Meter that record what they are given, for unit tests that assert on log
 * lines and metrics. Import from tests only.
 */
import type { Attributes, Meter } from '@opentelemetry/api';
import type { LogFields, Logger } from '@quire/common';

/** One recorded log line. */
export interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error' | 'mark';
  readonly message: string;
  readonly fields: LogFields;
}

/** A Logger that keeps every line (child fields merged in). */
export class RecordingLogger implements Logger {
  constructor(
    readonly lines: LogLine[] = [],
    private readonly bound: LogFields = {},
  ) {}

  debug(message: string, fields?: LogFields): void {
    this.push('debug', message, fields);
  }
  info(message: string, fields?: LogFields): void {
    this.push('info', message, fields);
  }
  warn(message: string, fields?: LogFields): void {
    this.push('warn', message, fields);
  }
  error(message: string, fields?: LogFields): void {
    this.push('error', message, fields);
  }
  mark(message: string, fields?: LogFields): void {
    this.push('mark', message, fields);
  }
  child(fields: LogFields): Logger {
    return new RecordingLogger(this.lines, { ...this.bound, ...fields });
  }

  /** Returns the lines with `message`. */
  find(message: string): LogLine[] {
    return this.lines.filter((line) => line.message === message);
  }

  private push(level: LogLine['level'], message: string, fields?: LogFields): void {
    this.lines.push({ level, message, fields: { ...this.bound, ...fields } });
  }
}

/** One recorded measurement: a counter increment or a histogram value. */
export interface Measurement {
  readonly value: number;
  readonly attributes: Attributes;
}

/** A Meter whose counters and histograms record every measurement by instrument name; gauges are ignored. */
export interface RecordingMeter {
  readonly meter: Meter;
  /** Measurements by instrument name. */
  readonly measurements: Map<string, Measurement[]>;
  /** Sum of the counter `name`'s increments whose attributes include `attributes`. */
  sum(name: string, attributes?: Attributes): number;
}

/** Creates a RecordingMeter. */
export function recordingMeter(): RecordingMeter {
  const measurements = new Map<string, Measurement[]>();
  const record = (name: string) => (value: number, attributes: Attributes = {}) => {
    let list = measurements.get(name);
    if (list === undefined) {
      list = [];
      measurements.set(name, list);
    }
    list.push({ value, attributes });
  };
  const ignored = { addCallback: () => undefined, removeCallback: () => undefined };
  // The synchronous instruments record; observable ones take callbacks that are never called.
  const meter = {
    createCounter: (name: string) => ({ add: record(name) }),
    createUpDownCounter: (name: string) => ({ add: record(name) }),
    createHistogram: (name: string) => ({ record: record(name) }),
    createGauge: (name: string) => ({ record: record(name) }),
    createObservableGauge: () => ignored,
    createObservableCounter: () => ignored,
    createObservableUpDownCounter: () => ignored,
  } as unknown as Meter;
  const sum = (name: string, attributes: Attributes = {}): number =>
    (measurements.get(name) ?? [])
      .filter((m) => Object.entries(attributes).every(([k, v]) => m.attributes[k] === v))
      .reduce((total, m) => total + m.value, 0);
  return { meter, measurements, sum };
}
