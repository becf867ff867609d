import { describe, expect, it } from 'vitest';
import { checkExitCode, checkHelp, runCheck, type CheckIo } from './run-check.js';
import { historyText, type OperationSpec } from './testing/history-text.js';

const write = (process: number, value: string, invokeNs: number, completeNs: number): OperationSpec => ({ process, f: 'write', key: 'x', value, type: 'ok', invokeNs, completeNs });
const read = (process: number, result: string | null, invokeNs: number, completeNs: number): OperationSpec => ({ process, f: 'read', key: 'x', type: 'ok', result, invokeNs, completeNs });

const files: Record<string, string> = {
  'valid.jsonl': historyText([write(0, 'a', 0, 10), read(1, 'a', 20, 30)]),
  'stale.jsonl': historyText([write(0, 'a', 0, 10), write(0, 'b', 20, 30), read(1, 'a', 40, 50)]),
  'busy.jsonl': historyText([...[1, 2, 3, 4, 5].map((p) => write(p, `v${p}`, 0, 100)), read(9, 'v1', 0, 100)]),
  'broken.jsonl': `${historyText([write(0, 'a', 0, 10)])}{"index": 5, "process": 0, "type": "invoke", "f": "write", "key": "x", "value": "b", "time": "soon"}\n`,
  'bank.jsonl': historyText([{ process: 0, f: 'read', type: 'ok', result: { a: 60, b: 40 }, invokeNs: 0, completeNs: 1 }]),
  'set-no-read.jsonl': historyText([{ process: 0, f: 'add', value: 1, type: 'ok', invokeNs: 0, completeNs: 1 }]),
};

/** Runs the command against in-memory files; returns the exit code and what it printed. */
async function run(argv: readonly string[], extra: Partial<CheckIo> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCheck(argv, {
    stdout: (s) => (stdout += s),
    stderr: (s) => (stderr += s),
    readFile: (path) => {
      const text = files[path];
      return text === undefined ? Promise.reject(new Error(`ENOENT: no such file or directory, open '${path}'`)) : Promise.resolve(text);
    },
    ...extra,
  });
  return { code, stdout, stderr };
}

describe('runCheck', () => {
  it('exits 0 and prints the verdict for a valid history', async () => {
    const { code, stdout, stderr } = await run(['--model', 'register', 'valid.jsonl']);
    expect(code).toBe(checkExitCode.valid);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^register: valid \(all 1 keys linearizable\)/);
    expect(stderr).toBe('');
  });

  it('exits 1 and prints the minimal evidence for a violation', async () => {
    const { code, stdout } = await run(['--model', 'register', 'stale.jsonl']);
    expect(code).toBe(1);
    expect(stdout).toContain('Key "x" is not linearizable');
    expect(stdout).toContain('Smallest failing window found (3 operations; none can be removed)');
  });

  it('exits 3 when the checker cannot decide within --budget', async () => {
    const { code, stdout } = await run(['--model', 'register', '--budget', '20', 'busy.jsonl']);
    expect(code).toBe(3);
    expect(stdout).toContain('exceeded the budget of 20 search steps');
    expect((await run(['--model', 'register', 'busy.jsonl'])).code).toBe(0);
  });

  it('exits 3 for a set history with no ok read', async () => {
    expect((await run(['--model', 'set', 'set-no-read.jsonl'])).code).toBe(3);
  });

  it('checks a bank history against --total, and --accounts', async () => {
    expect((await run(['--model', 'bank', '--total', '100', 'bank.jsonl'])).code).toBe(0);
    expect((await run(['--model', 'bank', '--total', '90', 'bank.jsonl'])).code).toBe(1);
    expect((await run(['--model', 'bank', '--total', '100', '--accounts', 'a,b,c', 'bank.jsonl'])).code).toBe(1);
  });

  it('prints the result as JSON with --json', async () => {
    const { code, stdout } = await run(['--model', 'register', '--json', 'stale.jsonl']);
    expect(code).toBe(1);
    const result = JSON.parse(stdout) as { model: string; valid: unknown; figures: { violations: number } };
    expect(result).toMatchObject({ model: 'register', valid: false, figures: { violations: 1 } });
  });

  it('prints the help and exits 0 with --help', async () => {
    const { code, stdout } = await run(['--help']);
    expect(code).toBe(0);
    expect(stdout).toBe(checkHelp);
    expect(checkHelp).toContain('Exit codes: 0 valid, 1 violation found, 3 undecided');
  });

  it('reads standard input for -', async () => {
    const stdin = files['stale.jsonl'] ?? '';
    expect((await run(['--model', 'register', '-'], { readStdin: () => Promise.resolve(stdin) })).code).toBe(1);
    const refused = await run(['--model', 'register', '-']);
    expect(refused.code).toBe(64);
    expect(refused.stderr).toMatch(/standard input/);
  });

  describe('exits 64 on a bad command line, naming the flag', () => {
    it.each([
      [[], /--model is required/],
      [['valid.jsonl'], /--model is required/],
      [['--model', 'queue', 'valid.jsonl'], /--model must be one of register, set, bank, list-append; got "queue"/],
      [['--model'], /--model/],
      [['--model', 'register', '--verbose', 'valid.jsonl'], /--verbose/],
      [['--model', 'bank', 'bank.jsonl'], /--total is required with --model bank/],
      [['--model', 'bank', '--total', 'lots', 'bank.jsonl'], /--total must be an integer; got "lots"/],
      [['--model', 'register', '--total', '100', 'valid.jsonl'], /--total applies only to --model bank/],
      [['--model', 'register', '--accounts', 'a', 'valid.jsonl'], /--accounts applies only to --model bank/],
      [['--model', 'bank', '--total', '1', '--accounts', 'a,,b', 'bank.jsonl'], /--accounts must be a comma-separated list/],
      [['--model', 'register', '--budget', '0', 'valid.jsonl'], /--budget must be an integer >= 1; got "0"/],
      [['--model', 'register', '--budget', '1e3', 'valid.jsonl'], /--budget must be an integer >= 1/],
      [['--model', 'set', '--budget', '10', 'valid.jsonl'], /--budget applies only to --model register and list-append/],
      [['--model', 'register'], /missing the HISTORY file/],
      [['--model', 'register', 'a.jsonl', 'b.jsonl'], /takes one HISTORY file; got 2 arguments/],
    ])('%j', async (argv, message) => {
      const { code, stderr, stdout } = await run(argv);
      expect(code).toBe(64);
      expect(stderr).toMatch(message);
      expect(stderr).toMatch(/^quire check: .*; run quire check --help\n$/);
      expect(stdout).toBe('');
    });
  });

  it('exits 65 on a malformed history, naming the file, line and field', async () => {
    const { code, stderr } = await run(['--model', 'register', 'broken.jsonl']);
    expect(code).toBe(65);
    expect(stderr).toBe('quire check: broken.jsonl: line 3: field "time" must be a non-negative integer (nanoseconds); got "soon"\n');
  });

  it('exits 65 when values do not fit the model', async () => {
    const { code, stderr } = await run(['--model', 'set', 'valid.jsonl']);
    expect(code).toBe(65);
    expect(stderr).toMatch(/line 1: field "f" must be "add" or "read" for the set model; got "write"/);
  });

  it('exits 66 when the history cannot be read', async () => {
    const { code, stderr } = await run(['--model', 'register', 'missing.jsonl']);
    expect(code).toBe(66);
    expect(stderr).toMatch(/^quire check: cannot read missing.jsonl: ENOENT/);
  });
});
