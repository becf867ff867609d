import { describe, expect, it } from 'vitest';
import { runFixedRate } from './load.js';

describe('runFixedRate', () => {
  it('starts exactly the operations its rate asks for when they keep up, and measures them all', async () => {
    let measureStarted = false;
    let measuredCalls = 0;
    const result = await runFixedRate({
      ratePerSecond: 500,
      inFlightMax: 64,
      warmupMs: 50,
      durationMs: 200,
      op: async () => {
        if (measureStarted) measuredCalls++;
      },
      onMeasureStart: () => (measureStarted = true),
    });
    expect(result.due).toBe(100);
    expect(result.started).toBe(100);
    expect(result.ops).toBe(100);
    expect(measuredCalls).toBe(100);
    expect(result.errors).toBe(0);
    expect(result.latenciesUs.length).toBe(100);
  });

  it('falls behind, and says so, when the in-flight cap stops it from starting what is due', async () => {
    let ended = false;
    const result = await runFixedRate({
      ratePerSecond: 1_000,
      inFlightMax: 5,
      warmupMs: 0,
      durationMs: 100,
      op: () => new Promise((resolve) => setTimeout(resolve, 300)),
      onMeasureEnd: () => (ended = true),
    });
    expect(result.due).toBe(100);
    expect(result.started).toBe(5);
    // The measured period ends only once its operations finished.
    expect(result.ops).toBe(5);
    expect(ended).toBe(true);
  });

  it('counts failed operations as errors, with the first message', async () => {
    let n = 0;
    const result = await runFixedRate({
      ratePerSecond: 1_000,
      inFlightMax: 64,
      warmupMs: 0,
      durationMs: 20,
      op: async () => {
        n++;
        if (n % 2 === 0) throw new Error(`refused ${n}`);
      },
    });
    expect(result.errors).toBe(Math.floor(result.started / 2));
    expect(result.ops).toBe(result.started - result.errors);
    expect(result.firstError).toBe('refused 2');
  });
});
