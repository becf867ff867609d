/**
 * WriteAheadLog: the node-wide log of RFC 0002 — preallocated segment files, one framed batch
 * (records.ts) per append, made durable with one fdatasync off the main thread (RFC 0002; the
 * WAL engine, wal-engine.ts, writes through it).
 *
 * On disk: `<dir>/<segment number, 16 hex digits>.seg`, each exactly `segmentBytes` long.
 * A segment is created as `<name>.tmp`, filled with zeros, synced, renamed into place and the
 * directory synced, so appends never allocate blocks or change a file's size (fdatasync then
 * flushes data only). The next segment is prepared while the current one fills.
 *
 * Critical invariants:
 *  - W1: append() resolves only after its batch and every earlier one are durable. A failed
 *    write or sync breaks the log: that append and every later one reject, and the caller must
 *    stop the process (as for a failed LMDB commit), because what reached the disk is unknown.
 *  - W2: replay yields batches with consecutive sequence numbers, in order, each whole (its CRC
 *    checks). The log ends at the first place that does not hold the next batch. Only the end
 *    may be torn: a segment after it that holds a batch is corruption, and open() refuses with
 *    CorruptReplicaError. A torn tail is zeroed (and synced) before appends continue, so bytes
 *    of a torn batch — user values included — can never be read as a batch later.
 *  - Batches are never split across segments; one too large for a segment is refused before
 *    anything is written, and the log stays usable.
 *  - deleteSegmentsBefore() removes whole segments below the one being written, only when the
 *    caller says no partition needs them (RFC 0002 W3 is the caller's to keep).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { mkdir, open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { assert, CorruptReplicaError } from '@quire/common';
import { batchAt, batchMagic, decodeRecords, encodeBatch, type WalRecord } from './records.js';

/** Segment size when WalOptions.segmentBytes is not given. */
export const segmentBytesDefault = 64 * 1024 * 1024;
const zeroChunkBytes = 1024 * 1024;
const segmentSuffix = '.seg';
const tmpSuffix = '.tmp';

export interface WalOptions {
  /** Directory of the segment files (created if missing). */
  readonly dir: string;
  /** Bytes per segment file (default 64 MiB); a multiple of 4096, at least 64 KiB. */
  readonly segmentBytes?: number;
  /**
   * Append without fdatasync. BREAKS DURABILITY: set only by the `datanode.storage.skipFsync`
   * failpoint, so the chaos suite's negative control proves its checkers catch lost writes.
   */
  readonly skipSync?: boolean;
  /**
   * Awaited after a batch is written and before its fdatasync; a rejection fails the append as a
   * failed sync would, and breaks the log. The `datanode.wal.beforeSync` failpoint.
   */
  readonly beforeSync?: () => Promise<void> | undefined;
}

/** How appends sync (WalOptions.skipSync, WalOptions.beforeSync). */
interface SyncHooks {
  readonly skipSync: boolean;
  readonly beforeSync: (() => Promise<void> | undefined) | undefined;
}

/** Where a batch is. */
export interface WalLocation {
  readonly segment: number;
  readonly offset: number;
  /** The batch's length, header included. */
  readonly bytes: number;
  readonly sequence: number;
}

/** A batch found by replay. */
export interface ReplayedBatch extends WalLocation {
  readonly records: WalRecord[];
}

/** A segment that holds batches. */
export interface SegmentInfo {
  readonly segment: number;
  readonly firstSequence: number;
  readonly lastSequence: number;
}

/** What open() found. */
export interface ReplaySummary {
  readonly batches: number;
  /** The sequence number the next append gets. */
  readonly nextSequence: number;
  /** Set when the log ended in a torn batch, which open() zeroed. */
  readonly tornTail: { readonly segment: number; readonly offset: number; readonly reason: string } | undefined;
}

const segmentName = (segment: number): string => `${segment.toString(16).padStart(16, '0')}${segmentSuffix}`;

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function writeZeros(handle: FileHandle, from: number, to: number): Promise<void> {
  const zeros = Buffer.alloc(Math.min(zeroChunkBytes, Math.max(0, to - from)));
  for (let at = from; at < to; at += zeros.length) {
    const length = Math.min(zeros.length, to - at);
    await handle.write(zeros, 0, length, at);
  }
}

