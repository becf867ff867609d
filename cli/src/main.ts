/**
 * The `quire` command: client commands (put, get, del, scan, status, transfer-leader, keyspace, split, drain, undrain,
 * forget, rebalance, moves), the local cluster
 * (dev), and the server processes (datanode, coordinator, router). Global options (--router,
 * --keyspace, --timeout-ms, --json) may come before or after the command, as kubectl and
 * etcdctl take them. Exit codes: 0 success, 1 failure, 2 key not found, 3 compare-and-set
 * mismatch, 64 bad command line. npm links ../bin/quire.js, which checks the Node.js version
 * and loads this module.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError, ackPolicyName, quireVersion } from '@quire/common';
import { PartitionScheme, QuireClient, routerTargetsOf, type PartitionMap } from '@quire/client';
import { ExitCode, formatKeyspaces, formatMoveTable, formatMoves, formatSplit, formatStatus, jsonBytes, keyspaceJson, moveJson, reportError, splitJson } from './output.js';
import { devHelp, runDev } from './dev-command.js';
import { runServer, serverHelp, type ServerRole } from './servers.js';
import { UsageError, integer, keyspaceSettingsOf, resolveRouters, splitCommand, usage } from './command-line.js';
import { runTrace, traceHelp } from './trace/trace-command.js';


const clientOptions = {
  router: { type: 'string' },
  keyspace: { type: 'string' },
  'expected-version': { type: 'string' },
  'timeout-ms': { type: 'string' },
  json: { type: 'boolean' },
  prefix: { type: 'string' },
  start: { type: 'string' },
  end: { type: 'string' },
  limit: { type: 'string' },
  'keys-only': { type: 'boolean' },
  consistency: { type: 'string' },
  'max-staleness-ms': { type: 'string' },
  partition: { type: 'string' },
  to: { type: 'string' },
  partitions: { type: 'string' },
  replication: { type: 'string' },
  'ack-policy': { type: 'string' },
  'min-isr': { type: 'string' },
  range: { type: 'boolean' },
  'split-keys': { type: 'string' },
  at: { type: 'string' },
  wait: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  yes: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];


/** The text of ./.quire/cluster.json, or undefined when there is none. */
function readClusterJson(): string | undefined {
  try {
    return readFileSync('.quire/cluster.json', 'utf8');
  } catch {
    // No local cluster file: the routers come from elsewhere.
    return undefined;
  }
}

function readStdin(): Buffer {
  return readFileSync(0);
}

