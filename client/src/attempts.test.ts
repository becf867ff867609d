import { describe, expect, it } from 'vitest';
import type { QuireErrorCode } from '@quire/common';
import { attemptsMaxFor, resendAfter, settlesAmbiguousWrite, type FailedAttempt } from './attempts.js';

const base: FailedAttempt = { code: 'UNAVAILABLE', write: false, hasRequestId: false, attempts: 1, attemptsMax: 3, remainingMs: 1_000 };

describe('resendAfter', () => {
  it.each<[string, Partial<FailedAttempt>, boolean]>([
    ['a read lost with its router, or never sent', { code: 'UNAVAILABLE' }, true],
    ['a write never sent', { code: 'UNAVAILABLE', write: true }, true],
    ['a write lost with its router, with a request id', { code: 'AMBIGUOUS_RESULT', write: true, hasRequestId: true }, true],
    ['a write lost with its router, without a request id', { code: 'AMBIGUOUS_RESULT', write: true, hasRequestId: false }, false],
    ['a deadline', { code: 'DEADLINE_EXCEEDED' }, false],
    ['this client overloaded', { code: 'OVERLOADED', write: true, hasRequestId: true }, false],
    ['any failure once the deadline has passed', { code: 'UNAVAILABLE', remainingMs: 0 }, false],
    ['an ambiguous write once the deadline has passed', { code: 'AMBIGUOUS_RESULT', write: true, hasRequestId: true, remainingMs: -1 }, false],
    ['any failure after the last attempt', { code: 'UNAVAILABLE', attempts: 3 }, false],
  ])('%s: %s', (_name, failure, expected) => {
    expect(resendAfter({ ...base, ...failure })).toBe(expected);
  });

  it.each<QuireErrorCode>(['INVALID_ARGUMENT', 'CONDITION_FAILED', 'NOT_LEADER', 'PARTITION_UNAVAILABLE', 'SHUTTING_DOWN', 'INTERNAL', 'CORRUPT_REPLICA'])(
    'never resends after %s (an answer, not a lost attempt)',
    (code) => {
      expect(resendAfter({ ...base, code, write: true, hasRequestId: true })).toBe(false);
    },
  );
});

describe('settlesAmbiguousWrite', () => {
  it('is success or CONDITION_FAILED only', () => {
    expect(settlesAmbiguousWrite(undefined)).toBe(true);
    expect(settlesAmbiguousWrite('CONDITION_FAILED')).toBe(true);
    for (const code of ['UNAVAILABLE', 'PARTITION_UNAVAILABLE', 'AMBIGUOUS_RESULT', 'DEADLINE_EXCEEDED', 'NOT_LEADER', 'INTERNAL'] as const) {
      expect(settlesAmbiguousWrite(code)).toBe(false);
    }
  });
});

describe('attemptsMaxFor', () => {
  it('tries each router once, and one more', () => {
    expect(attemptsMaxFor(1)).toBe(2);
    expect(attemptsMaxFor(3)).toBe(4);
  });
});
