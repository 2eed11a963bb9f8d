import type { Entity } from '@backstage/catalog-model';
import type {
  DecisionEntry,
  DecisionListEntry,
  DecisionPage,
  Rollout,
  RolloutDetail,
  RolloutsSummary,
  RolloutTimeseries,
  ServiceSummary,
  ServiceSummaryPage,
} from '@tollgate/plugin-rollouts-common';
import type { RolloutsApi, SummaryServicesRequest } from '../api';

export const ENTITY_REF = 'component:default/checkout-api';

export const entity: Entity = {
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Component',
  metadata: {
    name: 'checkout-api',
    namespace: 'default',
    annotations: {
      'tollgate.dev/rollouts': 'simulator:payments/checkout-api',
      'tollgate.dev/runbook': 'https://runbooks.example.com/checkout-api',
    },
  },
  spec: {
    type: 'service',
    owner: 'group:default/team-payments',
    lifecycle: 'production',
  },
};

export const entityWithoutAnnotation: Entity = {
  ...entity,
  metadata: { name: 'plain-service', namespace: 'default' },
};

const minutesAgo = (m: number) =>
  new Date(Date.now() - m * 60_000).toISOString();

export const evidence = {
  verdict: 'rollback',
  rubric: 'not ready',
  score: 0.21,
  reasons: [
    'error-rate deteriorated: canary 2.4% vs baseline 0.5%',
    'canary burns the error budget at 20× (1h window)',
  ],
  tick: 42,
  signals: [
    {
      name: 'error-rate',
      kind: 'error-rate',
      direction: 'decrease',
      guardrail: true,
      weight: 1,
      baseline: 0.005,
      canary: 0.024,
      difference: 3.8,
      scale: 'relative',
      ci: [1.9, 6.1],
      alphaCi: 0.05,
      statistic: 9,
      threshold: 3,
      niStatistic: 0,
      niThreshold: 3,
      margin: 0.1,
      deteriorationMargin: 0,
      rule: 'deterioration',
      score: 0,
      samples: { baseline: 10000, canary: 500, ticks: 42 },
    },
    {
      name: 'checkout-conversion',
      kind: 'kpi-proportion',
      direction: 'increase',
      guardrail: false,
      weight: 1,
      baseline: 0.31,
      canary: 0.305,
      difference: -0.016,
      scale: 'relative',
      ci: [-0.05, 0.02],
      alphaCi: 0.05,
      statistic: 0,
      threshold: 3,
      niStatistic: 1,
      niThreshold: 3,
      margin: 0.02,
      deteriorationMargin: 0,
      rule: 'inconclusive',
      score: 0.5,
      samples: { baseline: 9000, canary: 480, ticks: 42 },
    },
  ],
  checks: {
    srm: {
      enabled: true,
      expectedShare: 0.05,
      observedShare: 0.048,
      statistic: 0,
      threshold: 3,
      ci: null,
      mismatch: false,
      requests: { baseline: 1, canary: 1 },
    },
    freshness: {
      lastTick: 42,
      canaryMissingTicks: 0,
      baselineMissingTicks: 0,
      missingFields: [],
      canaryGapTicks: 0,
      stale: false,
    },
    burn: {
      canary: {
        availability: [
          {
            name: '1h',
            factor: 14.4,
            longSeconds: 3600,
            shortSeconds: 300,
            longBurn: 20.5,
            shortBurn: 24,
            longTicksUsed: 30,
            shortTicksUsed: 5,
            partial: true,
            alerting: true,
          },
          {
            name: '6h',
            factor: 6,
            longSeconds: 21600,
            shortSeconds: 1800,
            longBurn: 20.5,
            shortBurn: 22,
            longTicksUsed: 30,
            shortTicksUsed: 30,
            partial: true,
            alerting: true,
          },
        ],
        latency: [],
        alerting: true,
        recentBurn: 24,
      },
      service: {
        availability: [
          {
            name: '1h',
            factor: 14.4,
            longSeconds: 3600,
            shortSeconds: 300,
            longBurn: 1.5,
            shortBurn: 1.8,
            longTicksUsed: 30,
            shortTicksUsed: 5,
            partial: false,
            alerting: false,
          },
          {
            name: '6h',
            factor: 6,
            longSeconds: 21600,
            shortSeconds: 1800,
            longBurn: 1.4,
            shortBurn: 1.6,
            longTicksUsed: 30,
            shortTicksUsed: 30,
            partial: true,
            alerting: false,
          },
        ],
        latency: [],
        alerting: false,
        recentBurn: 1.8,
      },
      baseline: {
        availability: [],
        latency: [],
        alerting: false,
        recentBurn: 0.4,
      },
      guard: { fired: false, burn: null, pValue: null, window: null },
    },
    promotion: {
      elapsedTicks: 42,
      minTicks: 10,
      canaryRequests: 500,
      minCanaryRequests: 1000,
      guardrailsNonInferior: false,
      eligible: false,
    },
  },
};

