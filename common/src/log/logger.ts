/**
 * Structured logging: the interface. Components receive a Logger (never a module-level
 * singleton) and bind their fields with child(): component, nodeId, partitionId, epoch.
 * Messages start with a capital letter, have no trailing period, and put values in fields,
 * never in the text. Server processes back it with pino (@quire/runtime createLogger); this
 * package holds only the interface, so the client library carries no logger.
 */

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
