/**
 * Tracing (issue 15) across real processes: a cluster started with every process writing its
 * spans to a file (LocalCluster `trace`, as `quire dev --trace`), traced writes through a router
 * whose caller sends a W3C traceparent in the gRPC metadata, and then the span files: the
 * router's span is a child of the caller's, the leader's a child of the router's with the
 * stages of a write (appended, durable), each follower's append links to the leader's span, and
 * `quire trace` turns them into per-request breakdowns.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Metadata } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KVClient } from '@quire/proto';
import { clientCredentials, grpcClientOptions } from '@quire/common';
import { breakDown, readSpanFiles } from '@quire/cli';
import { startTestCluster, type TestCluster } from './harness/test-cluster.js';

describe('tracing with quire dev --trace', () => {
  let t: TestCluster;
  beforeAll(async () => {
    t = await startTestCluster('tracing', { replicationFactor: 3, trace: true });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('records a span per request in the router, the leader and each follower, joined by W3C trace context', async () => {
    const kv = new KVClient(t.cluster.routerAddress, clientCredentials(), grpcClientOptions);
    const traceIds: string[] = [];
    try {
      for (let i = 0; i < 20; i++) {
        const traceId = i.toString(16).padStart(32, 'e');
        traceIds.push(traceId);
        const metadata = new Metadata();
        metadata.set('traceparent', `00-${traceId}-${'0'.repeat(15)}${(i % 9) + 1}-01`);
        await new Promise<void>((resolve, reject) =>
          kv.put({ keyspace: '', key: Buffer.from(`traced-${i}`), value: Buffer.from('v'), expectedVersion: undefined, requestId: Buffer.alloc(0) }, metadata, (err) => (err === null ? resolve() : reject(err))),
        );
      }
    } finally {
      kv.close();
    }
    // Spans are flushed every second and at exit: stop the cluster's processes to flush them all.
    await t.cluster.stop();
    const dir = join(t.dataDir, 'traces');
    expect(existsSync(dir)).toBe(true);
    expect(readdirSync(dir)).toEqual(expect.arrayContaining(['node-1.jsonl', 'node-2.jsonl', 'node-3.jsonl', 'router-1.jsonl']));
    const { spans, malformed } = readSpanFiles(dir);
    expect(malformed).toBe(0);
    const ours = spans.filter((s) => traceIds.includes(s.traceId));
    const routerSpans = ours.filter((s) => s.name === 'router.put');
    const leaderSpans = ours.filter((s) => s.name === 'datanode.put');
    expect(routerSpans).toHaveLength(20);
    expect(leaderSpans).toHaveLength(20);
    for (const leader of leaderSpans) {
      const parent = routerSpans.find((r) => r.spanId === leader.parentSpanId);
      expect(parent?.traceId).toBe(leader.traceId);
      expect(leader.events.map((e) => e.name)).toEqual(['appended', 'durable']);
    }
    // Every traced write reached both followers of its partition in an Append linked to it.
    const followerSpans = spans.filter((s) => s.name === 'replication.append');
    for (const leader of leaderSpans) {
      const linked = followerSpans.filter((f) => f.links.some((l) => l.spanId === leader.spanId));
      expect(new Set(linked.map((f) => f.service)).size, `follower appends linked to ${leader.spanId}`).toBe(2);
    }
    const breakdowns = breakDown(spans).filter((b) => traceIds.includes(b.traceId));
    expect(breakdowns).toHaveLength(20);
    for (const b of breakdowns) {
      expect(b.code).toBe('OK');
      expect(b.leader).toMatch(/^datanode node-\d$/);
      expect(b.commitMs).toBeGreaterThanOrEqual(0);
      expect(b.followers).toHaveLength(2);
    }
    console.log(`tracing: ${spans.length} spans; slowest traced put ${breakdowns[0]?.totalMs.toFixed(1)} ms`);
  });
});