export function makeRollout(
  overrides: Partial<RolloutDetail> = {},
): RolloutDetail {
  return {
    id: 'ro-1',
    entityRef: ENTITY_REF,
    provider: 'simulator',
    target: 'payments/checkout-api',
    version: '2.31.4',
    previousVersion: '2.31.3',
    status: 'progressing',
    steps: [{ weight: 1 }, { weight: 5 }, { weight: 25 }, { weight: 100 }],
    currentStepIndex: 1,
    currentWeight: 5,
    startedAt: minutesAgo(40),
    stepStartedAt: minutesAgo(12),
    updatedAt: minutesAgo(1),
    policyName: 'default',
    lastEvaluation: {
      verdict: 'rollback',
      rubric: 'not ready',
      score: 0.21,
      reasons: evidence.reasons,
      evaluatedAt: minutesAgo(1),
    },
    evidence,
    ...overrides,
  };
}

export function makeDecision(
  seq: number,
  overrides: Partial<DecisionEntry> = {},
): DecisionEntry {
  return {
    seq,
    id: `d-${seq}`,
    rolloutId: 'ro-1',
    entityRef: ENTITY_REF,
    stepIndex: 1,
    verdict: 'continue',
    kind: 'automatic',
    actor: 'scheduler',
    reasons: [`reason of decision ${seq}`],
    evidence: {
      verdict: 'continue',
      rubric: 'provisionally ready',
      score: 0.6,
      reasons: [`reason of decision ${seq}`],
    },
    policyHash: 'abc123',
    outcome: 'none',
    createdAt: minutesAgo(60 - seq),
    prevHash: 'p',
    hash: `h${seq}`,
    ...overrides,
  };
}

/** A decision as the API lists it: no evidence, `hasEvidence` instead. */
export function makeListedDecision(
  seq: number,
  overrides: Partial<DecisionEntry> = {},
): DecisionListEntry {
  const { evidence: recorded, ...rest } = makeDecision(seq, overrides);
  return { ...rest, hasEvidence: recorded !== null };
}

export const finishedRollout: Rollout = {
  ...makeRollout({
    id: 'ro-0',
    version: '2.31.3',
    previousVersion: '2.31.2',
    status: 'promoted',
  }),
  currentStepIndex: 3,
  currentWeight: 100,
  startedAt: '2025-01-10T10:00:00.000Z',
  finishedAt: '2025-01-10T11:30:00.000Z',
};

export const summary: RolloutsSummary = {
  windowDays: 30,
  generatedAt: new Date().toISOString(),
  activeRollouts: 3,
  finishedRollouts: 20,
  promoted: 17,
  rolledBack: 2,
  successRate: 0.85,
  changeFailureRate: 0.15,
  meanTimeToRollbackMinutes: 12.5,
  meanDetectionLagMinutes: 3.2,
  services: [
    {
      entityRef: ENTITY_REF,
      activeRollouts: 1,
      finishedRollouts: 10,
      rolledBack: 1,
      budgetBurnRate: 2.5,
      kpiImpact: { conversion: -0.012 },
    },
    {
      entityRef: 'component:default/search-api',
      activeRollouts: 1,
      finishedRollouts: 10,
      rolledBack: 1,
      budgetBurnRate: 0.3,
      kpiImpact: {},
    },
  ],
  trend: [
    { day: '2025-01-01', promoted: 2, rolledBack: 1, other: 0 },
    { day: '2025-01-02', promoted: 3, rolledBack: 0, other: 1 },
  ],
};

/**
 * `GET /v1/summary/services` over these rows, as the backend answers it:
 * filtered, searched, sorted (rows without the figure last, ties by name)
 * and paged.
 */
export function servicePager(services: ServiceSummary[]) {
  return async (
    request: SummaryServicesRequest = {},
  ): Promise<ServiceSummaryPage> => {
    const sort = request.sort ?? 'entityRef';
    const sign =
      (request.order ?? (sort === 'entityRef' ? 'asc' : 'desc')) === 'asc'
        ? 1
        : -1;
    const rows = services
      .filter(
        s =>
          (!request.q || s.entityRef.includes(request.q.toLowerCase())) &&
          (!request.active || (s.activeCohorts?.length ?? 0) > 0) &&
          (!request.budgeted ||
            (s.budgetSpent !== null && s.budgetSpent !== undefined)),
      )
      .sort((a, b) => {
        if (sort === 'entityRef')
          return sign * a.entityRef.localeCompare(b.entityRef);
        const x = a[sort] ?? null;
        const y = b[sort] ?? null;
        if ((x === null) !== (y === null)) return x === null ? 1 : -1;
        return (
          (x === null || y === null ? 0 : sign * (x - y)) ||
          a.entityRef.localeCompare(b.entityRef)
        );
      });
    const offset = request.offset ?? 0;
    const limit = request.limit ?? 20;
    return {
      items: rows.slice(offset, offset + limit),
      total: rows.length,
      offset,
      limit,
    };
  };
}

