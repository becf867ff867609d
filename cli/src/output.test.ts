import { describe, expect, it } from 'vitest';
import { MovePhase, PartitionScheme, type ClusterStatusResponse, type KeyspaceInfo, type MoveInfo, type PartitionInfo, type PartitionMap } from '@quire/proto';
import { drainState, formatEta, formatFollowerLag, formatKey, formatKeyspaces, formatMoves, formatRange, formatSnapshotProgress, formatSplit, formatStatus, keyspaceJson, moveJson, moveProgress, splitJson } from './output.js';

/** The snapshot fields of a follower not being sent one. */
const noSnapshot = { snapshotBytesSent: 0, snapshotBytesEstimate: 0, snapshotKeysSent: 0, snapshotBytesPerSecond: 0 };

describe('formatFollowerLag', () => {
  it('shows entries and ms per follower, ? when its leader did not say, - without followers', () => {
    expect(
      formatFollowerLag([
        { nodeId: 'node-2', known: true, lagEntries: 0, lagMs: 0, durableIndex: 10, mode: 'replicate', ...noSnapshot },
        { nodeId: 'node-3', known: true, lagEntries: 42, lagMs: 1250, durableIndex: 8, mode: 'snapshot', ...noSnapshot },
        { nodeId: 'node-4', known: false, lagEntries: 0, lagMs: 0, durableIndex: 0, mode: '', ...noSnapshot },
      ]),
    ).toBe('node-2:0/0ms node-3:42/1250ms(snapshot) node-4:?');
    expect(formatFollowerLag([])).toBe('-');
  });

  it('adds the megabytes sent and estimated to a follower being sent a snapshot, once its leader reports them', () => {
    const snapshot = { snapshotBytesSent: 412_300_000, snapshotBytesEstimate: 805_000_000, snapshotKeysSent: 1_200_000, snapshotBytesPerSecond: 12_500_000 };
    expect(formatFollowerLag([{ nodeId: 'node-4', known: true, lagEntries: 1200, lagMs: 900, durableIndex: 0, mode: 'snapshot', ...snapshot }])).toBe('node-4:1200/900ms(snapshot 412.3/805.0 MB)');
  });
});

describe('formatSnapshotProgress', () => {
  const progress = (sent: number, estimate: number, bytesPerSecond: number, keys = 0): string =>
    formatSnapshotProgress({ snapshotBytesSent: sent, snapshotBytesEstimate: estimate, snapshotKeysSent: keys, snapshotBytesPerSecond: bytesPerSecond });

  it('shows an empty bar, and the whole estimate left, when nothing is sent yet', () => {
    expect(progress(0, 805_000_000, 0)).toBe('[..........] 0.0/805.0 MB 0 keys 0.0 MB/s (snapshot)');
  });

  it('shows a bar filled per whole tenth sent, decimal megabytes, keys, the rate and the time left at it', () => {
    // (805.0 - 412.3) MB at 12.5 MB/s: 31.4 s.
    expect(progress(412_300_000, 805_000_000, 12_500_000, 1_200_000)).toBe('[#####.....] 412.3/805.0 MB 1200000 keys 12.5 MB/s ETA 31s (snapshot)');
    expect(progress(80_499_999, 805_000_000, 1_000_000)).toBe('[..........] 80.5/805.0 MB 0 keys 1.0 MB/s ETA 12m05s (snapshot)');
    expect(progress(1_000_000, 10_000_000_000, 1_000_000)).toBe('[..........] 1.0/10000.0 MB 0 keys 1.0 MB/s ETA 2h46m (snapshot)');
  });

  it('fills the bar only once everything estimated is sent, and never shows more sent than estimated', () => {
    expect(progress(804_000_000, 805_000_000, 12_500_000)).toBe('[#########.] 804.0/805.0 MB 0 keys 12.5 MB/s ETA 0s (snapshot)');
    expect(progress(805_000_000, 805_000_000, 12_500_000)).toBe('[##########] 805.0/805.0 MB 0 keys 12.5 MB/s ETA 0s (snapshot)');
    expect(progress(900_000_000, 805_000_000, 12_500_000)).toBe('[##########] 900.0/900.0 MB 0 keys 12.5 MB/s ETA 0s (snapshot)');
  });

  it('leaves the time left out while there is no rate', () => {
    expect(progress(412_300_000, 805_000_000, 0, 10)).toBe('[#####.....] 412.3/805.0 MB 10 keys 0.0 MB/s (snapshot)');
  });

  it('formats durations in seconds, minutes and hours', () => {
    expect([formatEta(0), formatEta(31.4), formatEta(59.6), formatEta(245), formatEta(7_620)]).toEqual(['0s', '31s', '1m00s', '4m05s', '2h07m']);
  });
});

