import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from './harness/test-cluster.js';

describe('scans against a stalled data node', () => {
  let t: TestCluster;
  beforeAll(async () => {
    // The router's request timeout is also its idle deadline for a data node's scan stream.
    t = await startTestCluster('scan-deadline', { extraArgs: { router: ['--request-timeout-ms', '1500'] } });
  });
  afterAll(async () => {
    t?.cluster.process('node-2').kill('SIGCONT');
    await t?.stop();
  });

  it('fail with DEADLINE_EXCEEDED naming the node instead of hanging, and work again once it resumes', async () => {
    for (let i = 0; i < 50; i++) await t.client.put(`scan/${i}`, `v${i}`);
    const node = t.cluster.process('node-2');
    node.kill('SIGSTOP');
    const startedMs = Date.now();
    const err = await (async () => {
      for await (const _ of t.client.scan({ prefix: 'scan/' })) void _;
    })().then(
      () => undefined,
      (e: unknown) => e as { code?: string; message?: string },
    );
    const elapsedMs = Date.now() - startedMs;
    expect(err?.code).toBe('DEADLINE_EXCEEDED');
    expect(err?.message).toContain('node-2');
    // Bounded by the router's idle deadline, far below the client's own 10 s.
    expect(elapsedMs).toBeLessThan(8_000);
    node.kill('SIGCONT');
    const keys: string[] = [];
    for await (const e of t.client.scan({ prefix: 'scan/' })) keys.push(e.key.toString());
    expect(keys).toHaveLength(50);
  });
});
