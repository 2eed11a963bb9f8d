/**
 * The gate policy: α, margins, weights, minimum samples, burn thresholds and step durations.
 * Every field has a default, so `{}` is a valid policy.
 */
import { z } from 'zod/v3';
import { blastRadiusPolicySchema } from './blastRadiusPolicy';

const between = (lo: number, hi: number) =>
  z
    .number({ invalid_type_error: 'must be a number' })
    .min(lo, { message: `must be between ${lo} and ${hi}` })
    .max(hi, { message: `must be between ${lo} and ${hi}` });
const openUnit = () =>
  z
    .number({ invalid_type_error: 'must be a number' })
    .gt(0, { message: 'must be between 0 and 1 (exclusive)' })
    .lt(1, { message: 'must be between 0 and 1 (exclusive)' });
const nonNeg = () =>
  z
    .number({ invalid_type_error: 'must be a number' })
    .min(0, { message: 'must be >= 0' });
const positive = () =>
  z
    .number({ invalid_type_error: 'must be a number' })
    .gt(0, { message: 'must be > 0' });

/** Settings shared by every compared signal. */
const signalShape = {
  enabled: z.boolean().default(true),
  /** weight in the 0..1 score */
  weight: nonNeg().default(1),
  /** must be non-inferior before promotion */
  guardrail: z.boolean().default(true),
  /** relative non-inferiority margin (harm allowed, as a fraction of the baseline value) */
  margin: between(0, 1).optional(),
  /** relative harm that counts as deterioration (0 = any harm) */
  deteriorationMargin: between(0, 1).default(0),
  /** scale of the mixture prior (log-ratio for rates, fraction of the baseline mean for means) */
  mixtureScale: z
    .number({ invalid_type_error: 'must be a number' })
    .min(0.01, { message: 'must be between 0.01 and 3' })
    .max(3, { message: 'must be between 0.01 and 3' })
    .optional(),
};

const sliSignalSchema = z
  .object({
    ...signalShape,
    /**
     * non-inferiority margin as a fraction of the SLO error budget (1 − objective) in absolute
     * rate terms; used when `margin` is not set.
     */
    budgetFraction: between(0, 1).default(0.25),
  })
  .strict();

const kpiPolicySchema = z
  .object({
    name: z.string().min(1, { message: 'must not be empty' }),
    ...signalShape,
    guardrail: z.boolean().default(false),
  })
  .strict();

const kpiDefaultsSchema = z
  .object({
    ...signalShape,
    guardrail: z.boolean().default(false),
    margin: between(0, 1).default(0.05),
  })
  .strict();

const countPolicySchema = z
  .object({
    name: z.string().min(1, { message: 'must not be empty' }),
    ...signalShape,
  })
  .strict();

const countDefaultsSchema = z
  .object({ ...signalShape, margin: between(0, 1).default(0.1) })
  .strict();

const burnWindowSchema = z
  .object({
    name: z.string().min(1),
    longSeconds: positive(),
    shortSeconds: positive(),
    factor: positive(),
  })
  .strict()
  .refine(w => w.shortSeconds <= w.longSeconds, {
    message: 'shortSeconds must not exceed longSeconds',
    path: ['shortSeconds'],
  });

const stepSchema = z
  .object({
    weight: between(0, 100),
    minDurationSeconds: nonNeg().optional(),
    /** the step's maximum duration (whole-rollout gate); default `rollout.maxStepSeconds` */
    maxDurationSeconds: positive().optional(),
    requiresApproval: z.boolean().optional(),
  })
  .strict();

/**
 * The whole-rollout gate (`createRolloutGate`): error control over every step, change
 * detection, step maximums, exposure-scaled promotion and the post-promotion watch. The
 * single-step engine (`createGateState`/`decide`) does not read it.
 */
const rolloutSchema = z
  .object({
    changeDetection: z
      .object({
        /** detect regressions that start at any time (e-detector over restarts) */
        enabled: z.boolean().default(true),
        /** share of each signal's rollback α spent on the change detector (the rest on the test from the start) */
        alphaShare: between(0.01, 0.99).default(0.3),
        /** a new detector component starts every this many seconds */
        restartSeconds: positive().default(300),
      })
      .strict()
      .default({}),
    /** minimum step duration before opening a small exposure; scales linearly up to promote.minDurationSeconds at 100 % */
    minStepSeconds: nonNeg().default(600),
    /** minimum canary requests before opening a small exposure; scales linearly up to promote.minCanaryRequests at 100 % */
    minStepCanaryRequests: nonNeg().default(100),
    /** maximum duration of a step (a step's own `maxDurationSeconds` wins) */
    maxStepSeconds: positive().default(3600),
    /** what reaching the step maximum does: promote when the next exposure is small and no harm is evident, or hold */
    onStepTimeout: z
      .enum(['promote-if-small', 'hold'])
      .default('promote-if-small'),
    /** the largest next-step share a timeout may promote to */
    timeoutMaxExposure: between(0, 1).default(0.25),
    /** the post-promotion watch after the final step */
    bake: z
      .object({
        durationSeconds: nonNeg().default(3600),
        /** α of the watch (split over the SLI signals and the reference's own uncertainty) */
        alpha: openUnit().default(0.01),
      })
      .strict()
      .default({}),
  })
  .strict();

