/**
 * `quire check`: reads a history, runs one checker, prints the verdict and the evidence, and
 * returns the exit code. The caller (the `quire` CLI) supplies the I/O, so this module stays
 * free of files and processes and is tested with plain strings.
 *
 * Exit codes: 0 valid, 1 violation found, 3 undecided (the checker could not decide: a
 * budget ran out, or there was nothing to judge), 64 bad command line (the message names the
 * flag), 65 malformed history (the message names the line and field), 66 history unreadable.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { isModelName, modelNames, type ModelName } from './model-name.js';
import { parseHistory } from './parse-history.js';
import { checkRegister, registerStepsMaxDefault } from './register/check-register.js';
import { checkSet } from './set/check-set.js';
import { checkBank } from './bank/check-bank.js';
import { checkListAppend, listAppendStepsMaxDefault } from './list-append/check-list-append.js';
import { formatResult, type CheckResult } from './format-result.js';
import { InvalidHistoryError } from './invalid-history-error.js';
import type { History } from './history-event.js';
import { unreachable } from './assert.js';

/** What runCheck needs from its environment. */
export interface CheckIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Reads a whole file as UTF-8. */
  readFile(path: string): Promise<string>;
  /** Reads standard input to its end; without it, `-` is refused as a usage error. */
  readStdin?(): Promise<string>;
}

/** Exit codes of `quire check`. */
export const checkExitCode = {
  valid: 0,
  violation: 1,
  unknown: 3,
  usage: 64,
  /** sysexits EX_DATAERR: the history does not follow the format. */
  badHistory: 65,
  /** sysexits EX_NOINPUT: the history could not be read. */
  noInput: 66,
} as const;

/** Help text of `quire check`. */
export const checkHelp = `Usage: quire check --model MODEL [options] HISTORY.jsonl

Checks a recorded history (JSON lines, one Jepsen-style event each) against a consistency model.
HISTORY.jsonl may be - for standard input.

Models:
  register      linearizability per key (WGL search); f read, write, cas
  set           lost, stale, unexpected and duplicated elements; f add, read
  bank          every read sums to --total, no negative balance; f transfer, read
  list-append   strict serializability (Elle-style cycles G0, G1c, G-single, G2 and
                their -realtime variants; G1a, G1b, internal, incompatible-order); f txn

Options:
  --model MODEL     register, set, bank or list-append (required)
  --total N         bank: the sum every read must see (required for bank)
  --accounts LIST   bank: the accounts that exist, comma-separated [default: those the reads return]
  --budget STEPS    register: search steps per key [default: ${registerStepsMaxDefault}];
                    list-append: cycle-search steps [default: ${listAppendStepsMaxDefault}]
  --json            Print the result as JSON
  --help

Exit codes: 0 valid, 1 violation found, 3 undecided (budget exceeded or nothing to judge),
64 bad command line, 65 malformed history, 66 history unreadable.
`;

const options = {
  model: { type: 'string' },
  total: { type: 'string' },
  accounts: { type: 'string' },
  budget: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

class UsageError extends Error {
  override readonly name = 'UsageError';
}

interface Command {
  readonly model: ModelName;
  readonly path: string;
  readonly json: boolean;
  readonly total: number | undefined;
  readonly accounts: readonly string[] | undefined;
  readonly stepsMax: number | undefined;
}

/** Runs `quire check` with the arguments after `check`; resolves to the exit code. */
export async function runCheck(argv: readonly string[], io: CheckIo): Promise<number> {
  let command: Command | 'help';
  try {
    command = parseCommand(argv);
  } catch (err) {
    if (err instanceof UsageError || isParseArgsError(err)) {
      io.stderr(`quire check: ${(err as Error).message}; run quire check --help\n`);
      return checkExitCode.usage;
    }
    throw err;
  }
  if (command === 'help') {
    io.stdout(checkHelp);
    return checkExitCode.valid;
  }
  const source = command.path === '-' ? 'standard input' : command.path;
  let text: string;
  try {
    if (command.path === '-') {
      if (io.readStdin === undefined) {
        io.stderr('quire check: reading the history from standard input (-) is not available here; give a file\n');
        return checkExitCode.usage;
      }
      text = await io.readStdin();
    } else {
      text = await io.readFile(command.path);
    }
  } catch (err) {
    io.stderr(`quire check: cannot read ${source}: ${err instanceof Error ? err.message : String(err)}\n`);
    return checkExitCode.noInput;
  }
  let result: CheckResult;
  try {
    result = check(parseHistory(text, { model: command.model }), command);
  } catch (err) {
    if (err instanceof InvalidHistoryError) {
      io.stderr(`quire check: ${source}: ${err.message}\n`);
      return checkExitCode.badHistory;
    }
    throw err;
  }
  io.stdout(command.json ? `${JSON.stringify(result, null, 2)}\n` : formatResult(result));
  return result.valid === true ? checkExitCode.valid : result.valid === false ? checkExitCode.violation : checkExitCode.unknown;
}

function check(history: History, command: Command): CheckResult {
  const budget = command.stepsMax === undefined ? {} : { stepsMax: command.stepsMax };
  switch (command.model) {
    case 'register':
      return checkRegister(history, budget);
    case 'set':
      return checkSet(history);
    case 'bank':
      return checkBank(history, { total: command.total as number, ...(command.accounts === undefined ? {} : { accounts: command.accounts }) });
    case 'list-append':
      return checkListAppend(history, budget);
    default:
      return unreachable(command.model, 'Unknown model');
  }
}

function parseCommand(argv: readonly string[]): Command | 'help' {
  const { values, positionals } = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  if (values.help === true) return 'help';
  const model = values.model;
  if (model === undefined) throw new UsageError(`--model is required (${modelNames.join(', ')})`);
  if (!isModelName(model)) throw new UsageError(`--model must be one of ${modelNames.join(', ')}; got "${model}"`);
  const total = integer(values.total, 'total', Number.MIN_SAFE_INTEGER);
  if (model === 'bank' && total === undefined) throw new UsageError('--total is required with --model bank');
  if (model !== 'bank' && total !== undefined) throw new UsageError('--total applies only to --model bank');
  if (model !== 'bank' && values.accounts !== undefined) throw new UsageError('--accounts applies only to --model bank');
  const accounts = values.accounts?.split(',').map((a) => a.trim());
  if (accounts !== undefined && accounts.some((a) => a === '')) throw new UsageError(`--accounts must be a comma-separated list of account names; got "${values.accounts ?? ''}"`);
  const stepsMax = integer(values.budget, 'budget', 1);
  if (stepsMax !== undefined && model !== 'register' && model !== 'list-append') throw new UsageError(`--budget applies only to --model register and list-append (the ${model} checker does no search)`);
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length === 0 ? 'missing the HISTORY file (a path, or - for standard input)' : `takes one HISTORY file; got ${positionals.length} arguments`);
  }
  return { model, path: positionals[0] as string, json: values.json === true, total, accounts, stepsMax };
}

function integer(value: string | undefined, flag: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(parsed) || parsed < min) {
    throw new UsageError(`--${flag} must be an integer${min > Number.MIN_SAFE_INTEGER ? ` >= ${min}` : ''}; got "${value}"`);
  }
  return parsed;
}

/** node:util parseArgs errors (unknown flag, missing value) carry a code and name the flag. */
function isParseArgsError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS');
}
