/**
 * The data the engine reads and produces — telemetry in, evidence out — defined in
 * @tollgate/plugin-rollouts-common (the evidence contract) and re-exported for the engine's users.
 */
export type {
  BakeDecision,
  CohortName,
  LatencyHistogram,
  ProportionKpiCounts,
  MeanKpiCounts,
  CohortCounts,
  TelemetryTick,
  GateDirection,
  GateKpiDefinition,
  GateContext,
  GateVerdictValue,
  GateRubric,
  GateSignalKind,
  GateSignalRule,
  SignalEvidence,
  SrmEvidence,
  FreshnessEvidence,
  BurnWindowEvidence,
  BurnWindows,
  BurnEvidence,
  ChangeDetectionEvidence,
  HarmBound,
  RolloutEvidence,
  GateDecision,
} from '@tollgate/plugin-rollouts-common';