/**
 * Per-segment tests (telemetry's `segments`): every listed dimension's values are tested for
 * harm besides the whole, and the canary's segment mix against the baseline's (M9). Off while
 * `dimensions` is empty. See docs/gate-engine.md, "Segments".
 */
const segmentsSchema = z
  .object({
    /** segment dimensions to test, e.g. ["device", "region", "user_type"]; [] = off */
    dimensions: z
      .array(
        z
          .string()
          .min(1, { message: 'must not be empty' })
          .max(64, { message: 'must be at most 64 characters' }),
      )
      .max(8, { message: 'at most 8 dimensions' })
      .default([]),
    /**
     * values per dimension the segment α is split over (Bonferroni over dimensions × maxValues,
     * fixed in advance); values seen after the first `maxValues` are reported, not tested
     */
    maxValues: z
      .number({ invalid_type_error: 'must be a number' })
      .int({ message: 'must be an integer' })
      .min(1, { message: 'must be between 1 and 32' })
      .max(32, { message: 'must be between 1 and 32' })
      .default(4),
    /** family-wise α of all the segment deterioration tests (taken out of `alpha` when segment harm rolls back: `segmentsAlphaOut`) */
    alpha: openUnit().default(0.01),
    /** what a harm proven in one segment does */
    onHarm: z.enum(['hold', 'rollback']).default('rollback'),
    /** a segment with less than this share of the baseline's requests is reported, not tested */
    minShare: between(0, 1).default(0.02),
    /** the segment-mix test (M9): its α, split over the dimensions; enabled = false turns it off */
    representativeness: z
      .object({
        enabled: z.boolean().default(true),
        alpha: openUnit().default(0.001),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((v, ctx) => {
    const seen = new Set<string>();
    v.dimensions.forEach((d, i) => {
      if (seen.has(d))
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          message: `duplicate dimension "${d}"`,
          path: ['dimensions', i],
        });
      seen.add(d);
    });
  });

export const gatePolicySchema = z
  .object({
    /** family-wise α of the deterioration (rollback) tests, split across enabled signals (Bonferroni) */
    alpha: openUnit().default(0.05),
    /** how α is split: in proportion to the signal weights, or equally */
    alphaSplit: z.enum(['weights', 'equal']).default('weights'),
    /** α of each non-inferiority test (intersection–union: no split needed) */
    niAlpha: openUnit().default(0.05),
    errorRate: sliSignalSchema.default({ weight: 3 }),
    latency: sliSignalSchema.default({ weight: 2 }),
    kpiDefaults: kpiDefaultsSchema.default({}),
    kpis: z.array(kpiPolicySchema).default([]),
    countDefaults: countDefaultsSchema.default({}),
    countSignals: z.array(countPolicySchema).default([]),
    srm: z
      .object({
        enabled: z.boolean().default(true),
        alpha: openUnit().default(0.001),
        /** relative tolerance on the canary share before a mismatch counts */
        tolerance: between(0, 1).default(0),
        mixtureScale: between(0.01, 3).default(0.1),
      })
      .strict()
      .default({}),
    freshness: z
      .object({
        /** consecutive missing ticks tolerated before `hold` (0: hold on the first missing tick) */
        maxMissingTicks: z
          .number()
          .int({ message: 'must be an integer' })
          .min(0, { message: 'must be >= 0' })
          .default(0),
      })
      .strict()
      .default({}),
    burn: z
      .object({
        enabled: z.boolean().default(true),
        windows: z.array(burnWindowSchema).default([
          { name: 'page', longSeconds: 3600, shortSeconds: 300, factor: 14.4 },
          { name: 'ticket', longSeconds: 21600, shortSeconds: 1800, factor: 6 },
        ]),
        /** no promotion while the service outside the canary burns significantly faster than this */
        promoteMaxBurn: positive().default(1),
        /** significance of the promotion guard (Poisson tail of the recent error count) */
        guardAlpha: openUnit().default(0.01),
        /** what a burn alert on the canary alone (baseline not alerting) does */
        canaryAlertAction: z.enum(['rollback', 'hold']).default('rollback'),
      })
      .strict()
      .default({}),
    promote: z
      .object({
        minDurationSeconds: nonNeg().default(1800),
        minCanaryRequests: nonNeg().default(1000),
        /** the rubric needed to promote */
        requireRubric: z
          .enum(['ready', 'provisionally ready'])
          .default('provisionally ready'),
        /** minimum weighted score to promote */
        minScore: between(0, 1).default(0.5),
        /**
         * no promotion while the most recent window (this long) shows the canary's errors or slow
         * requests significantly above the baseline's (one-look conditional binomial test); this only
         * delays promotion, it never rolls back
         */
        recentWindowSeconds: nonNeg().default(600),
        recentAlpha: openUnit().default(0.05),
        /**
         * no promotion while a business KPI not yet shown non-inferior looks worse over the whole
         * step (one-sided p below this on a plain z-test of the step's data): KPI harm is small next
         * to its noise and takes longer to prove than the other signals take to allow a promotion.
         * Only delays promotion, never rolls back; 0 turns it off
         */
        kpiLeanAlpha: between(0, 0.5).default(0.05),
        /**
         * the share of traffic the promotion opens (1 = everyone). Margins scale with it: an
         * SLO-budget margin and a relative margin are divided by it (capped at 11×), so the harm
         * the promotion can cost the whole service stays the same whatever the step
         */
        exposure: z
          .number({ invalid_type_error: 'must be a number' })
          .gt(0, { message: 'must be > 0 and <= 1' })
          .max(1, { message: 'must be > 0 and <= 1' })
          .default(1),
      })
      .strict()
      .default({}),
    /** rollout steps (read by the backend's scheduler; the engine gates one step at a time) */
    steps: z.array(stepSchema).default([]),
    rollout: rolloutSchema.default({}),
    /** the released service's consumers (catalog relations): blastRadius.ts */
    blastRadius: blastRadiusPolicySchema.default({}),
    segments: segmentsSchema.default({}),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (segmentsMayRollBack(v) && !(v.segments.alpha < v.alpha))
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: `must be below alpha (${v.alpha}): segment harm rolls back, and the segment tests' α is taken out of alpha so that alpha still bounds false rollbacks`,
        path: ['segments', 'alpha'],
      });
  });

