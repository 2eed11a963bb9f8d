import type {
  BakeEvidence,
  BlastRadiusEvidence,
  BurnWindowEvidence,
  BurnWindows,
  GateDecision,
  SignalEvidence,
} from './evidence';

/**
 * The one reader of stored evidence, for the backend's figures and summary,
 * the post-rollout report and the pages alike. What the decision log keeps
 * is the engine's `GateDecision` (see `./evidence`), stamped with
 * `evidenceVersion`; snapshots imported from a provider's history are
 * partial (a relative difference, a burn rate). The readers never throw
 * and drop what does not fit.
 */

/** The version of the evidence contract the backend writes. @public */
export const EVIDENCE_VERSION = 1;

/**
 * Evidence as the decision log and the rollout row keep it: the engine's
 * decision or the post-promotion watch's, stamped with the contract's
 * version. Built here, the one place, and stored as JSON. @public
 */
export type StoredEvidence = (GateDecision | BakeEvidence) & {
  evidenceVersion: number;
};

/**
 * Evidence as it is read back: a version of the contract, or what a deploy
 * provider's history carried for a past decision (imported as it is, read
 * by the tolerant readers below). @public
 */
export type EvidenceSnapshot = StoredEvidence | Record<string, unknown>;

/** The evidence to store for a decision. @public */
export function storedEvidence(
  evidence: GateDecision | BakeEvidence,
): StoredEvidence {
  return { ...evidence, evidenceVersion: EVIDENCE_VERSION };
}

