import { describe, expect, it } from 'vitest';
import { ManualClock } from '../testing/manual-clock.js';
import { seededRng, type Rng } from '../rng.js';
import { isQuireError } from '../errors/quire-error.js';
import type { LogFields, Logger } from '../log/logger.js';
import {
  Failpoints,
  failpointRegistry,
  parseFailpointSpec,
  type FailpointDefinition,
  type FailpointName,
} from './failpoints.js';

/** A registry with one site of each kind, so hit() has a sync site to test. */
const testRegistry: readonly FailpointDefinition[] = [
  { name: 'test.sync', component: 'datanode', site: 'sync', description: 'A synchronous site' },
  { name: 'test.async', component: 'datanode', site: 'async', description: 'An asynchronous site' },
  { name: 'test.switch', component: 'datanode', site: 'switch', description: 'A behaviour switch' },
  { name: 'test.router', component: 'router', site: 'sync', description: "Another component's site" },
];
const syncName = 'test.sync' as FailpointName;
const asyncName = 'test.async' as FailpointName;
const switchName = 'test.switch' as FailpointName;

/** An Rng that returns the given values in turn (then repeats the last). */
function scriptedRng(values: number[]): Rng {
  let i = 0;
  const next = (): number => values[Math.min(i++, values.length - 1)] ?? 0;
  return { next, below: (bound) => Math.floor(next() * bound), id: () => 'id' };
}

function recordingLogger(lines: { level: string; message: string; fields?: LogFields }[]): Logger {
  const log =
    (level: string) =>
    (message: string, fields?: LogFields): void => {
      lines.push({ level, message, ...(fields === undefined ? {} : { fields }) });
    };
  const logger: Logger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error'), mark: log('mark'), child: () => logger };
  return logger;
}

function harness(rng: Rng = seededRng(1)) {
  const clock = new ManualClock();
  const lines: { level: string; message: string; fields?: LogFields }[] = [];
  let crashes = 0;
  const fp = new Failpoints({ component: 'datanode', rng, clock, crash: () => crashes++, log: recordingLogger(lines), registry: testRegistry });
  return { fp, clock, lines, crashes: () => crashes };
}

/** Runs `f` and returns the error code it throws, or 'none'. */
function thrownCode(f: () => void): string {
  try {
    f();
  } catch (err) {
    return isQuireError(err) ? err.code : `not a QuireError: ${String(err)}`;
  }
  return 'none';
}

