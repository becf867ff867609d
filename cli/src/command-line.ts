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

