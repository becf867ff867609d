/**
 * The failover core: pure planners for leader promotion and ISR changes (RFC 0001). The
 * controller's failover step calls planFailover; the Coordination service calls planAlterIsr and
 * planTransferLeader; Admin.TransferLeader calls chooseTransferTarget.
 */
export {
  compareLogEnds,
  failoverCandidates,
  planFailover,
  type FailoverDecision,
  type FailoverInput,
  type LeaderlessReason,
  type LogEnd,
} from './plan-failover.js';
export { planAlterIsr, type AlterIsrPlan, type AlterIsrRequest, type AlterIsrResult } from './alter-isr.js';
export {
  chooseTransferTarget,
  countLeaderships,
  planTransferLeader,
  type TransferLeaderPlan,
  type TransferLeaderRequest,
  type TransferLeaderResult,
  type TransferTargetChoice,
} from './transfer-leader.js';
export { assertPartitionRecord } from './record-invariant.js';
