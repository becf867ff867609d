/**
 * @quire/client: the TypeScript client library, and LocalCluster, which runs a whole
 * cluster as local processes (behind `quire dev`, and used by the integration tests).
 */
export * from './client.js';
export { LocalCluster, localClusterDefaults, type ClusterJson, type ClusterProcessInfo, type LocalClusterOptions } from './dev/local-cluster.js';
export { ManagedProcess, type ProcessExit, type ProcessRole, type ProcessSpec } from './dev/managed-process.js';
export { freePort, isPortFree } from './dev/ports.js';
