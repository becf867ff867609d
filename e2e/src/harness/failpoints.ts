/**
 * Failpoints from the outside: arming and listing a running process's failpoints through its
 * internal Debug service (served only when the process was started with --failpoints-admin;
 * otherwise calls fail UNIMPLEMENTED), and restarting a cluster process with failpoints armed
 * through its environment. The grammar and the failpoint names are in docs/testing.md.
 */
import { Metadata } from '@grpc/grpc-js';
import { DebugClient, type FailpointStatus } from '@quire/proto';
import { clientCredentials, grpcClientOptions } from '@quire/common';
import { ManagedProcess } from '@quire/cli';

/** Deadline of one Debug call. */
const debugCallTimeoutMs = 5_000;

/** Options of armFailpoints. */
export interface ArmFailpointsOptions {
  /** Disarm every failpoint of the process first, so only `spec`'s remain armed. */
  readonly replace?: boolean;
}

async function withDebugClient<T>(address: string, call: (client: DebugClient, deadline: Date) => Promise<T>): Promise<T> {
  const client = new DebugClient(address, clientCredentials(), grpcClientOptions);
  try {
    return await call(client, new Date(Date.now() + debugCallTimeoutMs));
  } finally {
    client.close();
  }
}

/**
 * Arms (or, with `off`, disarms) the failpoints of `spec` ("name=[P%][N*]action;...") in the
 * process serving at `address` and resolves with every failpoint armed there. Rejects with the
 * gRPC ServiceError: UNIMPLEMENTED without --failpoints-admin, INVALID_ARGUMENT for a bad spec.
 */
export async function armFailpoints(address: string, spec: string, options: ArmFailpointsOptions = {}): Promise<FailpointStatus[]> {
  return withDebugClient(address, (client, deadline) =>
    new Promise((resolve, reject) => {
      client.setFailpoints({ spec, replace: options.replace ?? false }, new Metadata(), { deadline }, (err, res) => (err === null ? resolve(res.failpoints) : reject(err)));
    }),
  );
}

/** Resolves with the failpoints armed in the process at `address`, with their counters. */
export async function listFailpoints(address: string): Promise<FailpointStatus[]> {
  return withDebugClient(address, (client, deadline) =>
    new Promise((resolve, reject) => {
      client.listFailpoints({}, new Metadata(), { deadline }, (err, res) => (err === null ? resolve(res.failpoints) : reject(err)));
    }),
  );
}

/**
 * Stops `process` gracefully and starts a copy of it with `QUIRE_FAILPOINTS=spec` in its
 * environment (LocalCluster strips QUIRE_* variables from the ones it starts). The caller owns
 * the copy: stop it and start `process` again to hand the cluster back.
 */
export async function restartWithFailpointsEnv(process: ManagedProcess, spec: string): Promise<ManagedProcess> {
  await process.stop(10_000);
  const armed = new ManagedProcess({ ...process.spec, env: { ...process.spec.env, QUIRE_FAILPOINTS: spec } });
  armed.start();
  return armed;
}
