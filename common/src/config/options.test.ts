import { describe, expect, it } from 'vitest';
import { ConfigError, formatOptionsHelp, parseOptions, required } from './options.js';

const spec = {
  name: { kind: 'string', flag: 'name', env: 'T_NAME', default: 'n0', description: 'A name' },
  mode: { kind: 'string', flag: 'mode', env: 'T_MODE', default: 'a', choices: ['a', 'b'], description: 'A mode' },
  count: { kind: 'integer', flag: 'count', env: 'T_COUNT', default: 3, min: 1, max: 10, description: 'A count' },
  verbose: { kind: 'boolean', flag: 'verbose', env: 'T_VERBOSE', default: false, description: 'Talk more' },
  hosts: { kind: 'list', flag: 'hosts', env: 'T_HOSTS', default: ['h1'], description: 'Hosts' },
  id: { kind: 'string', flag: 'id', env: 'T_ID', description: 'No default' },
} as const;

const fail = (argv: string[], env: Record<string, string> = {}): string => {
  try {
    parseOptions(spec, argv, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
};

describe('option parsing', () => {
  it('uses defaults when nothing is given, and leaves options without a default undefined', () => {
    expect(parseOptions(spec, [], {})).toEqual({ name: 'n0', mode: 'a', count: 3, verbose: false, hosts: ['h1'] });
  });

  it('takes flags over environment over defaults', () => {
    expect(parseOptions(spec, [], { T_COUNT: '5' }).count).toBe(5);
    expect(parseOptions(spec, ['--count', '7'], { T_COUNT: '5' }).count).toBe(7);
    expect(parseOptions(spec, ['--count=8'], { T_COUNT: '5' }).count).toBe(8);
  });

  it('ignores empty environment values', () => {
    expect(parseOptions(spec, [], { T_NAME: '' }).name).toBe('n0');
  });

  it('parses booleans as flags, with =value and from the environment', () => {
    expect(parseOptions(spec, ['--verbose'], {}).verbose).toBe(true);
    expect(parseOptions(spec, ['--verbose=false'], {}).verbose).toBe(false);
    expect(parseOptions(spec, [], { T_VERBOSE: '1' }).verbose).toBe(true);
    expect(fail(['--verbose=maybe'])).toBe('--verbose is "maybe"; expected true or false');
  });

  it('splits lists on commas and trims them', () => {
    expect(parseOptions(spec, ['--hosts', 'a, b,,c'], {}).hosts).toEqual(['a', 'b', 'c']);
  });

  it.each([
    [['--count', '0'], '--count is 0; expected an integer in 1..10'],
    [['--count', '11'], '--count is 11; expected an integer in 1..10'],
    [['--count', '2.5'], '--count is "2.5"; expected an integer in 1..10'],
    [['--count', 'x'], '--count is "x"; expected an integer in 1..10'],
    [['--mode', 'c'], '--mode is "c"; expected one of a, b'],
    [['--name', ''], '--name must not be empty'],
    [['--count'], 'Option --count needs a value'],
    [['--count', '--verbose'], 'Option --count needs a value'],
    [['stray'], 'Unexpected argument "stray"; options are --flag value'],
  ])('rejects %j with a message naming the option', (argv, message) => {
    expect(fail(argv)).toBe(message);
  });

  it('names the environment variable when the bad value came from it', () => {
    expect(fail([], { T_COUNT: '99' })).toBe('$T_COUNT is 99; expected an integer in 1..10');
  });

  it('lists the known options when a flag is unknown', () => {
    expect(fail(['--nope'])).toMatch(/^Unknown option --nope; known options: --name, --mode, --count/);
  });

  it('explains a missing required option with its flag, variable and purpose', () => {
    expect(() => required(undefined, spec.id)).toThrow('--id (or $T_ID) is required: No default');
    expect(required('x', spec.id)).toBe('x');
  });

  it('renders help with every flag, range, default and variable', () => {
    const help = formatOptionsHelp(spec);
    for (const def of Object.values(spec)) {
      expect(help).toContain(`--${def.flag}`);
      expect(help).toContain(`[env: ${def.env}]`);
    }
    expect(help).toContain('(1..10) [default: 3]');
    expect(help).toContain('(a|b)');
  });
});