async function runClientCommand(command: string, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: clientOptions, allowPositionals: true, strict: true });
  if (values.help === true) {
    process.stdout.write(usage);
    return ExitCode.Ok;
  }
  const expect = (n: number, names: string): void => {
    if (positionals.length !== n) throw new UsageError(`quire ${command} takes ${names}; got ${positionals.length} argument(s)`);
  };
  const json = values.json === true;
  const keyspace = values.keyspace ?? '';
  const expectedVersion = integer(values['expected-version'], 'expected-version', 0);
  const requestTimeoutMs = integer(values['timeout-ms'], 'timeout-ms', 1) ?? 10_000;
  const { routers } = resolveRouters({ flag: values.router, env: process.env.QUIRE_ROUTER, clusterJson: readClusterJson() }, (list) => routerTargetsOf({ routers: list }));
  const consistency = values.consistency ?? 'linearizable';
  if (consistency !== 'linearizable' && consistency !== 'session' && consistency !== 'stale') {
    throw new UsageError(`--consistency must be linearizable, session or stale, got "${consistency}"`);
  }
  const maxStalenessMs = integer(values['max-staleness-ms'], 'max-staleness-ms', 1);
  if ((values.consistency !== undefined || maxStalenessMs !== undefined) && command !== 'get') throw new UsageError('--consistency and --max-staleness-ms apply to get only');
  if (maxStalenessMs !== undefined && consistency !== 'stale') throw new UsageError('--max-staleness-ms needs --consistency stale');
  const validate = (): void => {
    // Options that belong to one command are refused by the others (before the per-command checks, which return).
    if (values.wait === true && command !== 'drain' && command !== 'rebalance') throw new UsageError('--wait applies to drain and rebalance only');
    if (values.wait === true && values['dry-run'] === true) throw new UsageError('--wait and --dry-run exclude each other: a dry run starts nothing to wait for');
    if (values['dry-run'] === true && command !== 'rebalance') throw new UsageError('--dry-run applies to rebalance only');
    const keyspaceOnly = ['partitions', 'replication', 'ack-policy', 'min-isr', 'range', 'split-keys'] as const;
    const misplaced = keyspaceOnly.find((name) => values[name] !== undefined);
    if (misplaced !== undefined && (command !== 'keyspace' || positionals[0] !== 'create')) throw new UsageError(`--${misplaced} applies to keyspace create only`);
    if (values.at !== undefined && command !== 'split') throw new UsageError('--at applies to split only');
    if (values.partition !== undefined && command !== 'transfer-leader' && command !== 'split') throw new UsageError('--partition applies to transfer-leader and split only');
    switch (command) {
      case 'put':
        return expect(2, 'KEY VALUE');
      case 'get':
      case 'del':
        return expect(1, 'KEY');
      case 'scan':
      case 'status':
        return expect(0, 'no arguments');
      case 'transfer-leader':
        expect(0, '--partition N [--to NODE] and no arguments');
        if (values.partition === undefined) throw new UsageError('quire transfer-leader needs --partition N');
        return;
      case 'keyspace': {
        const sub = positionals[0];
        if (sub === 'list') return expect(1, 'list and no other arguments');
        if (sub === 'drop') {
          expect(2, 'drop NAME');
          if (values.yes !== true) throw new UsageError(`quire keyspace drop deletes keyspace "${positionals[1] ?? ''}" and all its data; add --yes to do it`);
          return;
        }
        if (sub !== 'create') throw new UsageError(`quire keyspace takes create NAME, list or drop NAME; got ${sub === undefined ? 'nothing' : `"${sub}"`}`);
        expect(2, 'create NAME');
        keyspaceSettingsOf(values);
        return;
      }
      case 'split':
        expect(0, '--at KEY [--partition N] and no arguments');
        if (values.at === undefined || values.at === '') throw new UsageError('quire split needs --at KEY (a non-empty key: the first key of the new partition)');
        integer(values.partition, 'partition', 0);
        return;
      case 'drain':
      case 'undrain':
      case 'forget':
        return expect(1, 'NODE');
      case 'rebalance':
      case 'moves':
        return expect(0, 'no arguments');
    }
  };
  validate();
  const client = new QuireClient({ routers, keyspace, requestTimeoutMs, connectTimeoutMs: Math.min(2_000, requestTimeoutMs) });
  try {
    switch (command) {
      case 'put': {
        const [key = '', raw = ''] = positionals;
        const value = raw === '-' ? readStdin() : Buffer.from(raw, 'utf8');
        const r = await client.put(key, value, expectedVersion === undefined ? {} : { expectedVersion });
        process.stdout.write(json ? `${JSON.stringify({ key, version: r.version })}\n` : `OK version ${r.version}\n`);
        return ExitCode.Ok;
      }
      case 'get': {
        const [key = ''] = positionals;
        const r = await client.get(key, { consistency, ...(maxStalenessMs === undefined ? {} : { maxStalenessMs }) });
        const staleness = r.staleness;
        if (json) {
          const extra = staleness === undefined ? {} : { staleness: { index: staleness.index, follower: staleness.follower, sinceLeaderContactMs: staleness.sinceLeaderContactMs } };
          process.stdout.write(`${JSON.stringify({ key, found: r.found, ...(r.found ? jsonBytes('value', r.value) : {}), version: r.version, ...extra })}\n`);
        } else if (r.found) {
          process.stdout.write(Buffer.concat([r.value, Buffer.from('\n')]));
        } else {
          process.stderr.write(`quire: key "${key}" not found\n`);
        }
        if (!json && consistency === 'stale' && staleness !== undefined) {
          process.stderr.write(
            staleness.follower
              ? `quire: stale read served by a follower at index ${staleness.index}, ${staleness.sinceLeaderContactMs} ms since it last caught up with its leader\n`
              : `quire: stale read served by the leader at index ${staleness.index} (not stale)\n`,
          );
        }
        return r.found ? ExitCode.Ok : ExitCode.NotFound;
      }
      case 'del': {
        const [key = ''] = positionals;
        const r = await client.delete(key, expectedVersion === undefined ? {} : { expectedVersion });
        if (json) process.stdout.write(`${JSON.stringify({ key, found: r.found, version: r.version })}\n`);
        else if (r.found) process.stdout.write(`OK deleted at version ${r.version}\n`);
        else process.stderr.write(`quire: key "${key}" not found\n`);
        return r.found ? ExitCode.Ok : ExitCode.NotFound;
      }
      case 'scan': {
        const limit = integer(values.limit, 'limit', 0) ?? 0;
        let count = 0;
        for await (const e of client.scan({
          ...(values.prefix === undefined ? {} : { prefix: values.prefix }),
          ...(values.start === undefined ? {} : { start: values.start }),
          ...(values.end === undefined ? {} : { end: values.end }),
          limit,
          keysOnly: values['keys-only'] === true,
        })) {
          count++;
          if (json) {
            process.stdout.write(`${JSON.stringify({ ...jsonBytes('key', e.key), ...(values['keys-only'] === true ? {} : jsonBytes('value', e.value)), version: e.version })}\n`);
          } else {
            process.stdout.write(values['keys-only'] === true ? Buffer.concat([e.key, Buffer.from('\n')]) : Buffer.concat([e.key, Buffer.from('\t'), e.value, Buffer.from('\n')]));
          }
        }
        if (!json) process.stderr.write(`(${count} key${count === 1 ? '' : 's'})\n`);
        return ExitCode.Ok;
      }
      case 'status': {
        const s = await client.clusterStatus();
        process.stdout.write(json ? `${JSON.stringify(s, null, 2)}\n` : `${formatStatus(s)}\n`);
        return ExitCode.Ok;
      }
      case 'transfer-leader': {
        const partitionId = integer(values.partition, 'partition', 0) ?? 0;
        const r = await client.transferLeader(partitionId, values.to === undefined ? {} : { to: values.to });
        process.stdout.write(
          json ? `${JSON.stringify({ keyspace: keyspace || 'default', partition: partitionId, leader: r.leader, epoch: r.epoch })}\n` : `OK partition ${partitionId} led by ${r.leader} at epoch ${r.epoch}\n`,
        );
        return ExitCode.Ok;
      }
      case 'keyspace': {
        if (positionals[0] === 'drop') {
          const name = positionals[1] ?? '';
          const partitionCount = await client.dropKeyspace(name);
          process.stdout.write(json ? `${JSON.stringify({ keyspace: name, dropped: true, partitions: partitionCount })}\n` : `OK keyspace ${name} dropped: its ${partitionCount} partitions and their data are being deleted\n`);
          return ExitCode.Ok;
        }
        if (positionals[0] === 'list') {
          const list = await client.listKeyspaces();
          process.stdout.write(json ? `${JSON.stringify(list.map(keyspaceJson), null, 2)}\n` : `${formatKeyspaces(list)}\n`);
          return ExitCode.Ok;
        }
        const name = positionals[1] ?? '';
        const map = await client.createKeyspace(name, keyspaceSettingsOf(values));
        const led = map.partitions.filter((p) => p.leaderLive).length;
        // A hash keyspace's line is as it always was; a range keyspace's says so.
        const range = map.scheme === PartitionScheme.PARTITION_SCHEME_RANGE;
        process.stdout.write(
          json
            ? `${JSON.stringify({ keyspace: map.keyspace, ...(range ? { scheme: 'range' } : {}), partitions: map.partitionCount, replication: map.replicationFactor, ackPolicy: ackPolicyName(map.ackPolicy), minIsr: map.minIsr, led })}\n`
            : `OK keyspace ${map.keyspace}: ${range ? 'range, ' : ''}${map.partitionCount} partitions, replication ${map.replicationFactor}, ${ackPolicyName(map.ackPolicy)}, min ISR ${map.minIsr}; ${led} of ${map.partitionCount} partitions led\n`,
        );
        return ExitCode.Ok;
      }
      case 'split': {
        const at = Buffer.from(values.at ?? '', 'utf8');
        const partitionId = integer(values.partition, 'partition', 0);
        const r = await client.splitPartition({ at, ...(partitionId === undefined ? {} : { partitionId }) });
        // The ranges come from the map after the split; the split itself is already done if this read fails.
        const map: PartitionMap | undefined = await client.partitionMap(keyspace).catch(() => undefined);
        const name = keyspace || 'default';
        process.stdout.write(json ? `${JSON.stringify(splitJson(name, at, r, map))}\n` : `${formatSplit(name, at, r, map)}\n`);
        return ExitCode.Ok;
      }
      case 'drain': {
        const [nodeId = ''] = positionals;
        const r = await client.decommissionNode(nodeId);
        if (values.wait !== true) {
          process.stdout.write(json ? `${JSON.stringify({ node: nodeId, draining: true, replicas: r.replicaCount })}\n` : `OK ${nodeId} is draining: ${r.replicaCount} replica(s) to move away (quire status shows progress)\n`);
          return ExitCode.Ok;
        }
        const startedMs = Date.now();
        for (;;) {
          const s = await client.clusterStatus();
          const node = s.nodes.find((n) => n.nodeId === nodeId);
          const left = node?.replicaCount ?? 0;
          const moving = s.moves.filter((m) => m.source === nodeId).length;
          if (left === 0) {
            const tookS = ((Date.now() - startedMs) / 1000).toFixed(1);
            process.stdout.write(json ? `${JSON.stringify({ node: nodeId, drained: true, tookS: Number(tookS) })}\n` : `OK ${nodeId} is drained (${tookS}s): it holds no replica and may be stopped\n`);
            return ExitCode.Ok;
          }
          if (node?.draining === false) {
            process.stderr.write(`quire: the drain of ${nodeId} was cancelled with ${left} replica(s) still on it\n`);
            return ExitCode.Error;
          }
          process.stderr.write(`${nodeId}: ${left} of ${r.replicaCount} replica(s) left, ${moving} moving (${Math.round((Date.now() - startedMs) / 1000)}s)\n`);
          await new Promise((resolve) => setTimeout(resolve, 1_000));
        }
      }
      case 'undrain': {
        const [nodeId = ''] = positionals;
        const was = await client.cancelDecommission(nodeId);
        process.stdout.write(json ? `${JSON.stringify({ node: nodeId, wasDraining: was })}\n` : was ? `OK ${nodeId} is no longer draining\n` : `OK ${nodeId} was not draining; nothing changed\n`);
        return ExitCode.Ok;
      }
      case 'forget': {
        const [nodeId = ''] = positionals;
        await client.forgetNode(nodeId);
        process.stdout.write(json ? `${JSON.stringify({ node: nodeId, forgotten: true })}\n` : `OK ${nodeId} forgotten\n`);
        return ExitCode.Ok;
      }
      case 'rebalance': {
        const dryRun = values['dry-run'] === true;
        const r = await client.rebalance({ dryRun });
        if (json) {
          process.stdout.write(`${JSON.stringify({ dryRun, moves: r.moves.map(moveJson), inFlight: r.inFlight }, null, 2)}\n`);
        } else {
          const head =
            r.moves.length > 0
              ? `${dryRun ? 'Planned' : 'Started'} ${r.moves.length} move(s)${r.inFlight > 0 ? ` (${r.inFlight} already in flight)` : ''}`
              : r.inFlight > 0
                ? `No new move to start now; ${r.inFlight} in flight (a few per node at a time)`
                : 'Nothing to move: replicas are balanced';
          process.stdout.write(`${head}\n`);
          if (r.moves.length > 0) process.stdout.write(`${formatMoveTable(r.moves, false)}\n`);
          if (dryRun && r.moves.length > 0) process.stdout.write(`(dry run: nothing was started; the coordinator would start these, a few per node at a time)\n`);
        }
        if (values.wait === true) return await waitForRebalance(client, json);
        return ExitCode.Ok;
      }
      case 'moves': {
        const r = await client.listMoves();
        process.stdout.write(json ? `${JSON.stringify({ inFlight: r.inFlight.map(moveJson), recent: r.recent.map(moveJson) }, null, 2)}\n` : `${formatMoves(r.inFlight, r.recent)}\n`);
        return ExitCode.Ok;
      }
      default:
        throw new UsageError(`Unknown command "${command}"`);
    }
  } finally {
    client.close();
  }
}

