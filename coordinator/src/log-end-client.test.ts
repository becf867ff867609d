import { afterEach, describe, expect, it } from 'vitest';
import { status, type Server, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { ReplicationService, type GetLogEndRequest, type GetLogEndResponse } from '@quire/proto';
import { nodeKey, silentLogger, systemClock } from '@quire/common';
import { bindGrpcServer, createGrpcServer } from '@quire/runtime';
import { applyToView, nodeRegistrationValue, viewOf } from '../../common/src/testing/metadata-fixtures.js';
import { LogEndClient, logEndOf } from './log-end-client.js';
import { ReplicationClients } from './replication-clients.js';

describe('logEndOf', () => {
  it.each<[string, GetLogEndResponse['logEnd'], { epoch: number; index: number } | undefined]>([
    ['takes a log end', { epoch: 3, index: 17 }, { epoch: 3, index: 17 }],
    ['reads an absent log end as the empty log', undefined, { epoch: 0, index: 0 }],
    ['refuses an index without an epoch', { epoch: 0, index: 4 }, undefined],
    ['refuses an epoch without an index', { epoch: 2, index: 0 }, undefined],
    ['refuses an unsafe integer', { epoch: 1, index: 2 ** 60 }, undefined],
  ])('%s', (_name, logEnd, expected) => {
    expect(logEndOf({ logEnd, durableIndex: 0, appliedIndex: 0, knownEpoch: 0 })).toEqual(expected);
  });
});

describe('LogEndClient', () => {
  let server: Server | undefined;
  let clients: ReplicationClients | undefined;
  afterEach(() => {
    clients?.close();
    server?.forceShutdown();
  });

  it('asks GetLogEnd, and answers undefined for an error or a missed deadline', async () => {
    server = createGrpcServer();
    server.addService(ReplicationService, {
      getLogEnd: (call: ServerUnaryCall<GetLogEndRequest, GetLogEndResponse>, callback: sendUnaryData<GetLogEndResponse>) => {
        const { partitionId } = call.request;
        if (partitionId === 1) callback(null, { logEnd: { epoch: 4, index: 9 }, durableIndex: 9, appliedIndex: 8, knownEpoch: 4 });
        else if (partitionId === 2) callback({ code: status.FAILED_PRECONDITION, details: 'no replica' });
        // Partition 3: never answered.
      },
    });
    const address = await bindGrpcServer(server, '127.0.0.1:0');
    const view = viewOf({ live: [] });
    applyToView(view, [{ key: nodeKey('n2'), value: nodeRegistrationValue('n2', address) }]);
    clients = new ReplicationClients(view);
    const client = new LogEndClient(clients, systemClock, silentLogger);
    expect(await client.logEnd('n2', address, 'default', 1, 2_000)).toEqual({ epoch: 4, index: 9 });
    expect(await client.logEnd('n2', address, 'default', 2, 2_000)).toBeUndefined();
    expect(await client.logEnd('n2', address, 'default', 3, 100)).toBeUndefined();
    // The registration goes: the channel is closed, and a call on a new one still answers.
    applyToView(view, [{ key: nodeKey('n2'), value: undefined }]);
    expect(await client.logEnd('n2', address, 'default', 1, 2_000)).toEqual({ epoch: 4, index: 9 });
  });
});
