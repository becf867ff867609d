/**
 * @quire/coordinator: the coordinator. The `quire coordinator` command runs runCoordinator;
 * the placement planner is exported for the deterministic simulator.
 */
export { runCoordinator } from './main.js';
export { coordinatorOptions } from './config.js';
export { planPlacement, type PlacementPlan, type PlacementSettings } from './placement/planner.js';
