/**
 * The restart policy of `quire dev`'s supervisor, pure: given how a child process ended, it
 * decides whether to start it again and after how long, as a kubelet does for a pod's
 * container (CrashLoopBackOff: a delay that doubles with each exit in a row, up to a cap, and
 * starts over once a run lasted long enough). The adapter (`managed-process.ts`) measures the
 * uptime, holds the exit streak between runs and owns the timer.
 *
 * Invariants:
 * - An exit somebody asked for (stop(), kill() through the API, or the whole cluster stopping)
 *   is never restarted: stopping wins over restarting.
 * - The delay is within [backoffMsMin, backoffMsMax] and never decreases within a streak.
 * - A run of at least stableUptimeMsMin ends the streak, so the next delay is backoffMsMin;
 *   so does staying down, so a process started again by hand begins a new streak.
 *
 * Restarts have no count limit, as with a kubelet: a process that keeps failing is retried once
 * per backoffMsMax at most, which bounds the rate instead, and a developer watching the output
 * stops it with Ctrl-C.
 */
import { assert } from '@quire/common';

/** Settings of the restart policy. */
export interface RestartPolicy {
  /** The delay before the first restart of a streak. */
  readonly backoffMsMin: number;
  /** The longest delay; doubling stops here. */
  readonly backoffMsMax: number;
  /** A run at least this long ends the streak of quick exits. */
  readonly stableUptimeMsMin: number;
}

/** `quire dev`'s policy: 0.5 s doubling to 10 s, reset after 10 s up. */
export const restartPolicyDefaults: RestartPolicy = { backoffMsMin: 500, backoffMsMax: 10_000, stableUptimeMsMin: 10_000 };

/** What the supervisor knows when a process has exited. */
export interface ExitFacts {
  /** Whether somebody asked for this exit: stop(), kill() through the API, or the cluster stopping. */
  readonly requested: boolean;
  /** Whether restarts are on for this process (off under `--no-restart` and once stopping began). */
  readonly restartsOn: boolean;
  /** How long the run that ended lasted. */
  readonly uptimeMs: number;
  /** Unexpected exits in a row before this one, each after a run shorter than stableUptimeMsMin. */
  readonly exitStreak: number;
}

/** Whether and when to start the process again. */
export type RestartDecision =
  | {
      readonly action: 'stay-down';
      readonly reason: 'requested' | 'restarts-off';
      /** Always 0: staying down ends the streak, so a later start begins a new one. */
      readonly exitStreak: 0;
    }
  | {
      readonly action: 'restart';
      readonly delayMs: number;
      /** Unexpected exits in a row, this one included. */
      readonly exitStreak: number;
    };

/** Asserts the policy's settings relate as they must. */
export function validateRestartPolicy(policy: RestartPolicy): void {
  assert(Number.isFinite(policy.backoffMsMin) && policy.backoffMsMin > 0, `backoffMsMin must be positive (it is ${policy.backoffMsMin})`);
  assert(Number.isFinite(policy.backoffMsMax) && policy.backoffMsMax >= policy.backoffMsMin, `backoffMsMax (${policy.backoffMsMax}) must be at least backoffMsMin (${policy.backoffMsMin})`);
  assert(Number.isFinite(policy.stableUptimeMsMin) && policy.stableUptimeMsMin > 0, `stableUptimeMsMin must be positive (it is ${policy.stableUptimeMsMin})`);
}

/** Returns the delay before restart number `exitStreak` (1-based) of a streak. */
export function backoffDelayMs(policy: RestartPolicy, exitStreak: number): number {
  assert(Number.isInteger(exitStreak) && exitStreak >= 1, `exitStreak must be a positive integer (it is ${exitStreak})`);
  // The exponent is capped so the product stays finite; the cap on the delay applies anyway.
  return Math.min(policy.backoffMsMax, policy.backoffMsMin * 2 ** Math.min(exitStreak - 1, 30));
}

/** Decides what to do about a process that has just exited. */
export function decideRestart(policy: RestartPolicy, facts: ExitFacts): RestartDecision {
  validateRestartPolicy(policy);
  assert(Number.isInteger(facts.exitStreak) && facts.exitStreak >= 0, `exitStreak must be a non-negative integer (it is ${facts.exitStreak})`);
  assert(facts.uptimeMs >= 0, `uptimeMs must not be negative (it is ${facts.uptimeMs})`);
  if (facts.requested) return { action: 'stay-down', reason: 'requested', exitStreak: 0 };
  if (!facts.restartsOn) return { action: 'stay-down', reason: 'restarts-off', exitStreak: 0 };
  const exitStreak = (facts.uptimeMs >= policy.stableUptimeMsMin ? 0 : facts.exitStreak) + 1;
  return { action: 'restart', delayMs: backoffDelayMs(policy, exitStreak), exitStreak };
}
