/**
 * Structured logging. Components receive a Logger (never a module-level singleton) and bind
 * their fields with child(): component, nodeId, partitionId, epoch. Messages start with a
 * capital letter, have no trailing period, and put values in fields, never in the text.
 * Backed by pino, writing one JSON object per line to stdout (or a given file descriptor).
 */
import { pino, type Logger as PinoLogger } from 'pino';

/** Fields attached to a log line. */
export type LogFields = Readonly<Record<string, unknown>>;

/** Log levels, as in etcd's logging guidelines. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/** The logging interface every module takes. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** Returns a logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
  /**
   * A coverage mark: records that a rare branch ran (e.g. "Follower truncated divergent
   * suffix"). Logged at info with `mark: true`, so tests can assert the branch was taken.
   */
  mark(message: string, fields?: LogFields): void;
}

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

/** A logger that drops everything (unit tests). */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
  mark: () => undefined,
};

/** Log levels accepted by --log-level. */
export const logLevels: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];
