import { describe, expect, it } from 'vitest';
import { parseOptions } from '@quire/common';
import { devOptions, unexpectedExitLine, zonesOf } from './dev-command.js';
import type { UnexpectedExit } from './dev/managed-process.js';

describe('unexpectedExitLine', () => {
  const cases: { report: UnexpectedExit; want: string }[] = [
    {
      report: { exit: { code: null, signal: 'SIGKILL' }, uptimeMs: 41_234, decision: { action: 'restart', delayMs: 500, exitStreak: 1 } },
      want: 'quire dev: node-2 exited unexpectedly (signal SIGKILL) after 41.2 s; restarting it in 0.5 s; its log is .quire/logs/node-2.log',
    },
    {
      report: { exit: { code: 1, signal: null }, uptimeMs: 300, decision: { action: 'restart', delayMs: 4_000, exitStreak: 4 } },
      want: 'quire dev: node-2 exited unexpectedly (exit code 1) after 0.3 s; restarting it in 4 s (exit 4 in a row); its log is .quire/logs/node-2.log',
    },
    {
      report: { exit: { code: 70, signal: null }, uptimeMs: 12_000, decision: { action: 'stay-down', reason: 'restarts-off', exitStreak: 0 } },
      want: 'quire dev: node-2 exited unexpectedly (exit code 70) after 12 s; not restarting it (--no-restart); its log is .quire/logs/node-2.log',
    },
  ];
  it.each(cases)('$want', ({ report, want }) => {
    expect(unexpectedExitLine('node-2', report, '.quire/logs/node-2.log')).toBe(want);
  });
});

describe('devOptions', () => {
  it('defaults to one router with restarts on', () => {
    expect(parseOptions(devOptions, [], {})).toMatchObject({ routers: 1, noRestart: false });
  });

  it('takes --routers and --no-restart, or their environment variables', () => {
    expect(parseOptions(devOptions, ['--routers', '3', '--no-restart'], {})).toMatchObject({ routers: 3, noRestart: true });
    expect(parseOptions(devOptions, [], { QUIRE_DEV_ROUTERS: '2', QUIRE_DEV_NO_RESTART: 'true' })).toMatchObject({ routers: 2, noRestart: true });
  });

  it.each([['0'], ['9']])('refuses --routers %s', (n) => {
    expect(() => parseOptions(devOptions, ['--routers', n], {})).toThrow(/--routers is \d; expected an integer in 1\.\.8/);
  });
});

describe('zonesOf (quire dev --zones)', () => {
  it.each([
    ['', []],
    ['a', ['a']],
    ['a,b,c', ['a', 'b', 'c']],
    ['eu-west-1a, eu-west-1b', ['eu-west-1a', 'eu-west-1b']],
  ] as const)('reads "%s"', (text, zones) => {
    expect(zonesOf(text)).toEqual(zones);
  });

  it.each(['a,,b', 'A', 'a b', '-a', 'x'.repeat(64)])('refuses "%s" with a message naming --zones', (text) => {
    expect(() => zonesOf(text)).toThrow(/--zones must be a comma-separated list of zones/);
  });
});
