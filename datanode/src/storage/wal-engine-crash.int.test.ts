/**
 * The WAL engine killed with SIGKILL while it writes (RFC 0002 W1–W3): a child process appends
 * entries, applies them a batch behind (as a replica applies acknowledged entries), trims its
 * log and prints the last index of every write() that resolved. After each kill, the engine
 * reopened here must hold every printed index in its log, an applied state no further than its
 * log, and exactly the data of its applied entries; small segments make the floors delete some
 * on the way. A second partition, written once, would keep every segment alive: deletions happen
 * only because the engine relocates its entries (a 4-segment WAL bound), and they must survive. Needs the built package (datanode/dist), as the integration tier does.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeLogEntry, LogEntryKind } from './codec.js';
import { openWalEngine, type WalEngineOptions } from './wal-engine.js';

const distIndex = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'storage', 'index.js');
const keys = 500;
const idleEntries = 20;
const keyOf = (i: number): Buffer => Buffer.from(`key-${i % keys}`);
const valueOf = (i: number): Buffer => Buffer.from(`value-${i}`);
const entryOf = (i: number): Buffer => encodeLogEntry(LogEntryKind.Put, 1, keyOf(i), valueOf(i));

/** The writer: the same key, value and entry functions as above. */
const writerSource = `
import { openWalEngine, encodeLogEntry, LogEntryKind } from ${JSON.stringify(distIndex)};
const dir = process.argv[2];
const keyOf = (i) => Buffer.from('key-' + (i % ${keys}));
const valueOf = (i) => Buffer.from('value-' + i);
const engine = await openWalEngine({ lmdbPath: dir + '/lmdb', walDir: dir + '/wal', partitionsMax: 4, segmentBytes: 64 * 1024, applyIntervalMs: 5, walRetentionBytes: 4 * 64 * 1024 });
const p = engine.partition('crash', 0);
// A partition written once, at the first start: it pins the first segment until it is relocated.
const idle = engine.partition('crash', 1);
if (idle.lastLogIndex() === 0) {
  await engine.write(() => {
    for (let i = 1; i <= ${idleEntries}; i++) idle.appendLog(i, encodeLogEntry(LogEntryKind.Put, 1, keyOf(i), valueOf(i)));
  });
}
let next = p.lastLogIndex() + 1;
process.stdout.write('ready ' + next + '\\n');
for (;;) {
  const from = next;
  const to = from + 9;
  next = to + 1;
  await engine.write(() => {
    // Apply what earlier writes logged (after a restart: what the log holds above the applied index).
    const applied = p.applied().appliedIndex;
    for (let i = applied + 1; i < from; i++) p.putValue(keyOf(i), i, valueOf(i));
    if (from - 1 > applied) p.setApplied({ appliedIndex: from - 1, epoch: 1 });
    for (let i = from; i <= to; i++) p.appendLog(i, encodeLogEntry(LogEntryKind.Put, 1, keyOf(i), valueOf(i)));
    if (from - 300 > p.firstLogIndex()) p.truncateLogBefore(from - 300, 1000);
  });
  process.stdout.write('acked ' + to + '\\n');
}
`;

let dir: string;
let writer: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'quire-wal-crash-'));
  writer = join(dir, 'writer.mjs');
  writeFileSync(writer, writerSource);
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the writer until it has acknowledged `acks` writes, kills it with SIGKILL, returns the last index it printed. */
async function runAndKill(acks: number): Promise<{ firstNext: number; lastAcked: number }> {
  const child = spawn(process.execPath, [writer, join(dir, 'data')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let firstNext = 0;
  let lastAcked = 0;
  let seen = 0;
  let buffered = '';
  await new Promise<void>((done, fail) => {
    child.on('exit', (code) => fail(new Error(`The writer exited (${code}) before it was killed: ${stderr}`)));
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const [word, n] = line.split(' ');
        if (word === 'ready') firstNext = Number(n);
        if (word === 'acked') {
          lastAcked = Number(n);
          if (++seen === acks) {
            child.removeAllListeners('exit');
            child.kill('SIGKILL');
            child.on('exit', () => done());
          }
        }
      }
    });
  });
  return { firstNext, lastAcked };
}

describe('the WAL engine killed with SIGKILL while it writes', () => {
  it('keeps every acknowledged entry, never applies past its log, and holds exactly the applied data, over repeated kills', async () => {
    const options: WalEngineOptions = { lmdbPath: join(dir, 'data', 'lmdb'), walDir: join(dir, 'data', 'wal'), partitionsMax: 4, segmentBytes: 64 * 1024 };
    let previous = 0;
    let deletedSomewhere = false;
    for (let round = 1; round <= 4; round++) {
      const { firstNext, lastAcked } = await runAndKill(400 + round * 100);
      // The writer continued where the log of the previous round ended: nothing acknowledged was lost.
      expect(firstNext).toBeGreaterThan(previous);
      const engine = await openWalEngine(options);
      try {
        const p = engine.partition('crash', 0);
        const applied = p.applied().appliedIndex;
        const last = p.lastLogIndex();
        const first = p.firstLogIndex();
        expect(last).toBeGreaterThanOrEqual(lastAcked);
        expect(applied).toBeLessThanOrEqual(last);
        expect(first).toBeLessThanOrEqual(applied + 1);
        for (const { index, entry } of p.logEntries(first, last, 1 << 30)) expect(entry.equals(entryOf(index)), `log entry ${index}`).toBe(true);
        // The data holds, for every key, the newest write to it at or below the applied index.
        for (let k = 0; k < keys; k++) {
          let newest = applied - ((((applied - k) % keys) + keys) % keys);
          if (newest < 1) newest = 0;
          const got = p.get(keyOf(k));
          if (newest === 0) expect(got, `key ${k}`).toBeUndefined();
          else expect([got?.version, got?.value.toString()], `key ${k}`).toEqual([newest, valueOf(newest).toString()]);
        }
        // The idle partition's entries, relocated forward as segments went, are all there.
        const idle = engine.partition('crash', 1);
        expect([idle.firstLogIndex(), idle.lastLogIndex()]).toEqual([1, idleEntries]);
        for (const { index, entry } of idle.logEntries(1, idleEntries, 1 << 30)) expect(entry.equals(entryOf(index)), `idle log entry ${index}`).toBe(true);
        const segmentNumbers = readdirSync(options.walDir).filter((n) => n.endsWith('.seg')).map((n) => Number.parseInt(n, 16));
        if (Math.min(...segmentNumbers) > 1) deletedSomewhere = true;
        console.log(`round ${round}: acknowledged up to ${lastAcked}, reopened with log ${first}..${last}, applied ${applied}, segments ${segmentNumbers.join(',')}`);
        previous = lastAcked;
      } finally {
        await engine.close();
      }
    }
    expect(deletedSomewhere).toBe(true);
  });
});