describe('parseFailpointSpec', () => {
  it.each([
    ['test.sync=crash', { probabilityPercent: 100, countMax: undefined, action: { kind: 'crash' } }],
    ['test.sync=error(OVERLOADED)', { probabilityPercent: 100, countMax: undefined, action: { kind: 'error', code: 'OVERLOADED' } }],
    ['test.async=sleep(250)', { probabilityPercent: 100, countMax: undefined, action: { kind: 'sleep', durationMs: 250 } }],
    ['test.async=12.5%3*crash', { probabilityPercent: 12.5, countMax: 3, action: { kind: 'crash' } }],
    ['test.async=2*error(AMBIGUOUS_RESULT)', { probabilityPercent: 100, countMax: 2, action: { kind: 'error', code: 'AMBIGUOUS_RESULT' } }],
    ['test.switch=true', { probabilityPercent: 100, countMax: undefined, action: { kind: 'on' } }],
    ['test.switch=50%yield', { probabilityPercent: 50, countMax: undefined, action: { kind: 'on' } }],
    ['test.sync=off', { probabilityPercent: 100, countMax: undefined, action: undefined }],
  ])('parses %s', (spec, expected) => {
    const [setting] = parseFailpointSpec(spec, 'datanode', testRegistry);
    expect(setting).toMatchObject(expected);
    expect(setting?.term).toBe(spec.slice(spec.indexOf('=') + 1));
  });

  it('parses several terms separated by ";", ignoring blanks and spaces', () => {
    const settings = parseFailpointSpec(' test.sync=crash ; ; test.async = sleep(5);', 'datanode', testRegistry);
    expect(settings.map((s) => [s.name, s.term])).toEqual([
      ['test.sync', 'crash'],
      ['test.async', 'sleep(5)'],
    ]);
    expect(parseFailpointSpec('', 'datanode', testRegistry)).toEqual([]);
  });

  it.each([
    ['test.sync', /"test.sync" is not name=term/],
    ['=crash', /is not name=term/],
    ['test.nope=crash', /Unknown failpoint "test.nope"; the datanode knows test.sync, test.async, test.switch/],
    ['test.router=crash', /Failpoint test.router belongs to the router, not the datanode/],
    ['test.sync=explode', /Failpoint test.sync: unknown action "explode"/],
    ['test.sync=crash(1)', /"crash" takes no argument/],
    ['test.async=sleep', /sleep needs a duration in milliseconds/],
    ['test.async=sleep(-1)', /is not a term|sleep needs a duration/],
    ['test.async=sleep(600001)', /exceeds 600000 ms/],
    ['test.sync=error(NOPE)', /error needs a Quire error code, one of INVALID_ARGUMENT, .*INTERNAL/],
    ['test.sync=error()', /error needs a Quire error code/],
    ['test.sync=101%crash', /probability 101% exceeds 100%/],
    ['test.sync=0*crash', /count 0\* is outside 1\.\.1000000000/],
    ['test.sync=50%off', /off takes no probability or count/],
    ['test.sync=sleep(5)', /test.sync is a sync site: arm it with crash or error\(CODE\) \(a synchronous site cannot sleep\) or off, not "sleep"/],
    ['test.sync=true', /test.sync is a sync site/],
    ['test.switch=crash', /test.switch is a switch site: arm it with yield or true/],
    ['test.async=yield', /test.async is an async site/],
    ['test.sync=crash;test.sync=off', /Failpoint test.sync appears twice/],
    ['test.sync=%crash', /is not a term/],
  ])('refuses %s, naming the failpoint and the grammar', (spec, message) => {
    let error: unknown;
    try {
      parseFailpointSpec(spec, 'datanode', testRegistry);
    } catch (err) {
      error = err;
    }
    expect(isQuireError(error, 'INVALID_ARGUMENT')).toBe(true);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).toContain('the grammar is name=[P%][N*]action');
  });

  it('refuses a spec longer than the limit', () => {
    expect(() => parseFailpointSpec(`test.sync=crash;${' '.repeat(9000)}`, 'datanode', testRegistry)).toThrow(/more than 8192/);
  });

  it('knows every registered failpoint for its component only, and each has a description', () => {
    const names = failpointRegistry.map((d) => d.name);
    expect(new Set(names).size).toBe(names.length);
    for (const d of failpointRegistry) {
      expect(d.description.length).toBeGreaterThan(20);
      expect(d.name.startsWith(`${d.component}.`)).toBe(true);
    }
    expect(parseFailpointSpec('datanode.groupCommit.beforeCommit=error(OVERLOADED)', 'datanode')).toHaveLength(1);
    expect(() => parseFailpointSpec('datanode.groupCommit.beforeCommit=crash', 'router')).toThrow(/belongs to the datanode, not the router \(which knows router.forward.beforeSend, router.resend.dropRequestId\)/);
    expect(() => parseFailpointSpec('datanode.groupCommit.beforCommit=crash', 'datanode')).toThrow(
      /Unknown failpoint "datanode.groupCommit.beforCommit"; the datanode knows datanode.groupCommit.beforeCommit, datanode.groupCommit.afterCommit, datanode.groupCommit.ackBeforeDurable/,
    );
  });
});

