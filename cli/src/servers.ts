/**
 * Starts server processes for `quire datanode|coordinator|router`: the one place the CLI
 * reaches into components, through each component's entry point (never its internals).
 */
import { formatOptionsHelp, type Env, type OptionsSpec } from '@quire/common';

/** The server roles the CLI can run. */
export type ServerRole = 'datanode' | 'coordinator' | 'router';

interface ServerEntry {
  readonly run: (argv: readonly string[], env: Env) => Promise<void>;
  readonly options: OptionsSpec;
  readonly summary: string;
}

async function entryFor(role: ServerRole): Promise<ServerEntry> {
  switch (role) {
    case 'datanode': {
      const m = await import('@quire/datanode');
      return { run: m.runDataNode, options: m.dataNodeOptions, summary: 'Run a data node: LMDB storage of partition replicas, registered in etcd' };
    }
    case 'coordinator': {
      const m = await import('@quire/coordinator');
      return { run: m.runCoordinator, options: m.coordinatorOptions, summary: 'Run a coordinator: leader election, cluster bootstrap and partition placement through etcd' };
    }
    case 'router': {
      const m = await import('@quire/router');
      return { run: m.runRouter, options: m.routerOptions, summary: 'Run a router: the public KV and Admin gRPC services, routed by the partition map in etcd' };
    }
  }
}

/** Returns the --help text of a server command. */
export async function serverHelp(role: ServerRole): Promise<string> {
  const entry = await entryFor(role);
  return `Usage: quire ${role} [options]\n\n${entry.summary}.\nEvery option can also be set through its environment variable.\n\nOptions:\n${formatOptionsHelp(entry.options)}\n`;
}

/** Runs a server until SIGINT/SIGTERM. */
export async function runServer(role: ServerRole, argv: readonly string[], env: Env): Promise<void> {
  const entry = await entryFor(role);
  await entry.run(argv, env);
}
