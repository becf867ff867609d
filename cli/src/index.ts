/**
 * @quire/cli: the `quire` command (client commands, `quire check`, `quire dev` and the server
 * entry points `quire datanode|coordinator|router`) and LocalCluster, which runs a whole
 * cluster as local processes (behind `quire dev`, the integration and chaos harnesses and the
 * benchmarks). The one package that depends on the components, through their entry points.
 */
export { LocalCluster, localClusterDefaults, localClusterRoutersMax, type ClusterJson, type ClusterProcessInfo, type LocalClusterOptions } from './dev/local-cluster.js';
export { ManagedProcess, type ProcessExit, type ProcessRole, type ProcessSpec, type UnexpectedExit } from './dev/managed-process.js';
export { backoffDelayMs, decideRestart, restartPolicyDefaults, validateRestartPolicy, type ExitFacts, type RestartDecision, type RestartPolicy } from './dev/restart-policy.js';
export { freePort, isPortFree } from './dev/ports.js';
export { etcdServerArgs, waitForEtcdHealthy, type EtcdMember, type EtcdServerOptions } from './dev/etcd-server.js';
export { coordinatorArgs, dataNodeArgs, routerArgs, quireCliPath, type CoordinatorArgs, type ServerArgs } from './dev/process-args.js';
export { waitForClusterReady, type ReadinessOptions } from './dev/readiness.js';
export * from './trace/summary.js';
export { readSpanFiles } from './trace/trace-command.js';
