/**
 * @quire/router: the stateless router. The `quire router` command runs runRouter; the
 * routing core and scan merge are exported for the deterministic simulator.
 */
export { runRouter } from './main.js';
export { routerOptions } from './config.js';
export { routeKey, routePartition, keyspaceOf, partitionOfKey, rangeSegmentOf, type RangeSegment, type Route } from './routing/route.js';
export { mergeOrdered } from './routing/merge.js';
