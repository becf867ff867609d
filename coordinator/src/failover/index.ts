/**
 * The failover core: pure planners for leader promotion and ISR changes (RFC 0001). Not wired
 * into the controller yet; the coordinator's failover and AlterIsr adapters will call them.
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
