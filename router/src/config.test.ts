import { describe, expect, it } from 'vitest';
import { loadRouterConfig } from './config.js';

describe('loadRouterConfig --failover-wait-ms', () => {
  it('defaults to 10 s and reads the flag or QUIRE_FAILOVER_WAIT_MS, 0 included', () => {
    expect(loadRouterConfig([], {}).failoverWaitMs).toBe(10_000);
    expect(loadRouterConfig(['--failover-wait-ms', '0'], {}).failoverWaitMs).toBe(0);
    expect(loadRouterConfig([], { QUIRE_FAILOVER_WAIT_MS: '2500' }).failoverWaitMs).toBe(2_500);
  });

  it('refuses values outside 0..600000, and accepts one above the request timeout (the deadline bounds each wait)', () => {
    expect(() => loadRouterConfig(['--failover-wait-ms', '-1'], {})).toThrow(/failover-wait-ms/);
    expect(() => loadRouterConfig(['--failover-wait-ms', '600001'], {})).toThrow(/failover-wait-ms/);
    expect(loadRouterConfig(['--failover-wait-ms', '60000', '--request-timeout-ms', '5000'], {}).failoverWaitMs).toBe(60_000);
  });
});
