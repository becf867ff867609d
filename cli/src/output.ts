/**
 * CLI output: exit codes, one-line errors, byte rendering and the status table. Human output
 * goes to stdout, errors to stderr; --json prints machine-readable JSON (one object per line
 * for scans).
 */
import { PartitionScheme, type ClusterStatusResponse, type FollowerLag, type KeyspaceInfo, type MoveInfo, type NodeInfo, type PartitionInfo, type PartitionMap, type SplitPartitionResponse } from '@quire/proto';
import { ackPolicyName, displayBytes, isQuireError, movePhaseName } from '@quire/common';

/** Exit codes of the `quire` command. */
export const ExitCode = {
  Ok: 0,
  /** The operation failed (server error, unreachable router, ambiguous outcome). */
  Error: 1,
  /** get/del: the key does not exist. */
  NotFound: 2,
  /** A compare-and-set found another version. */
  ConditionFailed: 3,
  /** Bad command line. */
  Usage: 64,
} as const;

/** Renders bytes as a JSON-safe field: UTF-8 text when valid, else base64 under `<name>Base64`. */
export function jsonBytes(name: string, bytes: Buffer): Record<string, string> {
  const text = bytes.toString('utf8');
  return Buffer.from(text, 'utf8').equals(bytes) ? { [name]: text } : { [`${name}Base64`]: bytes.toString('base64') };
}

/** Prints an error in one line and returns the exit code it maps to. */
export function reportError(err: unknown): number {
  if (isQuireError(err)) {
    process.stderr.write(`quire: ${err.message} (${err.code})\n`);
    return err.code === 'CONDITION_FAILED' ? ExitCode.ConditionFailed : ExitCode.Error;
  }
  process.stderr.write(`quire: ${err instanceof Error ? err.message : String(err)}\n`);
  return ExitCode.Error;
}

function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd((widths[i] ?? 0) + 2))).join('').trimEnd()).join('\n');
}

/**
 * One partition's follower lag for the status table: `node:entries/ms` per follower, `node:?` when
 * unknown; a follower being sent a snapshot adds `(snapshot)`, with the megabytes sent and
 * estimated once its leader reports them: `(snapshot 412.3/805.0 MB)`.
 */
export function formatFollowerLag(followers: readonly FollowerLag[]): string {
  if (followers.length === 0) return '-';
  return followers.map((f) => (f.known ? `${f.nodeId}:${f.lagEntries}/${f.lagMs}ms${f.mode === 'snapshot' ? snapshotNote(f) : ''}` : `${f.nodeId}:?`)).join(' ');
}

/** `(snapshot)`, or `(snapshot 412.3/805.0 MB)` once the leader reports the snapshot's bytes. */
function snapshotNote(f: FollowerLag): string {
  return f.snapshotBytesEstimate > 0 ? `(snapshot ${megabytes(f.snapshotBytesSent)}/${megabytes(f.snapshotBytesEstimate)} MB)` : '(snapshot)';
}

/** Bytes per megabyte in the CLI's output: decimal, as docs/benchmarks.md counts them. */
const bytesPerMegabyte = 1e6;

/** Bytes as decimal megabytes with one decimal: `412.3`. */
function megabytes(bytes: number): string {
  return (bytes / bytesPerMegabyte).toFixed(1);
}

/** Cells of the snapshot progress bar. */
const barCells = 10;

/** A duration in whole seconds for people: `31s`, `4m05s`, `2h07m`. */
export function formatEta(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * A snapshot's progress for people: `[#####.....] 412.3/805.0 MB 1200000 keys 12.5 MB/s ETA 31s
 * (snapshot)`. A bar of ten cells (a cell filled per whole tenth sent), megabytes sent over the
 * estimate (decimal MB), keys sent, the rate since the snapshot began, and the time left at that
 * rate ((estimate - sent) / rate; left out while the rate is 0). The estimate is the partition's
 * data on disk, which overstates the payload: a snapshot may end before the bar is full.
 */
export function formatSnapshotProgress(f: Pick<FollowerLag, 'snapshotBytesSent' | 'snapshotBytesEstimate' | 'snapshotKeysSent' | 'snapshotBytesPerSecond'>): string {
  const estimate = Math.max(f.snapshotBytesEstimate, f.snapshotBytesSent);
  const filled = estimate === 0 ? 0 : Math.min(barCells, Math.floor((f.snapshotBytesSent / estimate) * barCells));
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(barCells - filled)}]`;
  const rate = f.snapshotBytesPerSecond;
  const eta = rate > 0 ? ` ETA ${formatEta((estimate - f.snapshotBytesSent) / rate)}` : '';
  return `${bar} ${megabytes(f.snapshotBytesSent)}/${megabytes(estimate)} MB ${f.snapshotKeysSent} keys ${megabytes(rate)} MB/s${eta} (snapshot)`;
}

