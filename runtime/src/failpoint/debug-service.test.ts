import { describe, expect, it } from 'vitest';
import { status, type sendUnaryData, type ServerUnaryCall, type ServiceError } from '@grpc/grpc-js';
import type { ListFailpointsRequest, SetFailpointsRequest } from '@quire/proto';
import { ManualClock } from '../../../common/src/testing/manual-clock.js';
import { seededRng, silentLogger, Failpoints } from '@quire/common';
import { createDebugService } from './debug-service.js';

/** Calls a unary handler with `request` and returns its error or response. */
async function call<Req, Res>(
  handler: (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void,
  request: Req,
): Promise<{ error: Partial<ServiceError> | null; response: Res | undefined }> {
  return new Promise((resolve) => {
    handler({ request } as ServerUnaryCall<Req, Res>, (error, response) => resolve({ error: error as Partial<ServiceError> | null, response: response ?? undefined }));
  });
}

describe('Debug service', () => {
  const failpoints = new Failpoints({ component: 'router', rng: seededRng(1), clock: new ManualClock(), crash: () => undefined, log: silentLogger });
  const service = createDebugService(failpoints);

  it('arms a spec and answers the armed list with counters', async () => {
    const set = await call<SetFailpointsRequest, unknown>(service.setFailpoints, { spec: 'router.forward.beforeSend=3*error(OVERLOADED)', replace: false });
    expect(set.error).toBeNull();
    expect(set.response).toEqual({ failpoints: [{ name: 'router.forward.beforeSend', term: '3*error(OVERLOADED)', hits: 0, fired: 0 }] });
    const list = await call<ListFailpointsRequest, unknown>(service.listFailpoints, {});
    expect(list.response).toEqual(set.response);
  });

  it('refuses an invalid spec with INVALID_ARGUMENT and the Quire error code, changing nothing', async () => {
    const set = await call<SetFailpointsRequest, unknown>(service.setFailpoints, { spec: 'datanode.groupCommit.beforeCommit=crash', replace: true });
    expect(set.error?.code).toBe(status.INVALID_ARGUMENT);
    expect(set.error?.metadata?.get('quire-error-code')).toEqual(['INVALID_ARGUMENT']);
    expect(set.error?.details).toMatch(/belongs to the datanode, not the router/);
    expect(failpoints.list().map((f) => f.name)).toEqual(['router.forward.beforeSend']);
  });

  it('replace with an empty spec disarms everything', async () => {
    const set = await call<SetFailpointsRequest, unknown>(service.setFailpoints, { spec: '', replace: true });
    expect(set.response).toEqual({ failpoints: [] });
  });
});