describe('Failpoints', () => {
  it('does nothing while nothing is armed', async () => {
    const h = harness();
    h.fp.hit(syncName);
    await h.fp.hitAsync(asyncName);
    expect(h.fp.isOn(switchName)).toBe(false);
    expect(h.fp.isArmed(syncName)).toBe(false);
    expect(h.fp.list()).toEqual([]);
    expect(h.crashes()).toBe(0);
  });

  it('crash calls the injected crash callback and counts the hit', () => {
    const h = harness();
    h.fp.set('test.sync=crash');
    h.fp.hit(syncName);
    expect(h.crashes()).toBe(1);
    expect(h.fp.list()).toEqual([{ name: 'test.sync', term: 'crash', hits: 1, fired: 1 }]);
    expect(h.lines.some((l) => l.level === 'warn' && l.message === 'Failpoint fired: crashing the process')).toBe(true);
  });

  it('error(CODE) throws the typed QuireError of that code, synchronously and asynchronously', async () => {
    const h = harness();
    h.fp.set('test.sync=error(STALE_EPOCH);test.async=error(OVERLOADED)');
    expect(thrownCode(() => h.fp.hit(syncName))).toBe('STALE_EPOCH');
    const rejected = await h.fp.hitAsync(asyncName).then(
      () => 'none',
      (err: unknown) => (isQuireError(err, 'OVERLOADED') ? err.message : 'wrong error'),
    );
    expect(rejected).toBe('Failpoint test.async injected OVERLOADED');
  });

  it('sleep(MS) resolves after MS on the injected clock, not before', async () => {
    const h = harness();
    h.fp.set('test.async=sleep(100)');
    let done = false;
    const p = h.fp.hitAsync(asyncName).then(() => (done = true));
    await Promise.resolve();
    h.clock.advance(99);
    await Promise.resolve();
    expect(done).toBe(false);
    h.clock.advance(1);
    await p;
    expect(done).toBe(true);
  });

  it('N* fires at most N times, then the failpoint stays armed but inert', () => {
    const h = harness();
    h.fp.set('test.sync=2*error(INTERNAL)');
    const codes = [0, 1, 2, 3].map(() => thrownCode(() => h.fp.hit(syncName)));
    expect(codes).toEqual(['INTERNAL', 'INTERNAL', 'none', 'none']);
    expect(h.fp.list()).toEqual([{ name: 'test.sync', term: '2*error(INTERNAL)', hits: 4, fired: 2 }]);
  });

  it('P% fires when the roll is below P; a lost roll does not use up the count', () => {
    // Rolls (×100): 60 (no), 20 (yes), 90 (no), 10 (yes), 5 (count used up: not rolled).
    const h = harness(scriptedRng([0.6, 0.2, 0.9, 0.1, 0.05]));
    h.fp.set('test.sync=25%2*crash');
    for (let i = 0; i < 5; i++) h.fp.hit(syncName);
    expect(h.crashes()).toBe(2);
    expect(h.fp.list()).toEqual([{ name: 'test.sync', term: '25%2*crash', hits: 5, fired: 2 }]);
  });

  it('P% fires about P percent of the time with a seeded rng', () => {
    const h = harness(seededRng(42));
    h.fp.set('test.switch=30%true');
    let on = 0;
    for (let i = 0; i < 10_000; i++) if (h.fp.isOn(switchName)) on++;
    expect(on).toBeGreaterThan(2_800);
    expect(on).toBeLessThan(3_200);
  });

  it('0% never fires and 100% always does', () => {
    const h = harness(seededRng(7));
    h.fp.set('test.switch=0%true');
    expect([1, 2, 3].map(() => h.fp.isOn(switchName))).toEqual([false, false, false]);
    h.fp.set('test.switch=100%true');
    expect([1, 2, 3].map(() => h.fp.isOn(switchName))).toEqual([true, true, true]);
  });

  it('yield and true switch a behaviour on; off disarms', () => {
    const h = harness();
    h.fp.set('test.switch=yield');
    expect(h.fp.isOn(switchName)).toBe(true);
    h.fp.set('test.switch=off');
    expect(h.fp.isOn(switchName)).toBe(false);
    expect(h.fp.list()).toEqual([]);
  });

  it('an invalid spec changes nothing, even when part of it is valid', () => {
    const h = harness();
    h.fp.set('test.sync=crash');
    expect(() => h.fp.set('test.switch=true;test.async=bogus', { replace: true })).toThrow(/unknown action "bogus"/);
    expect(h.fp.list().map((f) => f.name)).toEqual(['test.sync']);
  });

  it('set() merges by default, replace disarms the rest, and re-arming resets the counters', () => {
    const h = harness();
    h.fp.set('test.sync=crash');
    h.fp.hit(syncName);
    h.fp.set('test.switch=true');
    expect(h.fp.list().map((f) => [f.name, f.hits])).toEqual([
      ['test.switch', 0],
      ['test.sync', 1],
    ]);
    h.fp.set('test.sync=crash');
    expect(h.fp.list().find((f) => f.name === syncName)?.hits).toBe(0);
    expect(h.fp.set('test.async=sleep(1)', { replace: true }).map((f) => f.name)).toEqual(['test.async']);
  });

  it('clear() disarms one failpoint or all of them', () => {
    const h = harness();
    h.fp.set('test.sync=crash;test.switch=true');
    h.fp.clear(syncName);
    expect(h.fp.list().map((f) => f.name)).toEqual(['test.switch']);
    h.fp.clear();
    expect(h.fp.list()).toEqual([]);
  });

  it('logs one Warn line naming the armed failpoints when arming, none per hit', () => {
    const h = harness();
    h.fp.set('test.sync=error(INTERNAL);test.switch=true');
    for (let i = 0; i < 3; i++) thrownCode(() => h.fp.hit(syncName));
    const warns = h.lines.filter((l) => l.level === 'warn');
    expect(warns).toEqual([
      { level: 'warn', message: 'Failpoints armed', fields: { names: ['test.switch', 'test.sync'], spec: 'test.switch=true;test.sync=error(INTERNAL)' } },
    ]);
  });

  it('asserts when the code evaluates a failpoint with the wrong method for its site', () => {
    const h = harness();
    h.fp.set('test.async=sleep(5);test.switch=true');
    expect(() => h.fp.hit(asyncName)).toThrow(/declared as an async site but the code evaluates it as sync/);
    expect(() => h.fp.hit(switchName)).toThrow(/declared as a switch site/);
  });

  it('disabled() never fires and refuses to be armed', async () => {
    const fp = Failpoints.disabled();
    fp.hit(syncName);
    await fp.hitAsync(asyncName);
    expect(fp.isOn(switchName)).toBe(false);
    expect(fp.list()).toEqual([]);
    expect(thrownCode(() => fp.set('test.sync=crash'))).toBe('INVALID_ARGUMENT');
  });
});