/** A key for people: a JSON string when it is printable UTF-8, else 0x hex. */
export function formatKey(key: Uint8Array): string {
  const shown = displayBytes(key);
  return shown === Buffer.from(key).toString('utf8') ? JSON.stringify(shown) : shown;
}

/** A partition's key range for people: `["a", "m")`; an empty end (the keyspace's end) is ∞. */
export function formatRange(start: Uint8Array, end: Uint8Array): string {
  return `[${formatKey(start)}, ${end.length === 0 ? '∞' : formatKey(end)})`;
}

/** The name of a keyspace's scheme: hash (also for UNSPECIFIED, which means hash) or range. */
export function schemeName(scheme: PartitionScheme): 'hash' | 'range' {
  return scheme === PartitionScheme.PARTITION_SCHEME_RANGE ? 'range' : 'hash';
}

/** A range keyspace's partitions in key order (their ids are in creation order). */
function inKeyOrder(partitions: readonly PartitionInfo[]): PartitionInfo[] {
  return [...partitions].sort((a, b) => Buffer.compare(a.startKey, b.startKey) || a.partitionId - b.partitionId);
}

/** Renders `quire status` for people. A hash keyspace's lines are as they always were; a range keyspace's add a RANGE column, in key order. */
export function formatStatus(s: ClusterStatusResponse): string {
  const out: string[] = [];
  const c = s.coordinator;
  out.push(`Cluster ${s.clusterId || '(not bootstrapped)'}  map revision ${s.mapRevision}`);
  out.push(c === undefined ? 'Coordinator leader: none elected' : `Coordinator leader: ${c.coordinatorId} at ${c.address} (term ${c.term})`);
  out.push('');
  out.push(
    table([
      ['NODE', 'ADDRESS', 'LIVE', 'REPLICAS', 'LEADERS', 'METRICS', 'ZONE', 'DRAIN'],
      ...s.nodes.map((n) => [n.nodeId, n.address || '-', n.live ? 'yes' : 'NO', String(n.replicaCount), String(n.leaderCount), n.metricsAddress || '-', n.zone || '-', drainState(n)]),
    ]),
  );
  for (const ks of s.keyspaces) {
    const unassigned = ks.partitions.filter((p) => p.leader === '').length;
    const down = ks.partitions.filter((p) => p.leader !== '' && !p.leaderLive).length;
    // The coordinator's quire_coordinator_under_replicated_partitions: fewer in sync than the replication factor.
    const underReplicated = ks.partitions.filter((p) => p.leader !== '' && p.isr.length < ks.replicationFactor).length;
    const policy = ackPolicyName(ks.ackPolicy);
    const range = ks.scheme === PartitionScheme.PARTITION_SCHEME_RANGE;
    out.push('');
    out.push(
      // min_isr is a sync setting: the other policies ignore it.
      `Keyspace ${ks.keyspace}: ${schemeName(ks.scheme)}, ${ks.partitionCount} partitions, replication ${ks.replicationFactor}, ack ${policy}${policy === 'sync' ? `, min ISR ${ks.minIsr}` : ''}` +
        (unassigned > 0 ? `, ${unassigned} unassigned` : '') +
        (down > 0 ? `, ${down} with their leader down` : '') +
        (underReplicated > 0 ? `, ${underReplicated} under-replicated` : ''),
    );
    out.push(
      table([
        ['PARTITION', ...(range ? ['RANGE'] : []), 'LEADER', 'EPOCH', 'REPLICAS', 'ISR', 'LEADER LIVE', 'FOLLOWER LAG (entries/ms)'],
        ...(range ? inKeyOrder(ks.partitions) : ks.partitions).map((p) => [
          String(p.partitionId),
          ...(range ? [formatRange(p.startKey, p.endKey)] : []),
          p.leader || '-',
          String(p.epoch),
          p.replicas.join(',') || '-',
          p.isr.join(',') || '-',
          p.leader === '' ? '-' : p.leaderLive ? 'yes' : 'NO',
          formatFollowerLag(p.followers),
        ]),
      ]),
    );
  }
  if (s.moves.length > 0) {
    out.push('');
    out.push(`Moves in flight: ${s.moves.length}`);
    out.push(formatMoveTable(s.moves, false, (m) => moveProgress(m, s)));
  }
  return out.join('\n');
}

