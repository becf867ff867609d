import { describe, expect, it } from 'vitest';
import { splitCommand } from './command-line.js';

describe('splitCommand', () => {
  const cases: readonly { readonly argv: readonly string[]; readonly command: string | undefined; readonly rest: readonly string[] }[] = [
    { argv: ['get', 'k'], command: 'get', rest: ['k'] },
    { argv: ['get', 'k', '--router', 'h:1', '--json'], command: 'get', rest: ['k', '--router', 'h:1', '--json'] },
    { argv: ['--router', 'h:1', 'get', 'k'], command: 'get', rest: ['--router', 'h:1', 'k'] },
    { argv: ['--json', '--router=h:1', 'put', 'k', 'v'], command: 'put', rest: ['--json', '--router=h:1', 'k', 'v'] },
    { argv: ['--keyspace', 'ks', '--timeout-ms', '50', 'scan', '--prefix', 'a'], command: 'scan', rest: ['--keyspace', 'ks', '--timeout-ms', '50', '--prefix', 'a'] },
    { argv: ['--json', 'check', '--model', 'set', 'h.jsonl'], command: 'check', rest: ['--json', '--model', 'set', 'h.jsonl'] },
    // A value that looks like a command stays the option's value.
    { argv: ['--keyspace', 'get', 'get', 'k'], command: 'get', rest: ['--keyspace', 'get', 'k'] },
    { argv: ['--help'], command: '--help', rest: [] },
    { argv: ['--json', '--version'], command: '--version', rest: ['--json'] },
    { argv: ['-h'], command: '-h', rest: [] },
    { argv: ['--json'], command: undefined, rest: ['--json'] },
    { argv: [], command: undefined, rest: [] },
  ];
  for (const c of cases) {
    it(`quire ${c.argv.join(' ')} runs ${c.command ?? 'nothing'} with [${c.rest.join(' ')}]`, () => {
      expect(splitCommand(c.argv)).toEqual({ command: c.command, rest: c.rest });
    });
  }

  it('refuses an option before the command that is not global, naming it and the global ones', () => {
    expect(() => splitCommand(['--prefix', 'a', 'scan'])).toThrow('Unknown option "--prefix" before the command; only --router, --keyspace, --timeout-ms, --json may come before it');
    expect(() => splitCommand(['--data-dir', 'x', 'dev'])).toThrow(/Unknown option "--data-dir"/);
  });

  it('refuses a global option that lacks its value', () => {
    expect(() => splitCommand(['--router'])).toThrow('Option "--router" needs a value');
  });
});
