/**
 * `quire trace`'s analysis (issue 15), pure: from the spans every process wrote
 * (common/src/tracing/span-record.ts), one breakdown per traced request — where it waited —
 * and the slowest requests first.
 *
 * A request's spans: the client's (`quire.<op>`, when the application traces), the router's
 * (`router.<op>`: events `sent`, `held`, `retry`, `abandoned`), the partition leader's
 * (`datanode.<op>`: events `appended` — its transaction ran — and `durable` — fsynced on the
 * leader; the span ends when the ack policy is met and the answer leaves), and each follower's
 * `replication.append` spans that link to the leader's span. Stages:
 *  - router: the router span's duration minus the time its last leader attempt took, i.e. the
 *    routing, holding for a leader and resending (the held and resent time);
 *  - leader queue: from the leader span's start to `appended`;
 *  - leader commit: `appended` to `durable`;
 *  - followers: `durable` to the leader span's end (waiting for the ack policy).
 */
import type { SpanRecord } from '@quire/common';

/** One follower's append of a request's entry. */
export interface FollowerStage {
  readonly service: string;
  readonly durationMs: number;
}

/** Where one request spent its time. */
export interface RequestBreakdown {
  readonly traceId: string;
  /** get, put, delete or scan. */
  readonly op: string;
  /** The outermost span's duration. */
  readonly totalMs: number;
  readonly code: string;
  /** The router's own time: routing, holds and resends (undefined without a router span). */
  readonly routerMs: number | undefined;
  readonly holds: number;
  readonly retries: number;
  readonly abandoned: number;
  /** The leader that answered (its service name), and its stages, when its span is there. */
  readonly leader: string | undefined;
  /** The answering leader span's duration. */
  readonly leaderMs: number | undefined;
  readonly queueMs: number | undefined;
  readonly commitMs: number | undefined;
  readonly followersMs: number | undefined;
  readonly followers: readonly FollowerStage[];
}

const opOf = (name: string): string => name.slice(name.indexOf('.') + 1);
const eventAt = (span: SpanRecord, name: string): number | undefined => span.events.find((e) => e.name === name)?.atMs;

/** Breaks every traced request down into its stages, slowest first. */
export function breakDown(spans: readonly SpanRecord[]): RequestBreakdown[] {
  const byTrace = new Map<string, SpanRecord[]>();
  const followersOf = new Map<string, SpanRecord[]>();
  for (const s of spans) {
    if (s.name === 'replication.append') {
      for (const link of s.links) {
        const list = followersOf.get(link.spanId) ?? [];
        list.push(s);
        followersOf.set(link.spanId, list);
      }
      continue;
    }
    const list = byTrace.get(s.traceId) ?? [];
    list.push(s);
    byTrace.set(s.traceId, list);
  }
  const out: RequestBreakdown[] = [];
  for (const [traceId, list] of byTrace) {
    const ids = new Set(list.map((s) => s.spanId));
    const root = list.find((s) => s.parentSpanId === undefined || !ids.has(s.parentSpanId));
    if (root === undefined) continue;
    const router = list.find((s) => s.name.startsWith('router.'));
    // The leader span that answered: the last datanode span under the router (a resend makes more than one).
    const nodeSpans = list.filter((s) => s.name.startsWith('datanode.')).sort((a, b) => a.startUnixMs - b.startUnixMs);
    const leader = nodeSpans.at(-1);
    const appended = leader === undefined ? undefined : eventAt(leader, 'appended');
    const durable = leader === undefined ? undefined : eventAt(leader, 'durable');
    const followerSpans = leader === undefined ? [] : (followersOf.get(leader.spanId) ?? []);
    const lastAttemptMs = leader === undefined || router === undefined ? 0 : Math.max(0, router.startUnixMs + router.durationMs - leader.startUnixMs);
    out.push({
      traceId,
      op: opOf(root.name),
      totalMs: root.durationMs,
      code: String(root.attributes['quire.code'] ?? router?.attributes['quire.code'] ?? (root.status === 'error' ? 'ERROR' : 'OK')),
      routerMs: router === undefined ? undefined : Math.max(0, router.durationMs - lastAttemptMs),
      holds: router?.events.filter((e) => e.name === 'held').length ?? 0,
      retries: router?.events.filter((e) => e.name === 'retry').length ?? 0,
      abandoned: router?.events.filter((e) => e.name === 'abandoned').length ?? 0,
      leader: leader?.service,
      leaderMs: leader?.durationMs,
      queueMs: appended,
      commitMs: appended !== undefined && durable !== undefined ? durable - appended : undefined,
      followersMs: leader !== undefined && durable !== undefined ? leader.durationMs - durable : undefined,
      followers: followerSpans.map((f) => ({ service: f.service, durationMs: f.durationMs })),
    });
  }
  return out.sort((a, b) => b.totalMs - a.totalMs);
}

/** The q-quantile (nearest rank) of the defined values; undefined when there are none. */
function quantile(values: readonly (number | undefined)[], q: number): number | undefined {
  const s = values.filter((v): v is number => v !== undefined).sort((a, b) => a - b);
  if (s.length === 0) return undefined;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

const ms = (v: number | undefined): string => (v === undefined ? '-' : v < 10 ? `${v.toFixed(2)} ms` : `${v.toFixed(0)} ms`);

/** One line per request: where it waited. */
export function formatBreakdown(r: RequestBreakdown): string {
  const router = r.routerMs === undefined ? '' : `router ${ms(r.routerMs)}${r.holds > 0 ? `, held ${r.holds}×` : ''}${r.retries > 0 ? `, ${r.retries} retr${r.retries === 1 ? 'y' : 'ies'}` : ''}${r.abandoned > 0 ? `, ${r.abandoned} abandoned` : ''}`;
  const leader =
    r.leader === undefined
      ? ''
      : r.queueMs === undefined
        ? `; ${r.leader} ${ms(r.leaderMs)}`
        : `; ${r.leader}: queue ${ms(r.queueMs)}, commit ${ms(r.commitMs)}, followers ${ms(r.followersMs)}${r.followers.length === 0 ? '' : ` (${r.followers.map((f) => `${f.service.replace(/^datanode /, '')} ${ms(f.durationMs)}`).join(', ')})`}`;
  return `${r.traceId.slice(0, 16)}  ${r.op.padEnd(6)} ${ms(r.totalMs).padStart(9)}  ${r.code.padEnd(10)} ${router}${leader}`;
}

/** The summary `quire trace` prints: counts, stage percentiles, then the slowest requests. */
export function formatSummary(requests: readonly RequestBreakdown[], slowest: number): string[] {
  const lines = [`${requests.length} traced requests`];
  if (requests.length === 0) return lines;
  const row = (name: string, values: readonly (number | undefined)[]): string => `  ${name.padEnd(14)} p50 ${ms(quantile(values, 0.5)).padStart(9)}   p99 ${ms(quantile(values, 0.99)).padStart(9)}   max ${ms(quantile(values, 1)).padStart(9)}`;
  lines.push('Stages (over requests that have them):');
  lines.push(row('total', requests.map((r) => r.totalMs)));
  lines.push(row('router', requests.map((r) => r.routerMs)));
  lines.push(row('leader queue', requests.map((r) => r.queueMs)));
  lines.push(row('leader commit', requests.map((r) => r.commitMs)));
  lines.push(row('followers', requests.map((r) => r.followersMs)));
  lines.push(`Slowest ${Math.min(slowest, requests.length)}:`);
  for (const r of requests.slice(0, slowest)) lines.push(`  ${formatBreakdown(r)}`);
  return lines;
}
