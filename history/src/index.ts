/**
 * @quire/history: the history format of Quire's reliability tests (Jepsen-style JSON lines),
 * its strict parser, and the checkers behind `quire check`: register linearizability (WGL per
 * key), set (lost/stale/unexpected/duplicated elements), bank (conserved total) and
 * list-append (Elle-style strict serializability). Pure and deterministic: no clock, no
 * randomness, no I/O except through runCheck's injected `io`.
 */
export type { EventType, History, HistoryEvent, HistoryKey, JsonValue, Operation, OperationOutcome } from './history-event.js';
export { InvalidHistoryError } from './invalid-history-error.js';
export { modelNames, isModelName, type ModelName } from './model-name.js';
export { parseHistory, validateModel, type ParseHistoryOptions } from './parse-history.js';
export { type OperationFigures, type Validity } from './check-result.js';
export { describeOperation, type OperationView } from './operation-view.js';
export {
  checkRegister,
  registerStepsMaxDefault,
  type RegisterCheckOptions,
  type RegisterFigures,
  type RegisterKeyUnknown,
  type RegisterKeyViolation,
  type RegisterResult,
} from './register/check-register.js';
export type { RegisterValue } from './register/register-operations.js';
export { checkSet, type SetCheckOptions, type SetElementEvidence, type SetFigures, type SetResult } from './set/check-set.js';
export { checkBank, type BankCheckOptions, type BankFigures, type BankReadError, type BankReadEvidence, type BankResult } from './bank/check-bank.js';
export {
  checkListAppend,
  listAppendStepsMaxDefault,
  type ListAppendCheckOptions,
  type ListAppendFigures,
  type ListAppendResult,
} from './list-append/check-list-append.js';
export { anomalyTypes, type Anomaly, type AnomalyType, type CycleStep, type EdgeLabel, type TxnView } from './list-append/anomaly.js';
export { formatResult, type CheckResult } from './format-result.js';
export { runCheck, checkHelp, checkExitCode, type CheckIo } from './run-check.js';
