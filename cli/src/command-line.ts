/**
 * The shape of a `quire` command line: `quire [global options] COMMAND [arguments and
 * options]`. Global options may come before or after the command, as kubectl and etcdctl
 * take them; those given before it are handed to the command in front of its own arguments,
 * so each command parses them as if they came after it (and refuses any it does not take).
 */

/** A bad command line: printed in one line, exit code 64. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

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
