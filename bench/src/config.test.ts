import { describe, expect, it } from 'vitest';
import { ConfigError } from '@quire/common';
import { loadBenchConfig, systemLabels } from './config.js';

const configError = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
};

describe('loadBenchConfig', () => {
  it('defaults to one replica and one etcd member', () => {
    const c = loadBenchConfig([], {});
    expect(c.replication).toBe(1);
    expect(c.etcdMembers).toBe(1);
    expect(c.nodes).toBe(3);
  });

  it('makes the etcd cluster as large as the replication factor unless told otherwise', () => {
    expect(loadBenchConfig(['--replication', '3'], {}).etcdMembers).toBe(3);
    expect(loadBenchConfig(['--replication', '3', '--etcd-members', '1'], {}).etcdMembers).toBe(1);
    expect(loadBenchConfig([], { QUIRE_BENCH_REPLICATION: '3', QUIRE_BENCH_ETCD_MEMBERS: '5' })).toMatchObject({ replication: 3, etcdMembers: 5 });
    expect(loadBenchConfig(['--replication', '5', '--nodes', '5'], {}).etcdMembers).toBe(5);
  });

  it('rejects a replication factor above the node count or out of range', () => {
    expect(configError(() => loadBenchConfig(['--replication', '4'], {}))).toMatch(/--replication .* is 4; it must be at most --nodes \(3\)/);
    expect(configError(() => loadBenchConfig(['--replication', '0'], {}))).toMatch(/1\.\.5/);
    expect(configError(() => loadBenchConfig(['--replication', '6', '--nodes', '8'], {}))).toMatch(/1\.\.5/);
  });

  it('accepts only 1, 3 or 5 etcd members, including the default taken from --replication', () => {
    expect(configError(() => loadBenchConfig(['--etcd-members', '2'], {}))).toMatch(/--etcd-members .* is 2; .*1, 3 or 5/);
    expect(configError(() => loadBenchConfig(['--replication', '2'], {}))).toMatch(/--replication 2 makes the default --etcd-members 2; .*1, 3 or 5/);
    expect(loadBenchConfig(['--replication', '2', '--etcd-members', '3'], {})).toMatchObject({ replication: 2, etcdMembers: 3 });
  });

  it('runs the CPU phase at 2000 puts/s unless told another rate, and skips it at 0', () => {
    expect(loadBenchConfig([], {}).cpuRate).toBe(2_000);
    expect(loadBenchConfig(['--cpu-rate', '0'], {}).cpuRate).toBe(0);
    expect(loadBenchConfig([], { QUIRE_BENCH_CPU_RATE: '1500' }).cpuRate).toBe(1_500);
    expect(configError(() => loadBenchConfig(['--cpu-rate', '-1'], {}))).toMatch(/cpu-rate/);
  });
});

describe('systemLabels', () => {
  it('keeps the plain names for the default run and names the configuration otherwise', () => {
    expect(systemLabels({ replication: 1, etcdMembers: 1 })).toEqual({ quire: 'Quire', etcd: 'etcd' });
    expect(systemLabels({ replication: 3, etcdMembers: 3 })).toEqual({ quire: 'Quire (replication 3, sync)', etcd: 'etcd (3 members)' });
    expect(systemLabels({ replication: 3, etcdMembers: 1 })).toEqual({ quire: 'Quire (replication 3, sync)', etcd: 'etcd (1 member)' });
  });
});
