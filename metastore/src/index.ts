/**
 * @quire/metastore: the one package that talks to etcd. Components get a MetadataView fed by
 * a MetadataWatcher; data nodes register with a NodeRegistrar; coordinators elect a leader
 * with LeaderElection and change metadata only through FencedWriter.
 */
export * from './connect.js';
export * from './metadata-watcher.js';
export * from './metadata-client.js';
export * from './retry.js';
export * from './node-registrar.js';
export * from './leader-election.js';
export * from './fenced-writer.js';
