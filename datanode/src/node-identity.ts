/**
 * The node's identity, kept in <data-dir>/node.json: its node id, and the cluster id it
 * joined. A data directory belongs to one node of one cluster; starting it under another
 * node id, or against another cluster, is refused before anything is served, because its
 * partitions would be mistaken for someone else's.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync, openSync, fsyncSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '@quire/common';

/** The contents of node.json. */
export interface NodeIdentity {
  readonly nodeId: string;
  /** Empty until the node first sees the cluster record. */
  readonly clusterId: string;
  readonly createdAtMs: number;
}

function identityPath(dataDir: string): string {
  return join(dataDir, 'node.json');
}

function readIdentity(dataDir: string): NodeIdentity | undefined {
  let text: string;
  try {
    text = readFileSync(identityPath(dataDir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const parsed = JSON.parse(text) as Partial<NodeIdentity>;
  if (typeof parsed.nodeId !== 'string' || typeof parsed.clusterId !== 'string') {
    throw new ConfigError(`${identityPath(dataDir)} is malformed; expected {"nodeId", "clusterId", "createdAtMs"}`);
  }
  return { nodeId: parsed.nodeId, clusterId: parsed.clusterId, createdAtMs: parsed.createdAtMs ?? 0 };
}

/** Writes node.json atomically and durably (write, fsync, rename). */
export function writeIdentity(dataDir: string, identity: NodeIdentity): void {
  const path = identityPath(dataDir);
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(identity, null, 2)}\n`);
  const fd = openSync(tmp, 'r');
  fsyncSync(fd);
  closeSync(fd);
  renameSync(tmp, path);
}

/**
 * Loads (or, on first start, creates) the identity. `requestedNodeId` comes from --node-id;
 * it must match a stored id.
 */
export function loadIdentity(dataDir: string, requestedNodeId: string | undefined, nowMs: number): NodeIdentity {
  mkdirSync(dataDir, { recursive: true });
  const stored = readIdentity(dataDir);
  if (stored !== undefined) {
    if (requestedNodeId !== undefined && requestedNodeId !== stored.nodeId) {
      throw new ConfigError(
        `--node-id is "${requestedNodeId}" but ${identityPath(dataDir)} belongs to node "${stored.nodeId}"; use that id or another data directory`,
      );
    }
    return stored;
  }
  if (requestedNodeId === undefined) {
    throw new ConfigError(`--node-id is required the first time a data directory is used (${dataDir} has no node.json)`);
  }
  const identity: NodeIdentity = { nodeId: requestedNodeId, clusterId: '', createdAtMs: nowMs };
  writeIdentity(dataDir, identity);
  return identity;
}