/** Which version of the contract a stored snapshot follows (0: unversioned history). @public */
export function evidenceVersionOf(evidence: unknown): number {
  return isObject(evidence) && typeof evidence.evidenceVersion === 'number'
    ? evidence.evidenceVersion
    : 0;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** A number, or the `estimate` of an object (history snapshots), or null. */
function estimate(v: unknown): number | null {
  return num(v) ?? (isObject(v) ? num(v.estimate) : null);
}

export function readSignals(evidence: unknown): SignalEvidence[] {
  if (!isObject(evidence) || !Array.isArray(evidence.signals)) return [];
  return evidence.signals
    .filter(
      (s): s is Record<string, unknown> & { name: string } =>
        isObject(s) && typeof s.name === 'string',
    )
    .map(s => {
      const ci =
        Array.isArray(s.ci) &&
        s.ci.length === 2 &&
        num(s.ci[0]) !== null &&
        num(s.ci[1]) !== null
          ? ([s.ci[0], s.ci[1]] as [number, number])
          : null;
      // Snapshots imported from a provider's history carry only a relative difference.
      const relative = num(s.relativeDifference);
      return {
        ...s,
        baseline: estimate(s.baseline),
        canary: estimate(s.canary),
        difference: num(s.difference) ?? relative,
        ci,
        margin: num(s.margin) ?? 0,
        scale:
          s.scale === 'absolute' && relative === null ? 'absolute' : 'relative',
        direction: s.direction === 'increase' ? 'increase' : 'decrease',
      } as unknown as SignalEvidence;
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
  /** the telemetry provider's lag and the age of the newest data at the evaluation, seconds */
  lagSeconds?: number | null;
  newestAgeSeconds?: number | null;
  /** intervals up to the evaluation the provider did not report, or that were still filling */
  missingRecentTicks?: number;
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
    lagSeconds: isObject(checks.freshness)
      ? num(checks.freshness.lagSeconds)
      : undefined,
    newestAgeSeconds: isObject(checks.freshness)
      ? num(checks.freshness.newestAgeSeconds)
      : undefined,
    missingRecentTicks: isObject(checks.freshness)
      ? (num(checks.freshness.unreportedTicks) ?? 0) +
        (num(checks.freshness.incompleteTicks) ?? 0)
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

/**
 * Worst burn rate in an evidence snapshot (service-wide or canary, any SLI,
 * any window). The gate engine reports each window's sustained burn as
 * `longBurn` (the short window's `shortBurn` only confirms an alert);
 * snapshots from providers' history may carry `burnRate` or `rate`.
 */
export function worstBurnRate(evidence: unknown): number | undefined {
  const burn = (evidence as any)?.checks?.burn;
  if (!burn || typeof burn !== 'object') return undefined;
  return worstBurnIn(burn, undefined);
}

const BURN_RATE_KEY = /burn.?rate/i;

/** Keys already classified (a snapshot repeats the same few dozen names); bounded, for evidence with keys of its own. */
const burnKeys = new Map<string, boolean>();

/** Whether a key holds a burn rate: `longBurn`, `rate`, or a name matching `burn.?rate`. */
function isBurnRateKey(k: string): boolean {
  let yes = burnKeys.get(k);
  if (yes === undefined) {
    yes = k === 'longBurn' || k === 'rate' || BURN_RATE_KEY.test(k);
    if (burnKeys.size < 4096) burnKeys.set(k, yes);
  }
  return yes;
}

const hasOwn = Object.prototype.hasOwnProperty;

/**
 * The worst of `worst` and every burn rate in `v`, at any depth (no arrays
 * of entries or keys built, each key classified once per process: the
 * delivery-figures fold reads two views per appended decision).
 */
function worstBurnIn(v: object, worst: number | undefined): number | undefined {
  let out = worst;
  if (Array.isArray(v)) {
    // an array's keys are its indices, never a burn rate's name
    for (const x of v)
      if (x && typeof x === 'object') out = worstBurnIn(x, out);
    return out;
  }
  // own enumerable keys, in Object.keys order
  for (const k in v) {
    if (!hasOwn.call(v, k)) continue;
    const x = (v as Record<string, unknown>)[k];
    if (isBurnRateKey(k)) {
      const n = num(x);
      if (n !== null) out = out === undefined ? n : Math.max(out, n);
    } else if (x && typeof x === 'object') out = worstBurnIn(x, out);
  }
  return out;
}

/** Relative canary–baseline deltas of the KPIs in an evidence snapshot. */
export function kpiDeltas(evidence: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  const signals = (evidence as any)?.signals;
  if (!Array.isArray(signals)) return out;
  for (const s of signals) {
    if (
      !s ||
      (s.kind !== 'kpi' &&
        s.kind !== 'proportion' &&
        s.kind !== 'mean' &&
        !String(s.kind ?? '').startsWith('kpi'))
    )
      continue;
    const base = estimate(s.baseline);
    const canary = estimate(s.canary);
    const rel = num(s.relativeDifference);
    if (rel !== null) out[s.name] = rel;
    else if (base !== null && canary !== null && base !== 0)
      out[s.name] = (canary - base) / base;
  }
  return out;
}

/**
 * Worst burn rate of one view in an evidence snapshot: `service` (all the
 * service's traffic) or `canary` (the new version's cohort), any SLI, any
 * window, read as {@link worstBurnRate} reads them (the engine's
 * `longBurn`; `burnRate` or `rate` in providers' history).
 */
export function viewBurnRate(
  evidence: unknown,
  view: 'service' | 'canary',
): number | undefined {
  const burn = (evidence as any)?.checks?.burn;
  if (!isObject(burn) || !isObject(burn[view])) return undefined;
  return worstBurnIn(burn[view], undefined);
}

/** One KPI of an evidence snapshot: canary − baseline and its always-valid interval. @public */
export interface KpiInterval {
  name: string;
  /** canary − baseline on the signal's scale (relative: ratio − 1; absolute: a difference of means) */
  difference: number | null;
  /** always-valid confidence interval for `difference` (null when the engine had none) */
  ci: [number, number] | null;
  scale: 'relative' | 'absolute';
  /** which way is good */
  direction: 'increase' | 'decrease';
}

function isKpiKind(kind: unknown): boolean {
  return (
    kind === 'kpi' ||
    kind === 'proportion' ||
    kind === 'mean' ||
    String(kind ?? '').startsWith('kpi')
  );
}

/** The business KPIs of an evidence snapshot with their differences and intervals. */
export function kpiIntervals(evidence: unknown): KpiInterval[] {
  return readSignals(evidence)
    .filter(s => isKpiKind(s.kind))
    .map(s => ({
      name: s.name,
      difference: s.difference,
      ci: s.ci,
      scale: s.scale,
      direction: s.direction,
    }));
}

/** The evidence's blast-radius part, or undefined when it has none (or not in this shape). @public */
export function readBlastRadius(
  evidence: unknown,
): BlastRadiusEvidence | undefined {
  if (!isObject(evidence) || !isObject(evidence.blastRadius)) return undefined;
  const b = evidence.blastRadius;
  return Array.isArray(b.consumers) && Array.isArray(b.harmed)
    ? (b as unknown as BlastRadiusEvidence)
    : undefined;
}