/** A node's drain state for the status table: '-', 'draining' (replicas still on it) or 'drained' (it may be stopped). */
export function drainState(n: NodeInfo): string {
  if (!n.draining) return '-';
  return n.replicaCount === 0 ? 'drained' : 'draining';
}

/** One move as `quire moves --json` and `quire rebalance --json` print it. */
export function moveJson(m: MoveInfo): Record<string, string | number> {
  return {
    keyspace: m.keyspace,
    partition: m.partitionId,
    source: m.source,
    target: m.target,
    phase: movePhaseName(m.phase),
    reason: m.reason,
    startedAtMs: m.startedAtMs,
    ...(m.endedAtMs === 0 ? {} : { endedAtMs: m.endedAtMs }),
    ...(m.outcome === '' ? {} : { outcome: m.outcome }),
  };
}

/**
 * How far a move in flight is, from its partition's follower lag as the leader reported it: while
 * the target is sent a snapshot, its progress bar (formatSnapshotProgress); otherwise the entries
 * the target still lacks (with ` (snapshot)` while the snapshot has not begun), `in sync`, or '-'.
 */
export function moveProgress(m: MoveInfo, s: ClusterStatusResponse): string {
  const partition = s.keyspaces.find((k) => k.keyspace === m.keyspace)?.partitions.find((p) => p.partitionId === m.partitionId);
  if (partition === undefined) return '-';
  if (partition.isr.includes(m.target)) return 'in sync';
  const lag = partition.followers.find((f) => f.nodeId === m.target);
  if (lag === undefined || !lag.known) return '-';
  if (lag.mode === 'snapshot' && lag.snapshotBytesEstimate > 0) return formatSnapshotProgress(lag);
  return `${lag.lagEntries} entries behind${lag.mode === 'snapshot' ? ' (snapshot)' : ''}`;
}

/** Moves as a table; `finished` adds how long each took and its outcome, `progress` a PROGRESS column. */
export function formatMoveTable(moves: readonly MoveInfo[], finished: boolean, progress?: (m: MoveInfo) => string): string {
  const header = ['PARTITION', 'SOURCE', 'TARGET', 'PHASE', 'REASON', ...(finished ? ['TOOK', 'OUTCOME'] : []), ...(progress === undefined ? [] : ['PROGRESS'])];
  const rows = moves.map((m) => [
    `${m.keyspace}/${m.partitionId}`,
    m.source,
    m.target,
    movePhaseName(m.phase),
    m.reason,
    ...(finished ? [m.endedAtMs >= m.startedAtMs && m.startedAtMs > 0 ? `${((m.endedAtMs - m.startedAtMs) / 1000).toFixed(1)}s` : '-', m.outcome || '-'] : []),
    ...(progress === undefined ? [] : [progress(m)]),
  ]);
  return table([header, ...rows]);
}

/** `quire moves`: moves in flight, then the most recent finished ones. */
export function formatMoves(inFlight: readonly MoveInfo[], recent: readonly MoveInfo[]): string {
  const out = [inFlight.length === 0 ? 'No moves in flight' : `Moves in flight: ${inFlight.length}`];
  if (inFlight.length > 0) out.push(formatMoveTable(inFlight, false));
  out.push('');
  out.push(recent.length === 0 ? 'No finished moves recorded' : `Recent moves (newest first): ${recent.length}`);
  if (recent.length > 0) out.push(formatMoveTable(recent, true));
  return out.join('\n');
}