/** Segment tests are on and a harm they prove rolls back. */
function segmentsMayRollBack(p: {
  segments: { dimensions: string[]; onHarm: 'hold' | 'rollback' };
}): boolean {
  return p.segments.dimensions.length > 0 && p.segments.onHarm === 'rollback';
}

/**
 * The α the whole's deterioration tests may spend: `alpha`, less
 * `segments.alpha` when segment harm rolls back. The segment family and the
 * whole then share `alpha` (union bound), so `alpha` bounds a rollout's
 * false rollbacks with segments on as without (docs/gate-engine.md).
 */
export function segmentsAlphaOut(p: {
  alpha: number;
  segments: {
    dimensions: string[];
    onHarm: 'hold' | 'rollback';
    alpha: number;
  };
}): number {
  // validation keeps segments.alpha below alpha
  return segmentsMayRollBack(p) ? p.segments.alpha : 0;
}

export type GatePolicy = z.output<typeof gatePolicySchema>;
export type GatePolicyInput = z.input<typeof gatePolicySchema>;
export type GateSliSignalPolicy = z.output<typeof sliSignalSchema>;
export type GateKpiPolicy = z.output<typeof kpiPolicySchema>;
export type GateRolloutPolicy = z.output<typeof rolloutSchema>;
export type GateSegmentsPolicy = z.output<typeof segmentsSchema>;

export interface GatePolicyProblem {
  path: string;
  message: string;
}