/** The log. Create with openWal(). */
export class WriteAheadLog {
  private chain: Promise<unknown> = Promise.resolve();
  private broken: Error | undefined;
  private closed = false;
  private spare: Promise<void> | undefined;
  private readonly infos = new Map<number, { firstSequence: number; lastSequence: number }>();

  /** @internal openWal() builds it after replay. */
  constructor(
    private readonly dir: string,
    private readonly segmentBytes: number,
    private current: { segment: number; handle: FileHandle },
    private offset: number,
    private nextSequence: number,
    replayed: ReadonlyMap<number, { firstSequence: number; lastSequence: number }>,
    private readonly sync: SyncHooks,
  ) {
    for (const [segment, info] of replayed) this.infos.set(segment, { ...info });
    this.prepareSpare();
  }

  /** The largest batch (header included) an append accepts. */
  get batchBytesMax(): number {
    return this.segmentBytes;
  }

  /**
   * Appends one batch and resolves with its place once it is durable (W1). Batches are written
   * in call order. Rejects at once, writing nothing, when the batch cannot fit in a segment.
   */
  append(records: readonly WalRecord[]): Promise<WalLocation> {
    if (this.closed) return Promise.reject(new Error('The write-ahead log is closed'));
    if (this.broken !== undefined) return Promise.reject(this.broken);
    const sequence = this.nextSequence;
    const batch = encodeBatch(sequence, records);
    if (batch.length > this.segmentBytes) {
      return Promise.reject(new RangeError(`A WAL batch of ${batch.length} bytes exceeds the segment size ${this.segmentBytes}`));
    }
    this.nextSequence++;
    const result = this.chain.then(() => this.write(sequence, batch));
    // Later appends wait for this one whatever its outcome; a failure marks the log broken.
    this.chain = result.catch(() => undefined);
    return result;
  }

  /**
   * The sequence number of the last batch append() accepted (0 before the first): every batch
   * appended so far has a sequence at most this, every later one a greater one.
   */
  get lastSequence(): number {
    return this.nextSequence - 1;
  }

  /** Segments that hold batches, oldest first. */
  segments(): SegmentInfo[] {
    return [...this.infos].sort((a, b) => a[0] - b[0]).map(([segment, info]) => ({ segment, ...info }));
  }

  /** The segment being written. */
  get currentSegment(): number {
    return this.current.segment;
  }

  /**
   * Reads back the records of the batch at `location` synchronously (a storage engine's reads
   * are synchronous; catch-up and restart read old entries, which the page cache usually holds).
   */
  readSync(location: WalLocation): WalRecord[] {
    const fd = openSync(join(this.dir, segmentName(location.segment)), 'r');
    try {
      const buf = Buffer.alloc(location.bytes);
      const bytesRead = readSync(fd, buf, 0, location.bytes, location.offset);
      assert(bytesRead === location.bytes, `WAL read of ${location.bytes} bytes at ${location.segment}:${location.offset} got ${bytesRead}`);
      const found = batchAt(buf, 0);
      assert(found.kind === 'batch' && found.sequence === location.sequence, `WAL batch ${location.sequence} not found at ${location.segment}:${location.offset}`);
      return decodeRecords(found.body);
    } finally {
      closeSync(fd);
    }
  }

  /** Deletes every segment numbered below `segment` (never the one being written). */
  async deleteSegmentsBefore(segment: number): Promise<number> {
    assert(segment <= this.current.segment, `WAL segments below ${segment} include the current segment ${this.current.segment}`);
    let deleted = 0;
    for (const name of await readdir(this.dir)) {
      if (!name.endsWith(segmentSuffix)) continue;
      const number = Number.parseInt(name.slice(0, -segmentSuffix.length), 16);
      if (number >= segment) continue;
      await unlink(join(this.dir, name));
      this.infos.delete(number);
      deleted++;
    }
    if (deleted > 0) await syncDirectory(this.dir);
    return deleted;
  }

