/**
 * The shape of a `quire` command line: `quire [global options] COMMAND [arguments and
 * options]`. Global options may come before or after the command, as kubectl and etcdctl
 * take them; those given before it are handed to the command in front of its own arguments,
 * so each command parses them as if they came after it (and refuses any it does not take).
 * Also the help text, and the option parsing that needs no I/O (keyspace settings, split keys).
 */
import type { KeyspaceSettings } from '@quire/client';
import { ackPolicyNames, isAckPolicyName, splitKeysProblem } from '@quire/common';

/** A bad command line: printed in one line, exit code 64. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The `quire --help` text. */
export const usage = `Usage: quire <command> [options]

Client commands (talk to a router):
  put KEY VALUE       Write a key (VALUE "-" reads it from stdin); prints the new version
  get KEY             Print a key's value (exit 2 when the key does not exist)
                      [--consistency linearizable|session|stale] [--max-staleness-ms N]; a stale
                      read prints its staleness on stderr (in --json, a "staleness" field)
  del KEY             Delete a key (exit 2 when it did not exist)
  scan                List keys in order: [--prefix P] [--start S] [--end E] [--limit N] [--keys-only]
  status              Nodes, coordinator leader and every partition's leader and epoch (and the key
                      range [start, end) of each partition of a range keyspace)
  transfer-leader     Move a partition's leadership to an in-sync replica: --partition N [--to NODE]
                      (without --to the coordinator picks the one leading the fewest partitions)
  keyspace create NAME --partitions N [--replication R] [--ack-policy sync|semi-sync|async] [--min-isr M]
                      Create a hash keyspace; unset settings take the coordinator's defaults
                      (its --replication-factor and --ack-policy; min ISR 2 from two replicas on)
  keyspace create NAME --range [--split-keys K1,K2,...] [--replication R] [--ack-policy P] [--min-isr M]
                      Create a range keyspace: one partition per range ["", K1), [K1, K2), ..., [Kn, ∞)
                      (no --split-keys: one partition); its partitions split as they grow, or by quire split
  keyspace list       Every keyspace: partitions, replication, ack policy, min ISR, partitions led
                      (and a SCHEME column, hash or range, once a range keyspace exists)
  keyspace drop NAME --yes
                      Drop a keyspace and delete all its data (not default)
  split --at KEY [--partition N]
                      Split the partition of a range keyspace (--keyspace) that holds KEY in two: KEY
                      starts a new partition; with --partition, refused unless partition N holds KEY

Cluster shape (replica moves, add before remove; see docs/operations.md):
  drain NODE [--wait] Move every replica off a data node; once it holds none it may be stopped
                      (--wait prints progress and returns when it is drained)
  undrain NODE        Cancel a drain: moves under way finish or roll back, the node takes replicas again
  forget NODE         Remove a stopped data node that holds no replica from quire status (the
                      coordinator does it by itself once a drained node is gone past --node-dead-after-ms)
  rebalance [--dry-run | --wait]
                      Start the moves that balance replicas (the coordinator also does this by
                      itself unless started with --auto-rebalance=false); --dry-run only lists them,
                      --wait prints progress and returns once nothing is left to move
  moves               Replica moves in flight and the most recent finished ones

Histories:
  check               Check a recorded history (JSON lines) against a model: register, set, bank, list-append
                      (see quire check --help; exit 0 valid, 1 violation, 3 undecided)

Local cluster:
  dev                 Start etcd, coordinators, data nodes and routers in the foreground (see quire dev --help)
  trace               Where traced requests waited, from the spans of quire dev --trace (see quire trace --help)

Servers:
  datanode            Run a data node (see quire datanode --help)
  coordinator         Run a coordinator
  router              Run a router

Global options (before or after the command: quire --router H:P get k = quire get k --router H:P):
  --router HOST:PORT[,HOST:PORT...]
                      Routers to use; the command moves to another when one dies [env: QUIRE_ROUTER;
                      default: the routers in ./.quire/cluster.json, else 127.0.0.1:7000]
  --keyspace NAME     Keyspace [default: default]
  --timeout-ms N      Deadline of the operation [default: 10000]
  --json              Machine-readable output (scan: one JSON object per line)
  --help, --version

Client options:
  --expected-version N  put/del only if the key's version is N (0 = only if absent); exit 3 on mismatch

Exit codes: 0 success, 1 failure, 2 key not found, 3 version mismatch, 64 bad command line.
`;

/** The options that may come before the command, and whether each takes a value. */
export const globalOptions: Readonly<Record<string, 'value' | 'flag'>> = { router: 'value', keyspace: 'value', 'timeout-ms': 'value', json: 'flag' };

/**
 * Splits `quire [global options] COMMAND [args]` into the command and its arguments, with the
 * global options given before the command moved in front of the others: every command then
 * parses them as if they came after it (and refuses them if it takes none).
 */
export function splitCommand(argv: readonly string[]): { readonly command: string | undefined; readonly rest: string[] } {
  const leading: string[] = [];
  let i = 0;
  while (i < argv.length) {
    const token = argv[i] ?? '';
    if (!token.startsWith('--') || token === '--help' || token === '--version') break;
    const equals = token.indexOf('=');
    const name = token.slice(2, equals === -1 ? undefined : equals);
    const kind = globalOptions[name];
    if (kind === undefined) {
      throw new UsageError(`Unknown option "${token}" before the command; only ${Object.keys(globalOptions).map((o) => `--${o}`).join(', ')} may come before it`);
    }
    if (kind === 'flag' || equals !== -1) {
      leading.push(token);
      i += 1;
    } else {
      const value = argv[i + 1];
      if (value === undefined) throw new UsageError(`Option "${token}" needs a value`);
      leading.push(token, value);
      i += 2;
    }
  }
  return { command: argv[i], rest: [...leading, ...argv.slice(i + 1)] };
}


