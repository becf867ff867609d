/**
 * An HTML page with an SVG timeline of operations and faults: one lane per process, one bar
 * per operation from invocation to completion (green ok, grey fail, orange info, which runs
 * to the end of the run because it may take effect at any time), with its f and value as a
 * tooltip and label, and fault windows shaded across all lanes. Written for the failing key of
 * a failed check, so a person can see the anomaly the checker reported.
 */
import { type FaultEvent } from '../nemesis/nemesis.js';
import { type RecordedEvent } from '../workloads/recorder.js';

interface Bar {
  readonly process: number;
  readonly startNs: number;
  readonly endNs: number | undefined;
  readonly type: 'ok' | 'fail' | 'info';
  readonly label: string;
}

const escapeXml = (s: string): string => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Pairs invocations with completions into bars. */
function bars(events: readonly RecordedEvent[]): Bar[] {
  const open = new Map<number, RecordedEvent>();
  const out: Bar[] = [];
  for (const e of events) {
    if (e.type === 'invoke') {
      open.set(e.process, e);
      continue;
    }
    const inv = open.get(e.process);
    if (inv === undefined) continue;
    open.delete(e.process);
    const shown = e.type === 'ok' ? e.value : inv.value;
    out.push({ process: e.process, startNs: inv.time, endNs: e.type === 'info' ? undefined : e.time, type: e.type, label: `${e.f} ${JSON.stringify(shown)}` });
  }
  for (const inv of open.values()) out.push({ process: inv.process, startNs: inv.time, endNs: undefined, type: 'info', label: `${inv.f} ${JSON.stringify(inv.value)} (no completion)` });
  return out;
}

/** Renders the timeline page for `events` (already filtered to one key, if wanted) and `faults`. */
export function renderTimeline(title: string, events: readonly RecordedEvent[], faults: readonly FaultEvent[], note: string): string {
  const list = bars(events);
  let t0 = Infinity;
  let t1 = -Infinity;
  for (const t of [...list.flatMap((b) => [b.startNs, b.endNs ?? b.startNs]), ...faults.map((f) => f.time)]) {
    t0 = Math.min(t0, t);
    t1 = Math.max(t1, t);
  }
  if (!Number.isFinite(t0)) t0 = 0;
  t1 = Math.max(t0 + 1, t1);
  const processes = [...new Set(list.map((b) => b.process))].sort((a, b) => a - b);
  const laneHeight = 22;
  const left = 90;
  const width = 1400;
  const top = 40;
  const height = top + processes.length * laneHeight + 40;
  const x = (ns: number): number => left + ((ns - t0) / (t1 - t0)) * (width - left - 20);
  const lane = new Map(processes.map((p, i) => [p, top + i * laneHeight]));
  const parts: string[] = [];

  // Fault windows: from each successful start to the next stop/heal of the same nemesis.
  const openFaults = new Map<string, FaultEvent>();
  for (const f of faults) {
    if (f.action === 'start' && f.ok) openFaults.set(f.nemesis, f);
    else if (f.action !== 'start') {
      const s = openFaults.get(f.nemesis);
      if (s === undefined) continue;
      openFaults.delete(f.nemesis);
      parts.push(`<rect x="${x(s.time)}" y="${top - 10}" width="${Math.max(1, x(f.time) - x(s.time))}" height="${height - top - 20}" fill="#f4cccc" opacity="0.5"><title>${escapeXml(`${s.nemesis} ${s.targets.join(',')} ${JSON.stringify(s.details)}`)}</title></rect>`);
      parts.push(`<text x="${x(s.time) + 2}" y="${top - 14}" font-size="10" fill="#900">${escapeXml(`${s.nemesis} ${s.targets.join(',')}`)}</text>`);
    }
  }
  for (const s of openFaults.values()) {
    parts.push(`<rect x="${x(s.time)}" y="${top - 10}" width="${Math.max(1, x(t1) - x(s.time))}" height="${height - top - 20}" fill="#f4cccc" opacity="0.5"><title>${escapeXml(s.nemesis)}</title></rect>`);
  }
  for (const p of processes) parts.push(`<text x="4" y="${(lane.get(p) ?? 0) + 14}" font-size="11">process ${p}</text>`);
  const colour = { ok: '#6aa84f', fail: '#999999', info: '#e69138' } as const;
  for (const b of list) {
    const y = lane.get(b.process) ?? 0;
    const x0 = x(b.startNs);
    const x1 = b.endNs === undefined ? x(t1) : x(b.endNs);
    parts.push(`<rect x="${x0}" y="${y + 3}" width="${Math.max(2, x1 - x0)}" height="${laneHeight - 6}" fill="${colour[b.type]}" rx="2"><title>${escapeXml(`${b.type} ${b.label} [${((b.startNs - t0) / 1e6).toFixed(3)} ms → ${b.endNs === undefined ? '∞' : `${((b.endNs - t0) / 1e6).toFixed(3)} ms`}]`)}</title></rect>`);
    parts.push(`<text x="${x0 + 2}" y="${y + 15}" font-size="9" fill="#000">${escapeXml(b.label.slice(0, 30))}</text>`);
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="monospace">${parts.join('')}</svg>`;
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escapeXml(title)}</title></head><body><h1>${escapeXml(title)}</h1><pre>${escapeXml(note)}</pre><p>Bars: green ok, grey fail, orange info (indeterminate, drawn to the end). Shaded: faults. Hover for details. Times from ${(t0 / 1e9).toFixed(3)} s to ${(t1 / 1e9).toFixed(3)} s of the run.</p>${svg}</body></html>\n`;
}
