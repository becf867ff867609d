/**
 * @quire/coordinator: the coordinator. The `quire coordinator` command runs runCoordinator;
 * the placement and failover planners are exported for the deterministic simulator.
 */
export { runCoordinator } from './main.js';
export { coordinatorOptions } from './config.js';
export { planPlacement, type PlacementPlan, type PlacementSettings } from './placement/planner.js';
export {
  chooseTransferTarget,
  compareLogEnds,
  failoverCandidates,
  planAlterIsr,
  planFailover,
  planTransferLeader,
  type AlterIsrPlan,
  type AlterIsrRequest,
  type AlterIsrResult,
  type FailoverDecision,
  type FailoverInput,
  type LeaderlessReason,
  type LogEnd,
  type TransferLeaderPlan,
  type TransferLeaderRequest,
  type TransferLeaderResult,
  type TransferTargetChoice,
} from './failover/index.js';