/** A step of 20 one-minute intervals: the canary's error rate doubles from interval 11, and a flag cohort. */
export function makeTimeseries(
  overrides: Partial<RolloutTimeseries> = {},
): RolloutTimeseries {
  const ticks = Array.from({ length: 20 }, (_, i) => i + 1);
  const start = Date.now() - 20 * 60_000;
  return {
    rolloutId: 'ro-1',
    stepIndex: 1,
    window: {
      start: new Date(start).toISOString(),
      end: new Date(start + 20 * 60_000).toISOString(),
      tickSeconds: 60,
    },
    telemetryProvider: 'simulator',
    intervalsExpected: 20,
    intervalsRead: 20,
    maxIntervals: 360,
    intervals: ticks.map(t => ({
      tick: t,
      at: new Date(start + t * 60_000).toISOString(),
      verdict: t < 15 ? 'continue' : 'rollback',
    })),
    signals: [
      {
        name: 'error rate',
        kind: 'error-rate',
        direction: 'decrease',
        scale: 'relative',
        guardrail: true,
        alphaCi: 0.02,
        points: ticks.map(t => {
          const diff = t > 10 ? 0.6 : 0.02;
          const radius = 2 / Math.sqrt(t);
          return {
            tick: t,
            canary: t > 10 ? 0.004 : 0.002,
            baseline: 0.002,
            runningCanary: 0.002 * (1 + diff),
            runningBaseline: 0.002,
            difference: diff,
            ci: t === 1 ? [-0.9, null] : [diff - radius, diff + radius],
            margin: 0.2,
            rule: t < 15 ? 'inconclusive' : 'deterioration',
          };
        }),
      },
    ],
    notes: [],
    target: {
      provider: 'unleash',
      target: 'new-checkout',
      kind: 'feature-flag',
      enabled: true,
      strategy: 'flexibleRollout',
      percentage: 5,
      stickiness: 'userId',
      groupId: 'new-checkout',
      constraints: ['appName IN web'],
      details: { project: 'default', environment: 'production' },
    },
    computedAt: new Date().toISOString(),
    ...overrides,
  };
}

export type MockRolloutsApi = {
  [K in keyof RolloutsApi]: ReturnType<typeof vi.fn>;
} & RolloutsApi;

/** A fake API with sensible answers; tests override what they need. */
export function createMockApi(): MockRolloutsApi {
  const decisions: DecisionPage<DecisionListEntry> = {
    items: [
      makeListedDecision(3, {
        verdict: 'rollback',
        reasons: ['error-rate deteriorated'],
      }),
      makeListedDecision(2),
      makeListedDecision(1),
    ],
  };
  return {
    listRollouts: vi.fn(async (req?: { status?: string }) =>
      req?.status === 'finished'
        ? { items: [finishedRollout] }
        : { items: [makeRollout()] },
    ),
    getRollout: vi.fn(async () => makeRollout()),
    listDecisions: vi.fn(async () => decisions),
    getAttention: vi.fn(async () => ({
      items: [],
      generatedAt: minutesAgo(0),
    })),
    getReport: vi.fn(
      async () =>
        '# Rollout report: component:default/checkout-api 2.31.3 → 2.31.4\n',
    ),
    getDecisionEvidence: vi.fn(async (_id: string, seq: number) => ({
      seq,
      evidence: makeDecision(seq).evidence,
    })),
    performAction: vi.fn(async (_id: string, action: string) => ({
      rollout: makeRollout({
        status: action === 'rollback' ? 'rolled-back' : 'progressing',
        currentWeight: 0,
      }),
      decision: makeDecision(4, {
        verdict: action as DecisionEntry['verdict'],
        kind: 'manual',
        actor: 'user:default/jane',
      }),
    })),
    getSummary: vi.fn(async () => summary),
    listSummaryServices: vi.fn(servicePager(summary.services)),
    getTimeseries: vi.fn(async () => makeTimeseries()),
    getShadowSummary: vi.fn(async () => ({
      days: 30,
      policies: [],
      generatedAt: minutesAgo(0),
    })),
    runWhatIf: vi.fn(),
    getRolloutShadow: vi.fn(async () => ({ policies: [], items: [] })),
  } as unknown as MockRolloutsApi;
}
