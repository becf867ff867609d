import { describe, expect, it } from 'vitest';
import { loadDataNodeConfig } from './config.js';

const base = ['--data-dir', '/tmp/quire-config-test'];

describe('loadDataNodeConfig request id deduplication', () => {
  it('defaults to a 60 s window and 65 536 ids per partition, and reads the flags or QUIRE_* variables', () => {
    const c = loadDataNodeConfig(base, {});
    expect(c.dedupWindowMs).toBe(60_000);
    expect(c.dedupEntriesMax).toBe(65_536);
    expect(loadDataNodeConfig([...base, '--dedup-window-ms', '5000'], {}).dedupWindowMs).toBe(5_000);
    expect(loadDataNodeConfig(base, { QUIRE_DEDUP_ENTRIES_MAX: '100000' }).dedupEntriesMax).toBe(100_000);
  });

  it('refuses a window outside 1 s..1 h', () => {
    expect(() => loadDataNodeConfig([...base, '--dedup-window-ms', '999'], {})).toThrow(/dedup-window-ms/);
    expect(() => loadDataNodeConfig([...base, '--dedup-window-ms', '3600001'], {})).toThrow(/dedup-window-ms/);
  });

  it('requires room for the id of every write not yet applied: --dedup-entries-max ≥ --pending-entries-max', () => {
    expect(() => loadDataNodeConfig([...base, '--dedup-entries-max', '1000'], {})).toThrow(/--dedup-entries-max \(1000\) must be at least --pending-entries-max \(65536\)/);
    const c = loadDataNodeConfig([...base, '--dedup-entries-max', '1000', '--pending-entries-max', '1000', '--write-batch-ops-max', '1000'], {});
    expect(c.dedupEntriesMax).toBe(1_000);
  });
});

describe('loadDataNodeConfig --zone', () => {
  it('is empty unless given, and reads --zone or QUIRE_ZONE', () => {
    expect(loadDataNodeConfig(base, {}).zone).toBe('');
    expect(loadDataNodeConfig([...base, '--zone', 'eu-west-1a'], {}).zone).toBe('eu-west-1a');
    expect(loadDataNodeConfig(base, { QUIRE_ZONE: 'rack.7' }).zone).toBe('rack.7');
  });

  it.each(['A', 'a b', '-a', 'x'.repeat(64)])('refuses "%s", naming the flag and the rule', (zone) => {
    expect(() => loadDataNodeConfig([...base, '--zone', zone], {})).toThrow(/--zone ".*" is invalid: use 1\.\.63 characters of a-z, 0-9/);
  });
});