/**
 * One keyspace as `quire keyspace list --json` prints it; `scheme` only for a range keyspace, so
 * a hash keyspace's object is as it always was.
 */
export function keyspaceJson(k: KeyspaceInfo): Record<string, string | number> {
  return {
    keyspace: k.keyspace,
    ...(k.scheme === PartitionScheme.PARTITION_SCHEME_RANGE ? { scheme: 'range' } : {}),
    partitions: k.partitionCount,
    replication: k.replicationFactor,
    ackPolicy: ackPolicyName(k.ackPolicy),
    minIsr: k.minIsr,
    assigned: k.partitionsAssigned,
    led: k.partitionsLed,
  };
}

/**
 * `quire keyspace list` as a table. A SCHEME column (hash or range) comes last once any keyspace
 * is a range keyspace; a cluster of hash keyspaces gets the table it always did.
 */
export function formatKeyspaces(list: readonly KeyspaceInfo[]): string {
  const schemes = list.some((k) => k.scheme === PartitionScheme.PARTITION_SCHEME_RANGE);
  const header = ['KEYSPACE', 'PARTITIONS', 'REPLICATION', 'ACK POLICY', 'MIN ISR', 'LED', ...(schemes ? ['SCHEME'] : [])];
  const rows = list.map((k) => [
    k.keyspace,
    String(k.partitionCount),
    String(k.replicationFactor),
    ackPolicyName(k.ackPolicy),
    String(k.minIsr),
    `${k.partitionsLed}/${k.partitionCount}`,
    ...(schemes ? [schemeName(k.scheme)] : []),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [header, ...rows].map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')).join('\n');
}

/** The two partitions of a split, with their ranges when the map read after it shows them. */
function splitSides(r: SplitPartitionResponse, map: PartitionMap | undefined): { left: PartitionInfo | undefined; right: PartitionInfo | undefined } {
  const find = (id: number): PartitionInfo | undefined => map?.partitions.find((p) => p.partitionId === id);
  return { left: find(r.leftPartitionId), right: find(r.rightPartitionId) };
}

/**
 * `quire split` for people: `OK split ks/3 at "key": partition 3 keeps ["a", "key"), new
 * partition 7 takes ["key", "m") at epoch 5`, the ranges from `map` (read after the split; without
 * it the line names the partitions only).
 */
export function formatSplit(keyspace: string, at: Uint8Array, r: SplitPartitionResponse, map: PartitionMap | undefined): string {
  const { left, right } = splitSides(r, map);
  const head = `OK split ${keyspace}/${r.leftPartitionId} at ${formatKey(at)}: `;
  if (left === undefined || right === undefined) return `${head}partition ${r.leftPartitionId} keeps the keys before it, new partition ${r.rightPartitionId} takes the rest at epoch ${r.epoch}`;
  return `${head}partition ${r.leftPartitionId} keeps ${formatRange(left.startKey, left.endKey)}, new partition ${r.rightPartitionId} takes ${formatRange(right.startKey, right.endKey)} at epoch ${r.epoch}`;
}

/** `quire split --json`: the partitions with their ranges (keys as jsonBytes; an empty end is the keyspace's end), the epoch and the map revision. */
export function splitJson(keyspace: string, at: Uint8Array, r: SplitPartitionResponse, map: PartitionMap | undefined): Record<string, unknown> {
  const { left, right } = splitSides(r, map);
  const side = (id: number, p: PartitionInfo | undefined): Record<string, unknown> => ({
    partition: id,
    ...(p === undefined ? {} : { ...jsonBytes('start', Buffer.from(p.startKey)), ...jsonBytes('end', Buffer.from(p.endKey)) }),
  });
  return { keyspace, ...jsonBytes('at', Buffer.from(at)), left: side(r.leftPartitionId, left), right: side(r.rightPartitionId, right), epoch: r.epoch, revision: r.revision };
}
