import { describe, expect, it } from 'vitest';
import type { SpanRecord } from '@quire/common';
import { breakDown, formatBreakdown, formatSummary } from './summary.js';

const span = (s: Partial<SpanRecord> & Pick<SpanRecord, 'spanId' | 'name' | 'startUnixMs' | 'durationMs'>): SpanRecord => ({
  traceId: 'a'.repeat(32),
  service: 'router router-1',
  status: 'unset',
  attributes: {},
  events: [],
  links: [],
  ...s,
});

describe('breakDown', () => {
  it('splits a replicated put into router, leader queue, commit and follower time, and links the followers', () => {
    const spans = [
      span({ spanId: '1'.repeat(16), name: 'router.put', startUnixMs: 1_000, durationMs: 20, attributes: { 'quire.code': 'OK' }, events: [{ name: 'sent', atMs: 1 }] }),
      span({
        spanId: '2'.repeat(16),
        parentSpanId: '1'.repeat(16),
        name: 'datanode.put',
        service: 'datanode node-1',
        startUnixMs: 1_002,
        durationMs: 15,
        events: [
          { name: 'appended', atMs: 3 },
          { name: 'durable', atMs: 9 },
        ],
      }),
      span({ traceId: 'b'.repeat(32), spanId: '3'.repeat(16), name: 'replication.append', service: 'datanode node-2', startUnixMs: 1_005, durationMs: 7, links: [{ traceId: 'a'.repeat(32), spanId: '2'.repeat(16) }] }),
    ];
    const [r] = breakDown(spans);
    expect(r).toMatchObject({ op: 'put', totalMs: 20, code: 'OK', routerMs: 2, leader: 'datanode node-1', queueMs: 3, commitMs: 6, followersMs: 6, followers: [{ service: 'datanode node-2', durationMs: 7 }] });
    expect(formatBreakdown(r!)).toBe('aaaaaaaaaaaaaaaa  put        20 ms  OK         router 2.00 ms; datanode node-1: queue 3.00 ms, commit 6.00 ms, followers 6.00 ms (node-2 7.00 ms)');
  });

  it('counts holds, retries and abandoned attempts, charges the router with everything before the answering attempt, and sorts the slowest first', () => {
    const spans = [
      span({ traceId: 'c'.repeat(32), spanId: '4'.repeat(16), name: 'router.get', startUnixMs: 0, durationMs: 5 }),
      span({
        spanId: '5'.repeat(16),
        name: 'router.put',
        startUnixMs: 0,
        durationMs: 1_500,
        attributes: { 'quire.code': 'OK' },
        events: [
          { name: 'sent', atMs: 0 },
          { name: 'abandoned', atMs: 1_000 },
          { name: 'retry', atMs: 1_000 },
          { name: 'held', atMs: 1_001 },
          { name: 'sent', atMs: 1_400 },
        ],
      }),
      span({ spanId: '6'.repeat(16), parentSpanId: '5'.repeat(16), name: 'datanode.put', service: 'datanode node-3', startUnixMs: 1_400, durationMs: 100 }),
    ];
    const rs = breakDown(spans);
    expect(rs.map((r) => r.totalMs)).toEqual([1_500, 5]);
    expect(rs[0]).toMatchObject({ routerMs: 1_400, holds: 1, retries: 1, abandoned: 1, leader: 'datanode node-3', queueMs: undefined });
    expect(formatSummary(rs, 1)).toEqual([
      '2 traced requests',
      'Stages (over requests that have them):',
      '  total          p50   5.00 ms   p99   1500 ms   max   1500 ms',
      '  router         p50   5.00 ms   p99   1400 ms   max   1400 ms',
      '  leader queue   p50         -   p99         -   max         -',
      '  leader commit  p50         -   p99         -   max         -',
      '  followers      p50         -   p99         -   max         -',
      'Slowest 1:',
      '  aaaaaaaaaaaaaaaa  put      1500 ms  OK         router 1400 ms, held 1×, 1 retry, 1 abandoned; datanode node-3 100 ms',
    ]);
  });
});
