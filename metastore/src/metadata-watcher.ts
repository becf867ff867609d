/**
 * MetadataWatcher keeps a MetadataView in step with etcd: one full read of the metadata
 * prefix at revision R, then a watch from R+1. The etcd3 watcher reconnects and resumes from
 * its last revision by itself; when etcd cancels the watch (the revision was compacted) the
 * watcher re-reads everything and watches again. Progress notifications advance the view's
 * revision even when nothing under the prefix changed.
 *
 * Invariant: the view only ever moves forward, and its revision R means "every metadata
 * change up to R has been applied".
 */
import type { IKeyValue, IWatchResponse, Watcher } from 'etcd3';
import { metadataPrefix, waitForView, type Logger, type MetadataEvent, type MetadataKv, type MetadataView } from '@quire/common';
import { revisionOf, type EtcdClient } from './connect.js';
import { retryUntilDone } from './retry.js';

function toKv(kv: IKeyValue): MetadataKv {
  return {
    key: kv.key.toString('utf8'),
    value: kv.value,
    createRevision: revisionOf(kv.create_revision),
    modRevision: revisionOf(kv.mod_revision),
  };
}

/** Watches the metadata prefix and feeds a MetadataView. */
export class MetadataWatcher {
  private watcher: Watcher | undefined;
  private closed = false;
  private refreshing: Promise<void> | undefined;
  private connected = false;

  constructor(
    private readonly etcd: EtcdClient,
    readonly view: MetadataView,
    private readonly log: Logger,
    private readonly retryDelayMs = 500,
  ) {}

  /** Whether the watch stream is currently connected to etcd. */
  get isConnected(): boolean {
    return this.connected;
  }

  /** Loads the metadata (retrying until etcd answers) and starts watching. */
  async start(): Promise<void> {
    await retryUntilDone(() => this.refresh(), {
      log: this.log,
      what: 'read cluster metadata from etcd',
      delayMs: this.retryDelayMs,
      stopped: () => this.closed,
    });
  }

  /**
   * Re-reads all metadata and restarts the watch from the new revision. Concurrent callers
   * share one refresh.
   */
  async refresh(): Promise<void> {
    this.refreshing ??= this.doRefresh().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async doRefresh(): Promise<void> {
    const res = await this.etcd.getAll().prefix(metadataPrefix).exec();
    const revision = revisionOf(res.header.revision);
    this.view.reset(res.kvs.map(toKv), revision);
    await this.watchFrom(revision + 1);
  }

  private async watchFrom(startRevision: number): Promise<void> {
    const old = this.watcher;
    this.watcher = undefined;
    if (old !== undefined) await old.cancel().catch(() => undefined);
    if (this.closed) return;
    const watcher = await this.etcd.watch().prefix(metadataPrefix).startRevision(String(startRevision)).create();
    if (this.closed) {
      await watcher.cancel();
      return;
    }
    this.watcher = watcher;
    this.connected = true;
    watcher.on('data', (res: IWatchResponse) => this.onData(res));
    watcher.on('disconnected', (err) => {
      if (this.connected) this.log.warn('Lost the etcd watch; reconnecting', { err: String(err) });
      this.connected = false;
    });
    watcher.on('connected', () => {
      if (!this.connected) this.log.info('Re-established the etcd watch', { revision: this.view.revision });
      this.connected = true;
    });
    watcher.on('error', (err) => {
      // etcd cancelled the watch, e.g. because the revision we resume from was compacted.
      this.log.warn('The etcd watch was cancelled; re-reading all metadata', { err: String(err) });
      this.connected = false;
      if (this.watcher === watcher) this.watcher = undefined;
      void this.start();
    });
  }

  private onData(res: IWatchResponse): void {
    if (res.events.length === 0) {
      // A progress notification: every event up to header.revision has been delivered.
      this.view.apply([], revisionOf(res.header.revision));
      return;
    }
    let maxRevision = 0;
    const events: MetadataEvent[] = res.events.map((e) => {
      const modRevision = revisionOf(e.kv.mod_revision);
      if (modRevision > maxRevision) maxRevision = modRevision;
      return e.type === 'Delete'
        ? { type: 'delete', key: e.kv.key.toString('utf8'), modRevision }
        : { type: 'put', kv: toKv(e.kv) };
    });
    this.view.apply(events, maxRevision);
  }

  /**
   * Resolves true once the view has reached `revision`. If the watch has not delivered it
   * within `timeoutMs`, re-reads from etcd once and reports whether that reached it.
   */
  async waitForRevision(revision: number, timeoutMs: number): Promise<boolean> {
    if (await waitForView(this.view, (v) => v.revision >= revision, timeoutMs)) return true;
    try {
      await this.refresh();
    } catch (err) {
      this.log.warn('Cannot refresh metadata from etcd', { err: String(err) });
    }
    return this.view.revision >= revision;
  }

  /** Stops watching. */
  async close(): Promise<void> {
    this.closed = true;
    const w = this.watcher;
    this.watcher = undefined;
    if (w !== undefined) await w.cancel().catch(() => undefined);
  }
}