describe('formatStatus', () => {
  const partition = (partitionId: number, isr: string[], leaderLive = true): PartitionInfo => ({ startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), partitionId, replicas: ['n1', 'n2', 'n3'], leader: 'n1', epoch: 1, leaderLive, isr, followers: [] });
  const status = (partitions: PartitionInfo[]): ClusterStatusResponse => ({
    clusterId: 'c',
    mapRevision: 7,
    coordinator: undefined,
    nodes: [{ nodeId: 'n1', address: '127.0.0.1:1', live: true, replicaCount: 3, leaderCount: 3, metricsAddress: '', partitionsMax: 1024, zone: 'a', draining: false }],
    keyspaces: [{ keyspace: 'default', scheme: 1, partitionCount: partitions.length, replicationFactor: 3, revision: 7, partitions, ackPolicy: 1, minIsr: 2 }],
    moves: [],
  });

  it('says how many partitions have fewer in sync than the replication factor, and only when some do', () => {
    expect(formatStatus(status([partition(0, ['n1', 'n2', 'n3']), partition(1, ['n1', 'n2', 'n3'])]))).toMatch(/^Keyspace default: hash, 2 partitions, replication 3, ack sync, min ISR 2$/m);
    expect(formatStatus(status([partition(0, ['n1', 'n2']), partition(1, ['n1']), partition(2, ['n1', 'n2', 'n3'])]))).toMatch(/^Keyspace default: .*, 2 under-replicated$/m);
  });

  it('shows each node\'s zone and drain state', () => {
    expect(formatStatus(status([]))).toMatch(/^n1\s+127\.0\.0\.1:1\s+yes\s+3\s+3\s+-\s+a\s+-$/m);
    const node = status([]).nodes[0]!;
    expect(drainState({ ...node, draining: true })).toBe('draining');
    expect(drainState({ ...node, draining: true, replicaCount: 0 })).toBe('drained');
  });

  it('lists the moves in flight with their phase and reason, and nothing when there are none', () => {
    const move: MoveInfo = { keyspace: 'default', partitionId: 3, source: 'n1', target: 'n4', phase: MovePhase.MOVE_PHASE_CATCHING_UP, reason: 'balance', startedAtMs: 1_000, endedAtMs: 0, outcome: '' };
    expect(formatStatus(status([]))).not.toMatch(/Moves in flight/);
    const text = formatStatus({ ...status([]), moves: [move] });
    expect(text).toMatch(/^Moves in flight: 1$/m);
    expect(text).toMatch(/^default\/3\s+n1\s+n4\s+catching-up\s+balance\s+-$/m);
    const learning: PartitionInfo = { ...partition(3, ['n1', 'n2', 'n3']), replicas: ['n1', 'n2', 'n3', 'n4'], followers: [{ nodeId: 'n4', known: true, lagEntries: 1200, lagMs: 900, durableIndex: 30, mode: 'snapshot', ...noSnapshot }] };
    expect(formatStatus({ ...status([learning]), moves: [move] })).toMatch(/^default\/3\s+n1\s+n4\s+catching-up\s+balance\s+1200 entries behind \(snapshot\)$/m);
    expect(formatStatus({ ...status([{ ...learning, isr: ['n1', 'n2', 'n3', 'n4'] }]), moves: [move] })).toMatch(/^default\/3\s+.*\s+in sync$/m);
    const catchingUp: PartitionInfo = { ...learning, followers: [{ nodeId: 'n4', known: true, lagEntries: 35, lagMs: 120, durableIndex: 1165, mode: 'replicate', ...noSnapshot }] };
    expect(formatStatus({ ...status([catchingUp]), moves: [move] })).toMatch(/^default\/3\s+n1\s+n4\s+catching-up\s+balance\s+35 entries behind$/m);
  });

  it('shows a move whose target is being sent a snapshot as a progress bar with bytes, keys, rate and time left', () => {
    const move: MoveInfo = { keyspace: 'default', partitionId: 3, source: 'n1', target: 'n4', phase: MovePhase.MOVE_PHASE_CATCHING_UP, reason: 'drain', startedAtMs: 1_000, endedAtMs: 0, outcome: '' };
    const snapshot = { snapshotBytesSent: 412_300_000, snapshotBytesEstimate: 805_000_000, snapshotKeysSent: 1_200_000, snapshotBytesPerSecond: 12_500_000 };
    const sending: PartitionInfo = { ...partition(3, ['n1', 'n2', 'n3']), replicas: ['n1', 'n2', 'n3', 'n4'], followers: [{ nodeId: 'n4', known: true, lagEntries: 1200, lagMs: 900, durableIndex: 0, mode: 'snapshot', ...snapshot }] };
    const s = { ...status([sending]), moves: [move] };
    expect(moveProgress(move, s)).toBe('[#####.....] 412.3/805.0 MB 1200000 keys 12.5 MB/s ETA 31s (snapshot)');
    const text = formatStatus(s);
    expect(text).toMatch(/^default\/3\s+n1\s+n4\s+catching-up\s+drain\s+\[#####\.\.\.\.\.\] 412\.3\/805\.0 MB 1200000 keys 12\.5 MB\/s ETA 31s \(snapshot\)$/m);
    expect(text).toMatch(/n4:1200\/900ms\(snapshot 412\.3\/805\.0 MB\)$/m);
  });
});

describe('formatMoves', () => {
  const base: MoveInfo = { keyspace: 'orders', partitionId: 0, source: 'n1', target: 'n2', phase: MovePhase.MOVE_PHASE_DONE, reason: 'drain', startedAtMs: 10_000, endedAtMs: 12_500, outcome: '' };
  it('shows finished moves with how long each took and why one rolled back', () => {
    const text = formatMoves([], [base, { ...base, partitionId: 1, phase: MovePhase.MOVE_PHASE_ROLLED_BACK, outcome: 'target n2 went down while catching up' }]);
    expect(text).toMatch(/^No moves in flight$/m);
    expect(text).toMatch(/^orders\/0\s+n1\s+n2\s+done\s+drain\s+2\.5s\s+-$/m);
    expect(text).toMatch(/^orders\/1\s+n1\s+n2\s+rolled-back\s+drain\s+2\.5s\s+target n2 went down while catching up$/m);
  });
  it('prints a move as JSON with its phase name and no empty fields', () => {
    expect(moveJson({ ...base, endedAtMs: 0 })).toEqual({ keyspace: 'orders', partition: 0, source: 'n1', target: 'n2', phase: 'done', reason: 'drain', startedAtMs: 10_000 });
  });
});

describe('range keyspaces in the CLI output', () => {
  const b = (text: string): Buffer => Buffer.from(text);
  const info = (partitionId: number, start: string | Buffer, end: string | Buffer, epoch = 1): PartitionInfo => ({
    partitionId,
    replicas: ['n1', 'n2'],
    leader: 'n1',
    epoch,
    leaderLive: true,
    isr: ['n1', 'n2'],
    followers: [],
    startKey: typeof start === 'string' ? b(start) : start,
    endKey: typeof end === 'string' ? b(end) : end,
  });
  const map = (keyspace: string, scheme: PartitionScheme, partitions: PartitionInfo[]): PartitionMap => ({ keyspace, scheme, partitionCount: partitions.length, replicationFactor: 2, revision: 9, partitions, ackPolicy: 1, minIsr: 2 });
  const status = (keyspaces: PartitionMap[]): ClusterStatusResponse => ({ clusterId: 'c', mapRevision: 9, coordinator: undefined, nodes: [], keyspaces, moves: [] });

  it('prints printable keys as JSON strings, others as 0x hex, and the open end as ∞', () => {
    expect(formatKey(b('user/1'))).toBe('"user/1"');
    expect(formatKey(b('say "hi"'))).toBe('"say \\"hi\\""');
    expect(formatKey(Buffer.from([0x00, 0xff]))).toBe('0x00ff');
    expect(formatKey(b('0x00'))).toBe('"0x00"');
    expect(formatRange(b(''), b('g'))).toBe('["", "g")');
    expect(formatRange(b('p'), b(''))).toBe('["p", ∞)');
  });

  it('shows a range keyspace\'s partitions in key order with their ranges, and a hash keyspace exactly as before', () => {
    const hash = map('default', PartitionScheme.PARTITION_SCHEME_HASH, [info(0, '', ''), info(1, '', '')]);
    const range = map('events', PartitionScheme.PARTITION_SCHEME_RANGE, [info(0, '', 'g', 2), info(1, 'p', '', 3), info(2, 'g', Buffer.from([0x6d, 0x00]), 3), info(3, Buffer.from([0x6d, 0x00]), 'p', 3)]);
    const text = formatStatus(status([hash, range]));
    expect(text.split('\n').slice(5)).toEqual([
      'Keyspace default: hash, 2 partitions, replication 2, ack sync, min ISR 2',
      'PARTITION  LEADER  EPOCH  REPLICAS  ISR    LEADER LIVE  FOLLOWER LAG (entries/ms)',
      '0          n1      1      n1,n2     n1,n2  yes          -',
      '1          n1      1      n1,n2     n1,n2  yes          -',
      '',
      'Keyspace events: range, 4 partitions, replication 2, ack sync, min ISR 2',
      'PARTITION  RANGE          LEADER  EPOCH  REPLICAS  ISR    LEADER LIVE  FOLLOWER LAG (entries/ms)',
      '0          ["", "g")      n1      2      n1,n2     n1,n2  yes          -',
      '2          ["g", 0x6d00)  n1      3      n1,n2     n1,n2  yes          -',
      '3          [0x6d00, "p")  n1      3      n1,n2     n1,n2  yes          -',
      '1          ["p", ∞)       n1      3      n1,n2     n1,n2  yes          -',
    ]);
  });

  it('adds a SCHEME column to keyspace list only once a range keyspace exists, and scheme to the JSON of range keyspaces only', () => {
    const ks = (keyspace: string, scheme: PartitionScheme): KeyspaceInfo => ({ keyspace, scheme, partitionCount: 2, replicationFactor: 3, ackPolicy: 1, minIsr: 2, partitionsAssigned: 2, partitionsLed: 2 });
    const hashOnly = [ks('default', PartitionScheme.PARTITION_SCHEME_HASH), ks('orders', PartitionScheme.PARTITION_SCHEME_HASH)];
    expect(formatKeyspaces(hashOnly)).toBe(['KEYSPACE  PARTITIONS  REPLICATION  ACK POLICY  MIN ISR  LED', 'default   2           3            sync        2        2/2', 'orders    2           3            sync        2        2/2'].join('\n'));
    expect(formatKeyspaces([...hashOnly, ks('events', PartitionScheme.PARTITION_SCHEME_RANGE)])).toBe(
      [
        'KEYSPACE  PARTITIONS  REPLICATION  ACK POLICY  MIN ISR  LED  SCHEME',
        'default   2           3            sync        2        2/2  hash',
        'orders    2           3            sync        2        2/2  hash',
        'events    2           3            sync        2        2/2  range',
      ].join('\n'),
    );
    expect(keyspaceJson(hashOnly[0]!)).toEqual({ keyspace: 'default', partitions: 2, replication: 3, ackPolicy: 'sync', minIsr: 2, assigned: 2, led: 2 });
    expect(keyspaceJson(ks('events', PartitionScheme.PARTITION_SCHEME_RANGE))).toMatchObject({ keyspace: 'events', scheme: 'range' });
  });

  it('prints a split with both partitions\' ranges from the map read after it, or without them when that read failed', () => {
    const response = { leftPartitionId: 3, rightPartitionId: 7, epoch: 5, revision: 42 };
    const after = map('ks', PartitionScheme.PARTITION_SCHEME_RANGE, [info(3, 'a', 'key', 5), info(7, 'key', 'm', 5)]);
    expect(formatSplit('ks', b('key'), response, after)).toBe('OK split ks/3 at "key": partition 3 keeps ["a", "key"), new partition 7 takes ["key", "m") at epoch 5');
    expect(formatSplit('ks', b('key'), response, undefined)).toBe('OK split ks/3 at "key": partition 3 keeps the keys before it, new partition 7 takes the rest at epoch 5');
    expect(splitJson('ks', b('key'), response, after)).toEqual({ keyspace: 'ks', at: 'key', left: { partition: 3, start: 'a', end: 'key' }, right: { partition: 7, start: 'key', end: 'm' }, epoch: 5, revision: 42 });
    expect(splitJson('ks', Buffer.from([0xff]), response, undefined)).toEqual({ keyspace: 'ks', atBase64: '/w==', left: { partition: 3 }, right: { partition: 7 }, epoch: 5, revision: 42 });
  });
});
