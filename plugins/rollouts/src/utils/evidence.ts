import type {
  BurnWindowEvidence,
  BurnWindows,
  GateDecision,
  SignalEvidence,
} from '@tollgate/plugin-rollouts-common';

/**
 * Evidence comes from the backend as untyped JSON (seeded history may be
 * partial): these readers never throw and drop what does not fit.
 */

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

export function readSignals(evidence: unknown): SignalEvidence[] {
  if (!isObject(evidence) || !Array.isArray(evidence.signals)) return [];
  return evidence.signals
    .filter(
      (s): s is SignalEvidence => isObject(s) && typeof s.name === 'string',
    )
    .map(s => {
      const ci =
        Array.isArray(s.ci) &&
        s.ci.length === 2 &&
        num(s.ci[0]) !== null &&
        num(s.ci[1]) !== null
          ? ([s.ci[0], s.ci[1]] as [number, number])
          : null;
      return {
        ...s,
        baseline: num(s.baseline),
        canary: num(s.canary),
        difference: num(s.difference),
        ci,
        margin: num(s.margin) ?? 0,
        scale: s.scale === 'absolute' ? 'absolute' : 'relative',
        direction: s.direction === 'increase' ? 'increase' : 'decrease',
      } as SignalEvidence;
    });
}

export interface BurnRow {
  name: string;
  factor: number | null;
  canaryLong: number | null;
  canaryShort: number | null;
  serviceLong: number | null;
  serviceShort: number | null;
  partial: boolean;
  alerting: boolean;
}

function windowsOf(
  w: unknown,
  sli: 'availability' | 'latency',
): BurnWindowEvidence[] {
  if (!isObject(w) || !Array.isArray(w[sli])) return [];
  return (w[sli] as unknown[]).filter(
    (x): x is BurnWindowEvidence => isObject(x) && typeof x.name === 'string',
  );
}

/** Burn windows of one SLI, canary and service side by side. */
export function readBurnRows(
  evidence: unknown,
  sli: 'availability' | 'latency' = 'availability',
): BurnRow[] {
  if (
    !isObject(evidence) ||
    !isObject(evidence.checks) ||
    !isObject(evidence.checks.burn)
  )
    return [];
  const burn = evidence.checks.burn as Partial<
    Record<'canary' | 'service' | 'baseline', BurnWindows>
  >;
  const canary = windowsOf(burn.canary, sli);
  const service = windowsOf(burn.service, sli);
  const names = [
    ...new Set([...canary.map(w => w.name), ...service.map(w => w.name)]),
  ];
  return names.map(name => {
    const c = canary.find(w => w.name === name);
    const s = service.find(w => w.name === name);
    return {
      name,
      factor: num(c?.factor) ?? num(s?.factor),
      canaryLong: num(c?.longBurn),
      canaryShort: num(c?.shortBurn),
      serviceLong: num(s?.longBurn),
      serviceShort: num(s?.shortBurn),
      partial: Boolean(c?.partial || s?.partial),
      alerting: Boolean(c?.alerting || s?.alerting),
    };
  });
}

export interface KeyNumbers {
  verdict?: string;
  rubric?: string;
  score?: number | null;
  reasons: string[];
  srmMismatch?: boolean;
  stale?: boolean;
  eligible?: boolean;
  burnAlerting?: boolean;
}

export function readKeyNumbers(evidence: unknown): KeyNumbers {
  if (!isObject(evidence)) return { reasons: [] };
  const checks = isObject(evidence.checks)
    ? (evidence.checks as Partial<GateDecision['checks']>)
    : {};
  return {
    verdict:
      typeof evidence.verdict === 'string' ? evidence.verdict : undefined,
    rubric: typeof evidence.rubric === 'string' ? evidence.rubric : undefined,
    score: num(evidence.score),
    reasons: Array.isArray(evidence.reasons)
      ? evidence.reasons.filter((r): r is string => typeof r === 'string')
      : [],
    srmMismatch: isObject(checks.srm)
      ? Boolean(checks.srm.mismatch)
      : undefined,
    stale: isObject(checks.freshness)
      ? Boolean(checks.freshness.stale)
      : undefined,
    eligible: isObject(checks.promotion)
      ? Boolean(checks.promotion.eligible)
      : undefined,
    burnAlerting:
      isObject(checks.burn) && isObject(checks.burn.canary)
        ? Boolean(checks.burn.canary.alerting)
        : undefined,
  };
}