/** `['kpis', 1, 'margin']` → `kpis[1].margin` */
export function formatGatePolicyPath(path: Array<string | number>): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${p}` : p;
  }
  return out || '(root)';
}

function issuesToProblems(error: z.ZodError): GatePolicyProblem[] {
  const problems: GatePolicyProblem[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        problems.push({
          path: formatGatePolicyPath([...issue.path, key]),
          message: 'unknown field',
        });
      }
      continue;
    }
    let message = issue.message;
    if (issue.code === 'invalid_type' && issue.received === 'undefined')
      message = 'is required';
    problems.push({ path: formatGatePolicyPath(issue.path), message });
  }
  return problems;
}

function duplicateNames(
  list: Array<{ name: string }>,
  field: string,
): GatePolicyProblem[] {
  const seen = new Set<string>();
  const out: GatePolicyProblem[] = [];
  list.forEach((k, i) => {
    if (seen.has(k.name))
      out.push({
        path: `${field}[${i}].name`,
        message: `duplicate name "${k.name}"`,
      });
    seen.add(k.name);
  });
  return out;
}

/** Validate without throwing. `undefined`/`null` mean "all defaults". */
export function validateGatePolicy(
  input: unknown,
):
  | { ok: true; policy: GatePolicy; problems: [] }
  | { ok: false; problems: GatePolicyProblem[] } {
  const res = gatePolicySchema.safeParse(input ?? {});
  if (!res.success) return { ok: false, problems: issuesToProblems(res.error) };
  const dup = [
    ...duplicateNames(res.data.kpis, 'kpis'),
    ...duplicateNames(res.data.countSignals, 'countSignals'),
  ];
  if (dup.length) return { ok: false, problems: dup };
  return { ok: true, policy: res.data, problems: [] };
}

export class GatePolicyError extends Error {
  readonly problems: GatePolicyProblem[];
  constructor(problems: GatePolicyProblem[]) {
    super(
      `invalid gate policy: ${problems.map(p => `${p.path}: ${p.message}`).join('; ')}`,
    );
    this.name = 'GatePolicyError';
    this.problems = problems;
  }
}

/** Parse a policy (e.g. read from YAML), apply defaults; throws `GatePolicyError` listing every problem. */
export function parseGatePolicy(input: unknown): GatePolicy {
  const v = validateGatePolicy(input);
  if (!v.ok) throw new GatePolicyError(v.problems);
  return v.policy;
}

/** The default policy (what `{}` parses to). */
export function defaultGatePolicy(): GatePolicy {
  return parseGatePolicy({});
}

// --- parsed-policy cache (createGateState) ---------------------------------------------------

/**
 * A key that spells out plain data exactly (type, every number bit for bit, key order), or
 * undefined for anything that is not plain data (class instances, functions, cycles, very deep
 * nesting): such inputs are never cached.
 */
function plainKey(v: unknown, depth: number): string | undefined {
  if (v === null) return 'N';
  switch (typeof v) {
    case 'number':
      return Object.is(v, -0) ? '#-0' : `#${v}`;
    case 'string':
      return JSON.stringify(v);
    case 'boolean':
      return v ? 'T' : 'F';
    case 'undefined':
      return 'U';
    case 'object': {
      if (depth > 8) return undefined;
      const proto = Object.getPrototypeOf(v);
      if (Array.isArray(v)) {
        if (proto !== Array.prototype) return undefined;
        let s = '[';
        for (let i = 0; i < v.length; i++) {
          const k = plainKey(v[i], depth + 1);
          if (k === undefined) return undefined;
          s += `${k},`;
        }
        return `${s}]`;
      }
      if (proto !== Object.prototype && proto !== null) return undefined;
      let s = '{';
      const o = v as Record<string, unknown>;
      for (const key of Object.keys(o)) {
        const k = plainKey(o[key], depth + 1);
        if (k === undefined) return undefined;
        s += `${JSON.stringify(key)}:${k},`;
      }
      return `${s}}`;
    }
    default:
      return undefined;
  }
}

/** Deep copy of plain data (a parsed policy). */
function copyPlain<T>(v: T): T {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(copyPlain) as unknown as T;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(v))
    out[key] = copyPlain((v as Record<string, unknown>)[key]);
  return out as T;
}

const PARSED = new Map<string, GatePolicy>();
const PARSED_MAX = 1000;

/**
 * `parseGatePolicy`, memoised on the input's content: a policy already validated (the same
 * plain data, in any object) is not validated again. Returns a fresh copy each call (the caller
 * owns it, as with `parseGatePolicy`), equal to what `parseGatePolicy` returns, key order
 * included. Invalid inputs are never cached: they throw the same `GatePolicyError` each time.
 */
export function parseGatePolicyCached(input: unknown): GatePolicy {
  const key = plainKey(input ?? {}, 0);
  if (key === undefined) return parseGatePolicy(input);
  let p = PARSED.get(key);
  if (p === undefined) {
    p = parseGatePolicy(input);
    if (PARSED.size >= PARSED_MAX) PARSED.clear();
    PARSED.set(key, copyPlain(p));
  }
  return copyPlain(p);
}
