/**
 * The one operating error of this package: a history that does not follow the format. It names
 * the line and the field so the recorder that wrote the line can be fixed. The checkers never
 * throw for a *valid* history that violates a consistency model: that is a result, not an error.
 */
import type { HistoryEvent } from './history-event.js';

/** A history line that does not follow the format (code INVALID_HISTORY). */
export class InvalidHistoryError extends Error {
  override readonly name = 'InvalidHistoryError';
  readonly code = 'INVALID_HISTORY';
  /** 1-based line number of the offending line. */
  readonly line: number;
  /** The offending field (`time`, `value[1][2]`), or null when the line is not JSON at all. */
  readonly field: string | null;

  constructor(line: number, field: string | null, detail: string, options?: ErrorOptions) {
    super(field === null ? `line ${line}: ${detail}` : `line ${line}: field "${field}" ${detail}`, options);
    this.line = line;
    this.field = field;
  }
}

/** The error for a bad `field` of `event`. */
export function fieldError(event: HistoryEvent, field: string, detail: string): InvalidHistoryError {
  return new InvalidHistoryError(event.line, field, detail);
}

/** Renders a JSON value for an error message, cut to a readable length. */
export function show(value: unknown): string {
  const text = value === undefined ? 'nothing' : JSON.stringify(value);
  const lengthMax = 60;
  return text.length > lengthMax ? `${text.slice(0, lengthMax)}…` : text;
}
