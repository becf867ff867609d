import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { AssertionError } from '../assert.js';
import { errorClasses, isQuireError, type QuireErrorCode } from './quire-error.js';
import { fromErrorInfo, fromGrpcError, grpcStatusByCode, toErrorInfo, toGrpcStatus, toQuireError } from './grpc-status.js';

const codes = Object.keys(errorClasses) as QuireErrorCode[];

function asServiceError(err: unknown): ServiceError {
  const s = toGrpcStatus(err);
  return Object.assign(new Error(s.details), { code: s.code, details: s.details, metadata: s.metadata }) as ServiceError;
}

describe('the error mapping table', () => {
  it.each(codes)('maps %s to one gRPC status and round-trips it through trailing metadata', (code) => {
    // A condition failure always carries the current version; other codes never do.
    const version = code === 'CONDITION_FAILED' ? { currentVersion: 5 } : {};
    const original = new errorClasses[code](`message for ${code}`, { field: 'key', limit: 7, actual: 9, mapRevision: 12, leaderHint: 'node-2', partitionId: 3, epoch: 4, ...version });
    const back = fromGrpcError(asServiceError(original), 'peer');
    expect(back.code).toBe(code);
    expect(back.name).toBe(original.name);
    expect(back.message).toBe(original.message);
    expect(back.details).toEqual(original.details);
    expect(asServiceError(original).code).toBe(grpcStatusByCode[code]);
  });

  it.each(codes)('round-trips %s through ErrorInfo (the per-operation form on streams)', (code) => {
    const original = new errorClasses[code]('m', { retryAfterMs: 25 });
    const info = toErrorInfo(original);
    expect(info.code).toBe(code);
    expect(info.grpcCode).toBe(grpcStatusByCode[code]);
    const back = fromErrorInfo(info);
    expect(back.code).toBe(code);
    expect(back.details.retryAfterMs).toBe(25);
  });

  it('keeps a current version of 0 on CONDITION_FAILED (the key is absent)', () => {
    const back = fromErrorInfo(toErrorInfo(new errorClasses.CONDITION_FAILED('absent', { currentVersion: 0 })));
    expect(back.details.currentVersion).toBe(0);
  });

  it('uses the documented statuses for the shared codes', () => {
    expect(grpcStatusByCode.KEY_TOO_LARGE).toBe(status.INVALID_ARGUMENT);
    expect(grpcStatusByCode.KEYSPACE_NOT_FOUND).toBe(status.NOT_FOUND);
    expect(grpcStatusByCode.CONDITION_FAILED).toBe(status.FAILED_PRECONDITION);
    expect(grpcStatusByCode.NOT_LEADER).toBe(status.FAILED_PRECONDITION);
    expect(grpcStatusByCode.OVERLOADED).toBe(status.RESOURCE_EXHAUSTED);
    expect(grpcStatusByCode.AMBIGUOUS_RESULT).toBe(status.UNKNOWN);
    expect(grpcStatusByCode.CORRUPT_REPLICA).toBe(status.DATA_LOSS);
  });

  it('turns a non-Quire error into INTERNAL keeping the cause', () => {
    const cause = new TypeError('boom');
    const e = toQuireError(cause);
    expect(e.code).toBe('INTERNAL');
    expect(e.cause).toBe(cause);
    expect(toErrorInfo('a string').code).toBe('INTERNAL');
  });

  it('rebuilds an unknown code from a newer peer as INTERNAL', () => {
    const info = toErrorInfo(new errorClasses.OVERLOADED('x'));
    expect(fromErrorInfo({ ...info, code: 'SOMETHING_NEW' }).code).toBe('INTERNAL');
  });
});

describe('classifying transport failures without Quire metadata', () => {
  const transport = (code: status, details: string): ServiceError =>
    Object.assign(new Error(details), { code, details, metadata: new Metadata() }) as ServiceError;

  it.each([
    [status.UNAVAILABLE, false, 'UNAVAILABLE'],
    [status.UNAVAILABLE, true, 'AMBIGUOUS_RESULT'],
    [status.CANCELLED, true, 'AMBIGUOUS_RESULT'],
    [status.DEADLINE_EXCEEDED, false, 'DEADLINE_EXCEEDED'],
    [status.DEADLINE_EXCEEDED, true, 'AMBIGUOUS_RESULT'],
    [status.UNIMPLEMENTED, false, 'INTERNAL'],
  ] as const)('status %s with a write in flight %s becomes %s', (code, writeInFlight, expected) => {
    expect(fromGrpcError(transport(code, 'x'), 'peer', writeInFlight).code).toBe(expected);
  });

  it('says "connection refused" instead of grpc-js internals', () => {
    const e = fromGrpcError(transport(status.UNAVAILABLE, 'No connection established. Last error: connect ECONNREFUSED 127.0.0.1:1'), 'router at 127.0.0.1:1');
    expect(e.message).toBe('Cannot reach router at 127.0.0.1:1: connection refused (is it running?)');
  });

  it('reports undecodable error details as INTERNAL instead of throwing', () => {
    const md = new Metadata();
    md.set('quire-error-bin', Buffer.from([0x0a, 0xff]));
    const e = fromGrpcError(Object.assign(new Error('x'), { code: status.INTERNAL, details: 'x', metadata: md }), 'peer');
    expect(e.code).toBe('INTERNAL');
  });
});

describe('isQuireError', () => {
  it('accepts Quire errors, optionally of given codes, and nothing else', () => {
    const e = new errorClasses.NOT_LEADER('x');
    expect(isQuireError(e)).toBe(true);
    expect(isQuireError(e, 'NOT_LEADER', 'STALE_EPOCH')).toBe(true);
    expect(isQuireError(e, 'STALE_EPOCH')).toBe(false);
    expect(isQuireError(new Error('x'))).toBe(false);
    expect(isQuireError(Object.assign(new Error('x'), { code: 'ENOENT' }))).toBe(false);
    expect(isQuireError({ code: 'NOT_LEADER', retry: 'none' })).toBe(false);
  });
});

describe('a failed assertion reaching the error mapping', () => {
  it('is rethrown outside the request handler so the process crashes, not answered', async () => {
    const rethrown = new Promise<unknown>((resolve) => {
      const listeners = process.listeners('uncaughtException');
      process.removeAllListeners('uncaughtException');
      process.once('uncaughtException', (err) => {
        for (const l of listeners) process.on('uncaughtException', l);
        resolve(err);
      });
    });
    const bug = new AssertionError('invariant broken');
    expect(toErrorInfo(bug).code).toBe('INTERNAL');
    expect(await rethrown).toBe(bug);
  });
});
