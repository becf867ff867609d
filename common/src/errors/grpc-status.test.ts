import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { ErrorInfo } from '@quire/proto';
import { AssertionError } from '../assert.js';
import { errorClasses, isQuireError, type QuireErrorCode } from './quire-error.js';
import { mayHaveTakenEffect } from './operation-effect.js';
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
    expect(grpcStatusByCode.ALREADY_EXISTS).toBe(status.ALREADY_EXISTS);
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

  // Every status grpc-js can report, OK included (a stream that ends without an answer).
  const statuses = Object.values(status).filter((v): v is status => typeof v === 'number');

  it.each(statuses)('status %s without a write in flight keeps the read typed: UNAVAILABLE, DEADLINE_EXCEEDED or INTERNAL', (code) => {
    const expected = code === status.UNAVAILABLE || code === status.CANCELLED ? 'UNAVAILABLE' : code === status.DEADLINE_EXCEEDED ? 'DEADLINE_EXCEEDED' : 'INTERNAL';
    expect(fromGrpcError(transport(code, 'x'), 'peer', false).code).toBe(expected);
  });

  it.each(statuses)('status %s with a write in flight is AMBIGUOUS_RESULT (grpc-js reports an RST_STREAM as INTERNAL)', (code) => {
    const e = fromGrpcError(transport(code, 'Received RST_STREAM with code 2'), 'router at 127.0.0.1:1', true);
    expect(e.code).toBe('AMBIGUOUS_RESULT');
    expect(mayHaveTakenEffect(e.code)).toBe(true);
  });

  it('makes a failure that is not a gRPC status INTERNAL for a read and AMBIGUOUS_RESULT for a write in flight', () => {
    expect(fromGrpcError(new TypeError('boom'), 'peer', false).code).toBe('INTERNAL');
    expect(fromGrpcError(new TypeError('boom'), 'peer', true).code).toBe('AMBIGUOUS_RESULT');
  });

  it('keeps a Quire error the server decided, write in flight or not', () => {
    const refused = asServiceError(new errorClasses.CONDITION_FAILED('no', { currentVersion: 3 }));
    expect(fromGrpcError(refused, 'peer', true).code).toBe('CONDITION_FAILED');
  });

  it('makes an unknown code from a newer server AMBIGUOUS_RESULT for a write in flight, INTERNAL otherwise', () => {
    const s = toGrpcStatus(new errorClasses.OVERLOADED('x'));
    const info = toErrorInfo(new errorClasses.OVERLOADED('x'));
    s.metadata.set('quire-error-bin', Buffer.from(ErrorInfo.encode({ ...info, code: 'SOMETHING_NEW' }).finish()));
    const err = Object.assign(new Error('x'), { code: s.code, details: s.details, metadata: s.metadata });
    expect(fromGrpcError(err, 'peer', false).code).toBe('INTERNAL');
    expect(fromGrpcError(err, 'peer', true).code).toBe('AMBIGUOUS_RESULT');
  });

  it('says "connection refused" instead of grpc-js internals', () => {
    const e = fromGrpcError(transport(status.UNAVAILABLE, 'No connection established. Last error: connect ECONNREFUSED 127.0.0.1:1'), 'router at 127.0.0.1:1');
    expect(e.message).toBe('Cannot reach router at 127.0.0.1:1: connection refused (is it running?)');
  });

  it('reports undecodable error details as INTERNAL instead of throwing, and as AMBIGUOUS_RESULT with a write in flight', () => {
    const md = new Metadata();
    md.set('quire-error-bin', Buffer.from([0x0a, 0xff]));
    const err = Object.assign(new Error('x'), { code: status.INTERNAL, details: 'x', metadata: md });
    expect(fromGrpcError(err, 'peer').code).toBe('INTERNAL');
    expect(fromGrpcError(err, 'peer', true).code).toBe('AMBIGUOUS_RESULT');
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
