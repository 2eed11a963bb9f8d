/** Where a run's time went, milliseconds of wall clock, and what it wrote. */
export interface GateLoopTimings {
  /** Listing the deploy providers' rollouts and recording what changed. */
  syncMs: number;
  /** Per rollout: catalog and policy lookup, telemetry, the gate engine and the verdict's rules. */
  evaluateMs: number;
  /** Of `evaluateMs`: waiting for telemetry providers. */
  telemetryMs: number;
  /** Of `evaluateMs`: the gate engine (folding telemetry into the gate state and deciding). */
  engineMs: number;
  /** Batched writes of evaluations: rollout rows and their decisions. */
  writeMs: number;
  /** Promotions, rollbacks and reconciliations: claim, deploy provider call, record. */
  actionMs: number;
  totalMs: number;
  /** Rollout rows and decisions the batched writes stored. */
  rowsWritten: number;
  decisionsWritten: number;
  /** Evaluations that folded only new intervals into a kept gate state, and those that started afresh. */
  engineStateHits: number;
  engineStateMisses: number;
}

export interface GateLoopRunResult {
  evaluated: number;
  actions: number;
  failures: number;
  timings: GateLoopTimings;
}

export function emptyTimings(): GateLoopTimings {
  return {
    syncMs: 0,
    evaluateMs: 0,
    telemetryMs: 0,
    engineMs: 0,
    writeMs: 0,
    actionMs: 0,
    totalMs: 0,
    rowsWritten: 0,
    decisionsWritten: 0,
    engineStateHits: 0,
    engineStateMisses: 0,
  };
}