/**
 * `quire rebalance --wait`: polls until no move is in flight and a dry run plans none, printing
 * progress on stderr when it changes; then `OK nothing left to move`.
 */
async function waitForRebalance(client: QuireClient, json: boolean): Promise<number> {
  const startedMs = Date.now();
  const finishedBefore = new Set((await client.listMoves()).recent.map((m) => `${m.keyspace}/${m.partitionId}/${m.startedAtMs}`));
  let last = '';
  for (;;) {
    const moves = await client.listMoves();
    const finished = moves.recent.filter((m) => !finishedBefore.has(`${m.keyspace}/${m.partitionId}/${m.startedAtMs}`));
    if (moves.inFlight.length === 0 && (await client.rebalance({ dryRun: true })).moves.length === 0) {
      const rolledBack = finished.filter((m) => m.outcome !== '').length;
      const tookS = ((Date.now() - startedMs) / 1000).toFixed(1);
      if (json) {
        process.stdout.write(`${JSON.stringify({ balanced: true, finished: finished.length, rolledBack, tookS: Number(tookS) })}\n`);
      } else {
        process.stderr.write(`${finished.length} move(s) finished${rolledBack > 0 ? ` (${rolledBack} rolled back)` : ''} in ${tookS}s\n`);
        process.stdout.write('OK nothing left to move\n');
      }
      return ExitCode.Ok;
    }
    const line = `rebalance: ${moves.inFlight.length} move(s) in flight, ${finished.length} finished (${Math.round((Date.now() - startedMs) / 1000)}s)`;
    if (!json && line !== last) process.stderr.write(`${line}\n`);
    last = line;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}

/** `quire check`: the history checkers of @quire/history, reading files and stdin. */
async function runHistoryCheck(argv: readonly string[]): Promise<number> {
  const { runCheck } = await import('@quire/history');
  return runCheck(argv, {
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    readFile: (path) => readFile(path, 'utf8'),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
  });
}

/** Commands that exit by themselves once done: servers stop their own handles, `check` lets stdout drain. */
const selfExiting = new Set(['datanode', 'coordinator', 'router', 'check']);

async function main(command: string | undefined, rest: string[]): Promise<number> {
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(usage);
    return command === undefined ? ExitCode.Usage : ExitCode.Ok;
  }
  if (command === '--version' || command === 'version') {
    process.stdout.write(`quire ${quireVersion}\n`);
    return ExitCode.Ok;
  }
  try {
    switch (command) {
      case 'datanode':
      case 'coordinator':
      case 'router': {
        if (rest.includes('--help') || rest.includes('-h')) {
          process.stdout.write(await serverHelp(command as ServerRole));
          return ExitCode.Ok;
        }
        await runServer(command as ServerRole, rest, process.env);
        return ExitCode.Ok;
      }
      case 'dev':
        if (rest.includes('--help') || rest.includes('-h')) {
          process.stdout.write(devHelp());
          return ExitCode.Ok;
        }
        return await runDev(rest, process.env);
      case 'check':
        return await runHistoryCheck(rest);
      case 'trace': {
        if (rest.includes('--help') || rest.includes('-h')) {
          process.stdout.write(traceHelp);
          return ExitCode.Ok;
        }
        const json = rest.includes('--json');
        return runTrace(
          rest.filter((a) => a !== '--json'),
          json,
          (line) => void process.stdout.write(`${line}\n`),
        );
      }
      case 'put':
      case 'get':
      case 'del':
      case 'scan':
      case 'status':
      case 'transfer-leader':
      case 'keyspace':
      case 'split':
      case 'drain':
      case 'undrain':
      case 'forget':
      case 'rebalance':
      case 'moves':
        return await runClientCommand(command, rest);
      default:
        throw new UsageError(`Unknown command "${command}"; run quire --help`);
    }
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true) {
      process.stderr.write(`quire: ${(err as Error).message}\n`);
      return ExitCode.Usage;
    }
    return reportError(err);
  }
}

// A reader that stops early (`quire check … | head`) closes the pipe: that is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

/** The command line split into command and arguments; a malformed one exits 64 here. */
function commandLine(): { readonly command: string | undefined; readonly rest: string[] } {
  try {
    return splitCommand(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`quire: ${(err as Error).message}\n`);
    process.exit(ExitCode.Usage);
  }
}

const { command, rest } = commandLine();
main(command, rest).then(
  (code) => {
    process.exitCode = code;
    // Client commands leave gRPC channels that keep the loop alive for a moment; do not wait.
    // `check` may print a lot: let stdout drain instead of exiting at once. A server that
    // stopped cleanly has closed its handles; one that failed to start exits at once.
    if (!selfExiting.has(command ?? '') || (code !== ExitCode.Ok && command !== 'check')) process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`quire: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(70);
  },
);
