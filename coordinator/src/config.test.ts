import { describe, expect, it } from 'vitest';
import { ConfigError } from '@quire/common';
import { loadCoordinatorConfig } from './config.js';

const base = ['--coordinator-id', 'c1', '--etcd', '127.0.0.1:2379'];

describe('loadCoordinatorConfig: replication of the default keyspace', () => {
  it('defaults to one replica and min ISR 1', () => {
    expect(loadCoordinatorConfig(base, {})).toMatchObject({ replicationFactor: 1, minIsr: 1 });
  });

  it('takes --replication-factor or $QUIRE_REPLICATION_FACTOR, with the default min ISR for it', () => {
    expect(loadCoordinatorConfig([...base, '--replication-factor', '3'], {})).toMatchObject({ replicationFactor: 3, minIsr: 2 });
    expect(loadCoordinatorConfig(base, { QUIRE_REPLICATION_FACTOR: '2' })).toMatchObject({ replicationFactor: 2, minIsr: 2 });
  });

  it('takes a --min-isr up to the replication factor, and refuses a larger one naming both flags', () => {
    expect(loadCoordinatorConfig([...base, '--replication-factor', '3', '--min-isr', '3'], {})).toMatchObject({ minIsr: 3 });
    expect(loadCoordinatorConfig([...base, '--replication-factor', '3', '--min-isr', '1'], {})).toMatchObject({ minIsr: 1 });
    expect(() => loadCoordinatorConfig([...base, '--replication-factor', '2', '--min-isr', '3'], {})).toThrow(ConfigError);
    expect(() => loadCoordinatorConfig([...base, '--replication-factor', '2', '--min-isr', '3'], {})).toThrow(/--min-isr \(3\).*--replication-factor \(2\)/);
  });

  it('refuses a replication factor outside 1..7', () => {
    expect(() => loadCoordinatorConfig([...base, '--replication-factor', '8'], {})).toThrow(/--replication-factor is 8; expected an integer in 1\.\.7/);
    expect(() => loadCoordinatorConfig([...base, '--replication-factor', '0'], {})).toThrow(ConfigError);
  });
});

describe('loadCoordinatorConfig: ack policy of the default keyspace', () => {
  it('defaults to sync and takes --ack-policy or $QUIRE_ACK_POLICY', () => {
    expect(loadCoordinatorConfig(base, {})).toMatchObject({ ackPolicy: 'sync' });
    expect(loadCoordinatorConfig([...base, '--replication-factor', '3', '--ack-policy', 'semi-sync'], {})).toMatchObject({ ackPolicy: 'semi-sync' });
    expect(loadCoordinatorConfig(base, { QUIRE_ACK_POLICY: 'async' })).toMatchObject({ ackPolicy: 'async' });
  });

  it('refuses an unknown policy, naming the choices', () => {
    expect(() => loadCoordinatorConfig([...base, '--ack-policy', 'quorum'], {})).toThrow(ConfigError);
    expect(() => loadCoordinatorConfig([...base, '--ack-policy', 'quorum'], {})).toThrow(/sync, semi-sync, async/);
  });

  it('refuses semi-sync with one replica: there is no follower to wait for', () => {
    expect(() => loadCoordinatorConfig([...base, '--ack-policy', 'semi-sync'], {})).toThrow(/semi-sync.*--replication-factor 2/);
    expect(loadCoordinatorConfig([...base, '--ack-policy', 'async'], {})).toMatchObject({ ackPolicy: 'async', replicationFactor: 1 });
  });
});

describe('loadCoordinatorConfig: failover', () => {
  it('defaults to a 1 s log-end deadline, a 200 ms leaderless retry and 1024 partitions per pass', () => {
    expect(loadCoordinatorConfig(base, {})).toMatchObject({ failoverLogEndDeadlineMs: 1_000, failoverRetryMs: 200, failoverPartitionsMax: 1024 });
  });

  it('takes the flags and their environment variables', () => {
    expect(loadCoordinatorConfig([...base, '--failover-log-end-deadline-ms', '250', '--failover-retry-ms', '50', '--failover-partitions-max', '8'], {})).toMatchObject({
      failoverLogEndDeadlineMs: 250,
      failoverRetryMs: 50,
      failoverPartitionsMax: 8,
    });
    expect(loadCoordinatorConfig(base, { QUIRE_FAILOVER_LOG_END_DEADLINE_MS: '300', QUIRE_FAILOVER_RETRY_MS: '20' })).toMatchObject({ failoverLogEndDeadlineMs: 300, failoverRetryMs: 20 });
  });

  it('refuses a deadline outside 10..60000 ms', () => {
    expect(() => loadCoordinatorConfig([...base, '--failover-log-end-deadline-ms', '5'], {})).toThrow(ConfigError);
  });
});
