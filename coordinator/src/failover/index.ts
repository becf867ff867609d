/**
 * The failover core: pure planners for leader promotion and ISR changes (RFC 0001). The
 * controller's failover step calls planFailover; the Coordination service calls planAlterIsr.
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
export { assertPartitionRecord } from './record-invariant.js';
