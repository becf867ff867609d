import { describe, expect, it } from 'vitest';
import { AssertionError } from '@quire/common';
import { backoffDelayMs, decideRestart, restartPolicyDefaults, validateRestartPolicy, type ExitFacts, type RestartDecision, type RestartPolicy } from './restart-policy.js';

const policy: RestartPolicy = { backoffMsMin: 500, backoffMsMax: 10_000, stableUptimeMsMin: 10_000 };
const crash = (over: Partial<ExitFacts> = {}): ExitFacts => ({ requested: false, restartsOn: true, uptimeMs: 1_000, exitStreak: 0, ...over });

describe('decideRestart', () => {
  const cases: { name: string; facts: ExitFacts; want: RestartDecision }[] = [
    { name: 'first unexpected exit: the shortest delay', facts: crash(), want: { action: 'restart', delayMs: 500, exitStreak: 1 } },
    { name: 'second quick exit doubles', facts: crash({ exitStreak: 1 }), want: { action: 'restart', delayMs: 1_000, exitStreak: 2 } },
    { name: 'third quick exit doubles again', facts: crash({ exitStreak: 2 }), want: { action: 'restart', delayMs: 2_000, exitStreak: 3 } },
    { name: 'fifth quick exit: 8 s', facts: crash({ exitStreak: 4 }), want: { action: 'restart', delayMs: 8_000, exitStreak: 5 } },
    { name: 'sixth quick exit: capped at 10 s', facts: crash({ exitStreak: 5 }), want: { action: 'restart', delayMs: 10_000, exitStreak: 6 } },
    { name: 'a long streak stays at the cap', facts: crash({ exitStreak: 10_000 }), want: { action: 'restart', delayMs: 10_000, exitStreak: 10_001 } },
    { name: 'an exit right at start counts as quick', facts: crash({ uptimeMs: 0, exitStreak: 3 }), want: { action: 'restart', delayMs: 4_000, exitStreak: 4 } },
    { name: 'just under the stable uptime keeps the streak', facts: crash({ uptimeMs: 9_999, exitStreak: 3 }), want: { action: 'restart', delayMs: 4_000, exitStreak: 4 } },
    { name: 'exactly the stable uptime resets the streak', facts: crash({ uptimeMs: 10_000, exitStreak: 3 }), want: { action: 'restart', delayMs: 500, exitStreak: 1 } },
    { name: 'a long run resets a capped streak', facts: crash({ uptimeMs: 3_600_000, exitStreak: 40 }), want: { action: 'restart', delayMs: 500, exitStreak: 1 } },
    { name: 'a requested exit (stop or kill through the API) stays down', facts: crash({ requested: true, exitStreak: 2 }), want: { action: 'stay-down', reason: 'requested', exitStreak: 0 } },
    { name: 'stopping wins: requested with restarts off stays down as requested', facts: crash({ requested: true, restartsOn: false }), want: { action: 'stay-down', reason: 'requested', exitStreak: 0 } },
    { name: '--no-restart (or stopping began): an unexpected exit stays down', facts: crash({ restartsOn: false, exitStreak: 2 }), want: { action: 'stay-down', reason: 'restarts-off', exitStreak: 0 } },
  ];
  it.each(cases)('$name', ({ facts, want }) => {
    expect(decideRestart(policy, facts)).toEqual(want);
  });

  it('follows the schedule 0.5, 1, 2, 4, 8, 10, 10 s through a crash loop, and starts over after a stable run', () => {
    let exitStreak = 0;
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      const d = decideRestart(policy, crash({ uptimeMs: 200, exitStreak }));
      if (d.action !== 'restart') throw new Error('expected a restart');
      delays.push(d.delayMs);
      exitStreak = d.exitStreak;
    }
    expect(delays).toEqual([500, 1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
    expect(decideRestart(policy, crash({ uptimeMs: 60_000, exitStreak }))).toMatchObject({ delayMs: 500, exitStreak: 1 });
  });

  it('is what quire dev uses by default', () => {
    expect(restartPolicyDefaults).toEqual(policy);
  });

  const bad: { name: string; policy: RestartPolicy; facts: ExitFacts }[] = [
    { name: 'a zero minimum delay', policy: { ...policy, backoffMsMin: 0 }, facts: crash() },
    { name: 'a maximum below the minimum', policy: { ...policy, backoffMsMax: 100 }, facts: crash() },
    { name: 'an infinite maximum', policy: { ...policy, backoffMsMax: Infinity }, facts: crash() },
    { name: 'a zero stable uptime', policy: { ...policy, stableUptimeMsMin: 0 }, facts: crash() },
    { name: 'a negative streak', policy, facts: crash({ exitStreak: -1 }) },
    { name: 'a fractional streak', policy, facts: crash({ exitStreak: 1.5 }) },
    { name: 'a negative uptime', policy, facts: crash({ uptimeMs: -1 }) },
  ];
  it.each(bad)('asserts against $name', ({ policy: p, facts }) => {
    expect(() => decideRestart(p, facts)).toThrow(AssertionError);
  });
});

describe('backoffDelayMs', () => {
  it.each([
    [1, 500],
    [2, 1_000],
    [5, 8_000],
    [6, 10_000],
    [1_000, 10_000],
  ])('restart %i of a streak waits %i ms', (streak, want) => {
    expect(backoffDelayMs(policy, streak)).toBe(want);
  });

  it('never goes past the cap however long the streak, and is never below the minimum', () => {
    for (const streak of [1, 2, 31, 32, 1_024, Number.MAX_SAFE_INTEGER]) {
      const d = backoffDelayMs(policy, streak);
      expect(d).toBeGreaterThanOrEqual(policy.backoffMsMin);
      expect(d).toBeLessThanOrEqual(policy.backoffMsMax);
    }
  });

  it('asserts that the streak counts from 1', () => {
    expect(() => backoffDelayMs(policy, 0)).toThrow(AssertionError);
  });

  it('accepts a policy whose minimum is its maximum (a fixed delay)', () => {
    const fixed = { backoffMsMin: 2_000, backoffMsMax: 2_000, stableUptimeMsMin: 1 };
    expect(() => validateRestartPolicy(fixed)).not.toThrow();
    expect([1, 2, 3].map((s) => backoffDelayMs(fixed, s))).toEqual([2_000, 2_000, 2_000]);
  });
});
