/**
 * What every server process starts with: an etcd client and a MetadataView kept current by a
 * MetadataWatcher, loaded before the process serves anything.
 */
import { MetadataView, type Logger } from '@quire/common';
import { connectEtcd, type EtcdClient } from './connect.js';
import { MetadataWatcher } from './metadata-watcher.js';

/** An etcd connection with a loaded, watched metadata view. */
export interface MetadataClient {
  readonly etcd: EtcdClient;
  readonly view: MetadataView;
  readonly watcher: MetadataWatcher;
  /** Stops watching and closes the etcd client. */
  close(): Promise<void>;
}

/** Connects to etcd and loads the metadata (waiting for etcd if it is not up yet). */
export async function openMetadataClient(endpoints: readonly string[], log: Logger): Promise<MetadataClient> {
  const etcd = connectEtcd({ endpoints, dialTimeoutMs: 3_000, requestTimeoutMs: 5_000 });
  const view = new MetadataView();
  const watcher = new MetadataWatcher(etcd, view, log);
  log.info('Loading cluster metadata from etcd', { etcd: endpoints });
  await watcher.start();
  return {
    etcd,
    view,
    watcher,
    async close() {
      await watcher.close();
      etcd.close();
    },
  };
}