  /** Waits for appends in flight, then closes the files. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.chain;
    await this.spare?.catch(() => undefined);
    await this.current.handle.close();
  }

  private async write(sequence: number, batch: Buffer): Promise<WalLocation> {
    if (this.broken !== undefined) throw this.broken;
    try {
      if (this.offset + batch.length > this.segmentBytes) await this.rotate();
      const { segment, handle } = this.current;
      const offset = this.offset;
      const { bytesWritten } = await handle.write(batch, 0, batch.length, offset);
      assert(bytesWritten === batch.length, `WAL wrote ${bytesWritten} of ${batch.length} bytes`);
      const gate = this.sync.beforeSync?.();
      if (gate !== undefined) await gate;
      if (!this.sync.skipSync) await handle.datasync();
      this.offset = offset + batch.length;
      const info = this.infos.get(segment);
      if (info === undefined) this.infos.set(segment, { firstSequence: sequence, lastSequence: sequence });
      else info.lastSequence = sequence;
      return { segment, offset, bytes: batch.length, sequence };
    } catch (error) {
      this.broken = error instanceof Error ? error : new Error(String(error));
      throw this.broken;
    }
  }

  private async rotate(): Promise<void> {
    const next = this.current.segment + 1;
    if (this.spare === undefined) this.prepareSpare();
    await this.spare;
    const handle = await open(join(this.dir, segmentName(next)), 'r+');
    await this.current.handle.close();
    this.current = { segment: next, handle };
    this.offset = 0;
    this.spare = undefined;
    this.prepareSpare();
  }

  /** Starts preparing the segment after the current one; a failure surfaces at the rotation that awaits it. */
  private prepareSpare(): void {
    const spare = prepareSegment(this.dir, this.current.segment + 1, this.segmentBytes);
    spare.catch(() => undefined);
    this.spare = spare;
  }
}