/** Where the CLI found its routers, for error messages. */
export type RouterSource = '--router' | 'QUIRE_ROUTER' | '.quire/cluster.json' | 'the default';

/** The routers a client command uses, and where they came from. */
export interface ResolvedRouters {
  readonly routers: string[];
  readonly source: RouterSource;
}

/** The router a command uses when nothing names one. */
export const defaultRouter = '127.0.0.1:7000';

/** Splits a comma-separated router list (`a:1,b:2`), refusing empty entries. */
function routerList(text: string, source: RouterSource): string[] {
  const entries = text.split(',').map((e) => e.trim());
  if (entries.some((e) => e === '')) throw new UsageError(`${source} must be a comma-separated list of host:port, got "${text}"`);
  return entries;
}

/**
 * Resolves the routers of a client command: `--router` (a comma-separated list), then
 * `$QUIRE_ROUTER` (the same), then `./.quire/cluster.json`'s `routers` (a list; its `router`
 * when it has none, as files written before `quire dev --routers` have), then 127.0.0.1:7000.
 * `clusterJson` is the file's text, or undefined when it cannot be read; a file that does not
 * parse or names no router is passed over. Entries are checked by `check` (the client's
 * routerTargetsOf), whose message is reported against the source as a UsageError.
 */
export function resolveRouters(sources: { readonly flag?: string | undefined; readonly env?: string | undefined; readonly clusterJson?: string | undefined }, check: (routers: string[]) => unknown): ResolvedRouters {
  const checked = (routers: string[], source: RouterSource): ResolvedRouters => {
    try {
      check(routers);
    } catch (err) {
      throw new UsageError(`${source}: ${err instanceof Error ? err.message : String(err)}`);
    }
    return { routers, source };
  };
  if (sources.flag !== undefined) return checked(routerList(sources.flag, '--router'), '--router');
  if (sources.env !== undefined && sources.env !== '') return checked(routerList(sources.env, 'QUIRE_ROUTER'), 'QUIRE_ROUTER');
  if (sources.clusterJson !== undefined) {
    let cluster: { routers?: unknown; router?: unknown } | undefined;
    try {
      cluster = JSON.parse(sources.clusterJson) as { routers?: unknown; router?: unknown };
    } catch {
      // Not a cluster file we can read: fall through to the default.
      cluster = undefined;
    }
    const routers = cluster?.routers;
    if (Array.isArray(routers) && routers.length > 0) return checked(routers.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))), '.quire/cluster.json');
    if (typeof cluster?.router === 'string' && cluster.router !== '') return checked([cluster.router], '.quire/cluster.json');
  }
  return { routers: [defaultRouter], source: 'the default' };
}

/** Parses a non-negative integer option (`--flag` for messages), at least `min`; undefined when absent. */
export function integer(value: string | undefined, flag: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min || !Number.isSafeInteger(Number(value))) {
    throw new UsageError(`--${flag} must be an integer >= ${min}, got "${value}"`);
  }
  return Number(value);
}

/** The options of `quire keyspace create`, as parseArgs gives them. */
export interface KeyspaceCreateFlags {
  readonly partitions?: string | undefined;
  readonly range?: boolean | undefined;
  readonly 'split-keys'?: string | undefined;
  readonly replication?: string | undefined;
  readonly 'ack-policy'?: string | undefined;
  readonly 'min-isr'?: string | undefined;
}

/**
 * Parses `--split-keys K1,K2,...`: keys as UTF-8, strictly ascending and none empty (the
 * coordinator checks the same; refusing here names the flag).
 */
export function parseSplitKeys(text: string): string[] {
  const keys = text.split(',');
  const problem = splitKeysProblem(keys.map((k) => Buffer.from(k, 'utf8')));
  if (problem !== undefined) throw new UsageError(`--split-keys: ${problem}; got "${text}"`);
  return keys;
}

/**
 * The settings `quire keyspace create` asks for: a hash keyspace with `--partitions N`, or a range
 * keyspace with `--range [--split-keys ...]` (its partition count follows from the split keys, so
 * `--partitions` is refused with it). Throws UsageError.
 */
export function keyspaceSettingsOf(flags: KeyspaceCreateFlags): KeyspaceSettings {
  const ackPolicy = flags['ack-policy'];
  if (ackPolicy !== undefined && !isAckPolicyName(ackPolicy)) throw new UsageError(`--ack-policy must be ${ackPolicyNames.join(', ')}, got "${ackPolicy}"`);
  const replicationFactor = integer(flags.replication, 'replication', 1);
  const minIsr = integer(flags['min-isr'], 'min-isr', 1);
  const common = {
    ...(replicationFactor === undefined ? {} : { replicationFactor }),
    ...(ackPolicy === undefined ? {} : { ackPolicy }),
    ...(minIsr === undefined ? {} : { minIsr }),
  };
  if (flags.range === true) {
    if (flags.partitions !== undefined) throw new UsageError('--partitions applies to hash keyspaces; a range keyspace starts with one partition per --split-keys range');
    const splitKeys = flags['split-keys'] === undefined ? [] : parseSplitKeys(flags['split-keys']);
    return { scheme: 'range', splitKeys, ...common };
  }
  if (flags['split-keys'] !== undefined) throw new UsageError('--split-keys needs --range (hash keyspaces have no split keys)');
  const partitions = integer(flags.partitions, 'partitions', 1);
  if (partitions === undefined) throw new UsageError('quire keyspace create needs --partitions N');
  return { partitions, ...common };
}
