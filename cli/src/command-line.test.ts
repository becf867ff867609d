import { describe, expect, it } from 'vitest';
import { routerTargetsOf } from '@quire/client';
import { keyspaceSettingsOf, parseSplitKeys, resolveRouters, splitCommand, usage } from './command-line.js';

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

describe('resolveRouters', () => {
  const check = (routers: string[]): unknown => routerTargetsOf({ routers });
  const cluster = (json: object): string => JSON.stringify(json);

  it.each<[string, Parameters<typeof resolveRouters>[0], string[], string]>([
    ['one --router', { flag: 'h:1' }, ['h:1'], '--router'],
    ['a --router list, spaces trimmed', { flag: 'a:1, b:2' }, ['a:1', 'b:2'], '--router'],
    ['--router over the rest', { flag: 'a:1', env: 'b:2', clusterJson: cluster({ routers: ['c:3'] }) }, ['a:1'], '--router'],
    ['a QUIRE_ROUTER list', { env: 'a:1,b:2', clusterJson: cluster({ routers: ['c:3'] }) }, ['a:1', 'b:2'], 'QUIRE_ROUTER'],
    ['an empty QUIRE_ROUTER is unset', { env: '', clusterJson: cluster({ routers: ['c:3'] }) }, ['c:3'], '.quire/cluster.json'],
    ['cluster.json routers', { clusterJson: cluster({ routers: ['c:3', 'd:4'], router: 'c:3' }) }, ['c:3', 'd:4'], '.quire/cluster.json'],
    ['cluster.json router when it has no routers (an older file)', { clusterJson: cluster({ router: 'c:3', etcd: 'e:1' }) }, ['c:3'], '.quire/cluster.json'],
    ['cluster.json router when routers is empty', { clusterJson: cluster({ routers: [], router: 'c:3' }) }, ['c:3'], '.quire/cluster.json'],
    ['the default without a cluster file', {}, ['127.0.0.1:7000'], 'the default'],
    ['the default when the cluster file does not parse', { clusterJson: '{"rout' }, ['127.0.0.1:7000'], 'the default'],
    ['the default when the cluster file names no router', { clusterJson: cluster({ etcd: 'e:1' }) }, ['127.0.0.1:7000'], 'the default'],
  ])('takes %s', (_name, sources, routers, source) => {
    expect(resolveRouters(sources, check)).toEqual({ routers, source });
  });

  it.each<[string, Parameters<typeof resolveRouters>[0], RegExp]>([
    ['an empty entry in --router', { flag: 'a:1,' }, /^--router must be a comma-separated list of host:port, got "a:1,"$/],
    ['an empty --router', { flag: '' }, /^--router must be a comma-separated list/],
    ['an entry without a port in QUIRE_ROUTER', { env: 'a:1,b' }, /^QUIRE_ROUTER: routers entry "b" is not host:port/],
    ['a repeated entry', { flag: 'a:1,a:1' }, /^--router: routers names a:1 twice$/],
    ['a bad entry in cluster.json routers', { clusterJson: cluster({ routers: ['c:3', 7] }) }, /^\.quire\/cluster\.json: routers entry "7" is not host:port/],
  ])('refuses %s as a usage error naming where it came from', (_name, sources, message) => {
    expect(() => resolveRouters(sources, check)).toThrow(message);
  });
});

describe('keyspace create settings', () => {
  it('makes a hash keyspace from --partitions, as before', () => {
    expect(keyspaceSettingsOf({ partitions: '8' })).toEqual({ partitions: 8 });
    expect(keyspaceSettingsOf({ partitions: '6', replication: '2', 'ack-policy': 'semi-sync', 'min-isr': '2' })).toEqual({ partitions: 6, replicationFactor: 2, ackPolicy: 'semi-sync', minIsr: 2 });
  });

  it('makes a range keyspace from --range and --split-keys, with the same replication options', () => {
    expect(keyspaceSettingsOf({ range: true })).toEqual({ scheme: 'range', splitKeys: [] });
    expect(keyspaceSettingsOf({ range: true, 'split-keys': 'g,p,user/5', replication: '3' })).toEqual({ scheme: 'range', splitKeys: ['g', 'p', 'user/5'], replicationFactor: 3 });
  });

  it.each<[string, Parameters<typeof keyspaceSettingsOf>[0], string]>([
    ['no --partitions and no --range (the message the e2e tier checks)', {}, 'quire keyspace create needs --partitions N'],
    ['--partitions with --range', { range: true, partitions: '3' }, '--partitions applies to hash keyspaces; a range keyspace starts with one partition per --split-keys range'],
    ['--split-keys without --range', { partitions: '3', 'split-keys': 'a' }, '--split-keys needs --range (hash keyspaces have no split keys)'],
    ['split keys out of order', { range: true, 'split-keys': 'p,g' }, '--split-keys: split key 1 sorts before split key 0 (split keys must be strictly ascending); got "p,g"'],
    ['a repeated split key', { range: true, 'split-keys': 'a,a' }, '--split-keys: split key 1 repeats split key 0; got "a,a"'],
    ['an empty split key', { range: true, 'split-keys': 'a,,b' }, '--split-keys: split key 1 is empty; got "a,,b"'],
    ['an unknown ack policy', { range: true, 'ack-policy': 'maybe' }, '--ack-policy must be sync, semi-sync, async, got "maybe"'],
    ['a replication of 0', { partitions: '2', replication: '0' }, '--replication must be an integer >= 1, got "0"'],
  ])('refuses %s', (_name, flags, message) => {
    expect(() => keyspaceSettingsOf(flags)).toThrow(message);
  });

  it('reads split keys as UTF-8 text, in the order given', () => {
    expect(parseSplitKeys('a,b,é')).toEqual(['a', 'b', 'é']);
    expect(() => parseSplitKeys('')).toThrow('--split-keys: split key 0 is empty; got ""');
  });
});

describe('usage', () => {
  it('documents range keyspaces and quire split', () => {
    expect(usage).toContain('keyspace create NAME --range [--split-keys K1,K2,...]');
    expect(usage).toContain('split --at KEY [--partition N]');
    expect(usage).toContain('keyspace create NAME --partitions N [--replication R]');
  });
});
