/**
 * MicroBatcher collects items produced during one event-loop turn and hands them over as
 * one batch, so many operations share one stream message (one protobuf encode, one HTTP/2
 * frame). A batch is flushed early when it reaches itemsMax items or, when items have a size,
 * before it would pass bytesMax: a stream message must stay under gRPC's message size limit
 * however many large values one turn produces. A single item larger than bytesMax travels
 * alone.
 */

/** Sizes of items, for a byte bound on batches. */
export interface BatchSizing<T> {
  /** Payload bytes of one item (keys and values). */
  readonly bytesOf: (item: T) => number;
  /** Most payload bytes per batch. */
  readonly bytesMax: number;
}

/** Batches items per event-loop turn. */
export class MicroBatcher<T> {
  private items: T[] = [];
  private bytes = 0;
  private scheduled = false;

  /**
   * @param flush receives each non-empty batch
   * @param itemsMax flush at once when this many items are waiting
   * @param schedule runs a callback after the current turn (setImmediate in production)
   * @param sizing optional byte bound per batch
   */
  constructor(
    private readonly flush: (items: T[]) => void,
    private readonly itemsMax: number,
    private readonly schedule: (callback: () => void) => void = setImmediate,
    private readonly sizing?: BatchSizing<T>,
  ) {}

  /** Adds an item to the current batch. */
  push(item: T): void {
    const size = this.sizing?.bytesOf(item) ?? 0;
    if (this.sizing !== undefined && this.items.length > 0 && this.bytes + size > this.sizing.bytesMax) this.flushNow();
    this.items.push(item);
    this.bytes += size;
    if (this.items.length >= this.itemsMax || (this.sizing !== undefined && this.bytes >= this.sizing.bytesMax)) {
      this.flushNow();
      return;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      this.schedule(() => {
        this.scheduled = false;
        this.flushNow();
      });
    }
  }

  /** Hands over whatever is waiting now. */
  flushNow(): void {
    if (this.items.length === 0) return;
    const batch = this.items;
    this.items = [];
    this.bytes = 0;
    this.flush(batch);
  }
}
