/**
 * The gate for one step: fold telemetry ticks into a JSON-serialisable state, then decide.
 * Pure and deterministic: no I/O, no clock; time comes in as tick numbers.
 *
 * The concepts live in their own modules: `state` (the folded state), `fold` (one tick in),
 * `signalTests` (each signal's tests), `checks` (freshness, SRM, burn, promotion brakes),
 * `verdict` (the rules), `reasons` (their text).
 */
export { createGateState, cloneGateState } from './state';
export type {
  GateState,
  GateSignalState,
  MeanTestState,
  BurnRow,
} from './state';
export { observeTick, observeTickInPlace } from './fold';
export { computeWindowSums } from './burn';
export type { WindowSums } from './burn';
export { decide, evaluateGate } from './verdict';
