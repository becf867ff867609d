/**
 * @quire/datanode: the data node. The `quire datanode` command runs runDataNode; the rest is
 * internal. OVERVIEW.md describes the design and its critical invariants.
 */
export { runDataNode } from './main.js';
export { dataNodeOptions } from './config.js';
