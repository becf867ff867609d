import { describe, expect, it } from 'vitest';
import { CombinedNemesis, type Nemesis } from './nemesis.js';

/** A nemesis that only writes down what was asked of it. */
function recording(name: string, calls: string[]): Nemesis {
  return {
    name,
    start: async () => void calls.push(`${name}.start`),
    stop: async () => void calls.push(`${name}.stop`),
    heal: async () => void calls.push(`${name}.heal`),
  };
}

describe('CombinedNemesis', () => {
  it('starts combined nemeses in order and stops and heals them in reverse', async () => {
    const calls: string[] = [];
    const both = new CombinedNemesis([recording('clock-rate', calls), recording('partition-etcd-only', calls)]);
    expect(both.name).toBe('clock-rate+partition-etcd-only');
    await both.start();
    await both.stop();
    await both.heal();
    expect(calls).toEqual(['clock-rate.start', 'partition-etcd-only.start', 'partition-etcd-only.stop', 'clock-rate.stop', 'partition-etcd-only.heal', 'clock-rate.heal']);
  });

  it('refuses an empty list', () => {
    expect(() => new CombinedNemesis([])).toThrow(/at least one/);
  });
});
