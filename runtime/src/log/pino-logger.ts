/**
 * The process logger: the Logger interface of @quire/common backed by pino, writing one JSON
 * object per line to stdout (or a given file descriptor), with the component and the
 * instance's bound fields on every line.
 */
import { pino, type Logger as PinoLogger } from 'pino';
import type { LogFields, Logger, LogLevel } from '@quire/common';

/** Options for createLogger. */
export interface LoggerOptions {
  readonly component: string;
  readonly level: LogLevel;
  /** Bound fields, e.g. { nodeId }. */
  readonly fields?: LogFields;
  /** File descriptor to write to; defaults to stdout (1). */
  readonly fd?: number;
}

class PinoBackedLogger implements Logger {
  constructor(private readonly p: PinoLogger) {}
  debug(message: string, fields?: LogFields): void {
    if (this.p.isLevelEnabled('debug')) this.p.debug(fields ?? {}, message);
  }
  info(message: string, fields?: LogFields): void {
    this.p.info(fields ?? {}, message);
  }
  warn(message: string, fields?: LogFields): void {
    this.p.warn(fields ?? {}, message);
  }
  error(message: string, fields?: LogFields): void {
    this.p.error(fields ?? {}, message);
  }
  child(fields: LogFields): Logger {
    return new PinoBackedLogger(this.p.child(fields));
  }
  mark(message: string, fields?: LogFields): void {
    this.p.info({ ...fields, mark: true }, message);
  }
}

/** Creates the process logger; call once in main.ts and pass it down. */
export function createLogger(options: LoggerOptions): Logger {
  const p = pino(
    {
      level: options.level,
      base: { component: options.component, pid: process.pid, ...options.fields },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // Errors logged under `err` keep their stack and cause.
      serializers: { err: pino.stdSerializers.err },
    },
    pino.destination({ dest: options.fd ?? 1, sync: true }),
  );
  return new PinoBackedLogger(p);
}