/** Creates segment `segment` full of zeros, durable and in place, unless it already is. */
async function prepareSegment(dir: string, segment: number, segmentBytes: number): Promise<void> {
  const path = join(dir, segmentName(segment));
  const existing = await open(path, 'r').catch(() => undefined);
  if (existing !== undefined) {
    const { size } = await existing.stat();
    await existing.close();
    if (size === segmentBytes) return;
    await unlink(path);
  }
  const tmp = `${path}${tmpSuffix}`;
  const handle = await open(tmp, 'w');
  try {
    await writeZeros(handle, 0, segmentBytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
  await syncDirectory(dir);
}

/** Whether `buf` holds only zero bytes from `from` on. */
function zeroFrom(buf: Buffer, from: number): boolean {
  const zeros = Buffer.alloc(Math.min(zeroChunkBytes, Math.max(1, buf.length - from)));
  for (let at = from; at < buf.length; at += zeros.length) {
    const end = Math.min(buf.length, at + zeros.length);
    if (buf.compare(zeros, 0, end - at, at, end) !== 0) return false;
  }
  return true;
}

/** The first whole batch in `buf` at or after `from` whose sequence is at least `sequenceMin`. */
function batchAfter(buf: Buffer, from: number, sequenceMin: number): { offset: number; sequence: number } | undefined {
  const magic = Buffer.alloc(4);
  magic.writeUInt32BE(batchMagic, 0);
  for (let at = buf.indexOf(magic, from); at >= 0; at = buf.indexOf(magic, at + 1)) {
    const found = batchAt(buf, at);
    if (found.kind === 'batch' && found.sequence >= sequenceMin) return { offset: at, sequence: found.sequence };
  }
  return undefined;
}

/**
 * Opens the log in `options.dir`, calling `onBatch` for every batch in order (W2), and returns
 * it ready to append after the last one. Throws CorruptReplicaError when a batch is missing or
 * damaged anywhere but at the end.
 */
export async function openWal(options: WalOptions, onBatch: (batch: ReplayedBatch) => void): Promise<{ wal: WriteAheadLog; summary: ReplaySummary }> {
  const segmentBytes = options.segmentBytes ?? segmentBytesDefault;
  assert(Number.isSafeInteger(segmentBytes) && segmentBytes >= 64 * 1024 && segmentBytes % 4096 === 0, `WAL segment size ${segmentBytes} is not a multiple of 4096 of at least 64 KiB`);
  const dir = options.dir;
  await mkdir(dir, { recursive: true });
  const names = await readdir(dir);
  // A segment whose preparation a crash cut short was never renamed into place: not part of the log.
  for (const name of names.filter((n) => n.endsWith(tmpSuffix))) await unlink(join(dir, name));
  const numbers = names
    .filter((n) => n.endsWith(segmentSuffix))
    .map((n) => Number.parseInt(n.slice(0, -segmentSuffix.length), 16))
    .sort((a, b) => a - b);

  const infos = new Map<number, { firstSequence: number; lastSequence: number }>();
  let expected: number | undefined;
  let batches = 0;
  /** Where the scan stopped: after the last batch, or at a torn one (reason set). */
  let stop: { segment: number; offset: number; reason: string | undefined } | undefined;
  /** Set once the log has certainly ended: no later segment may hold a batch. */
  let ended = false;
  const corrupt = (message: string): CorruptReplicaError => new CorruptReplicaError(`WAL in ${dir}: ${message}`);
  for (const segment of numbers) {
    const handle = await open(join(dir, segmentName(segment)), 'r');
    let buf: Buffer;
    try {
      const { size } = await handle.stat();
      if (size !== segmentBytes) throw corrupt(`segment ${segmentName(segment)} is ${size} bytes, not ${segmentBytes}`);
      buf = Buffer.alloc(size);
      await handle.read(buf, 0, size, 0);
    } finally {
      await handle.close();
    }
    if (stop !== undefined && !ended) {
      // The previous segment stopped cleanly: this one continues the log only if it starts with the next batch.
      const first = batchAt(buf, 0);
      if (first.kind !== 'batch' || first.sequence !== expected) ended = true;
    }
    if (ended) {
      const stray = batchAfter(buf, 0, expected ?? 1);
      if (stray !== undefined) {
        throw corrupt(`batch ${stray.sequence} in ${segmentName(segment)} at offset ${stray.offset}, after the log's end in ${segmentName(stop?.segment ?? segment)} at offset ${stop?.offset ?? 0}${stop?.reason === undefined ? '' : ` (${stop.reason})`}`);
      }
      continue;
    }
    let offset = 0;
    let reason: string | undefined;
    for (;;) {
      const found = batchAt(buf, offset);
      if (found.kind === 'empty') break;
      if (found.kind === 'invalid') {
        reason = found.reason;
        break;
      }
      if (expected !== undefined && found.sequence !== expected) {
        reason = `batch ${found.sequence} where ${expected} was due`;
        break;
      }
      onBatch({ segment, offset, bytes: found.bytes, sequence: found.sequence, records: decodeRecords(found.body) });
      const info = infos.get(segment);
      if (info === undefined) infos.set(segment, { firstSequence: found.sequence, lastSequence: found.sequence });
      else info.lastSequence = found.sequence;
      expected = found.sequence + 1;
      batches++;
      offset += found.bytes;
    }
    stop = { segment, offset, reason };
    if (reason === undefined) {
      // A clean stop leaves only zeros behind it (a preallocated segment's unused space).
      if (!zeroFrom(buf, offset)) throw corrupt(`non-zero bytes after the last batch of ${segmentName(segment)} at offset ${offset}`);
    } else {
      // A torn write is the last one: nothing of the log may follow it.
      ended = true;
      const stray = batchAfter(buf, offset + 1, expected ?? 1);
      if (stray !== undefined) throw corrupt(`batch at offset ${offset} of ${segmentName(segment)} is damaged (${reason}) but batch ${stray.sequence} follows at offset ${stray.offset}`);
    }
  }

  // Appends continue where the scan stopped; with no segment at all, in a new segment 1.
  const segment = stop?.segment ?? 1;
  const offset = stop?.offset ?? 0;
  await prepareSegment(dir, segment, segmentBytes);
  const handle = await open(join(dir, segmentName(segment)), 'r+');
  let tornTail: ReplaySummary['tornTail'];
  if (stop?.reason !== undefined) {
    tornTail = { segment, offset, reason: stop.reason };
    await writeZeros(handle, offset, segmentBytes);
    await handle.datasync();
  }
  // Segments after the current one hold no batch (checked above): spares, recreated as needed.
  for (const later of numbers.filter((n) => n > segment)) await unlink(join(dir, segmentName(later)));
  const wal = new WriteAheadLog(dir, segmentBytes, { segment, handle }, offset, expected ?? 1, infos, { skipSync: options.skipSync === true, beforeSync: options.beforeSync });
  return { wal, summary: { batches, nextSequence: expected ?? 1, tornTail } };
}
