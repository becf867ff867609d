/**
 * MicroBatcher collects items produced during one event-loop turn and hands them over as
 * one batch, so many operations share one stream message (one protobuf encode, one HTTP/2
 * frame). A batch is flushed early when it reaches itemsMax.
 */

/** Batches items per event-loop turn. */
export class MicroBatcher<T> {
  private items: T[] = [];
  private scheduled = false;

  /**
   * @param flush receives each non-empty batch
   * @param itemsMax flush at once when this many items are waiting
   * @param schedule runs a callback after the current turn (setImmediate in production)
   */
  constructor(
    private readonly flush: (items: T[]) => void,
    private readonly itemsMax: number,
    private readonly schedule: (callback: () => void) => void = setImmediate,
  ) {}

  /** Adds an item to the current batch. */
  push(item: T): void {
    this.items.push(item);
    if (this.items.length >= this.itemsMax) {
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
    this.flush(batch);
  }
}
