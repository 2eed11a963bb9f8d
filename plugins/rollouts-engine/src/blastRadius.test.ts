import type { GateDecision } from '@tollgate/plugin-rollouts-common';
import { binomial } from './__testkit__/sim';
import {
  applyBlastRadius,
  assessBlastRadius,
  type BlastRadiusConsumerInput,
} from './blastRadius';
import { mulberry32 } from './math';
import { validateGatePolicy } from './policy';
import { blastRadiusPolicySchema } from './blastRadiusPolicy';

const CONSUMER = 'component:default/storefront';
const policy = (p: Record<string, unknown> = {}) =>
  blastRadiusPolicySchema.parse(p);

/** A consumer's traffic: `ticks` intervals of about `traffic` requests at error rate `rate`. */
function window(
  rng: () => number,
  ticks: number,
  traffic: number,
  rate: number,
) {
  let errors = 0;
  let requests = 0;
  for (let t = 0; t < ticks; t++) {
    const n = Math.round(traffic * (1 + 0.3 * Math.sin(t / 7 + rng())));
    requests += n;
    errors += binomial(rng, n, rate);
  }
  return { errors, requests, ticks, missingTicks: 0 };
}

/**
 * One rollout step watched interval by interval: the consumer's reference window before the
 * step (30 intervals at `rateBefore`), then up to `looks` intervals in the step at `rateDuring`,
 * the check run after each. Returns the first look at which it found harm (0: never).
 */
function watchStep(
  seed: number,
  rateBefore: number,
  rateDuring: number,
  opts: { alpha: number; minBurnRise: number; looks: number },
): number {
  const rng = mulberry32(seed);
  const before = window(rng, 30, 2000, rateBefore);
  const during = { errors: 0, requests: 0, ticks: 0, missingTicks: 0 };
  const p = policy({ alpha: opts.alpha, minBurnRise: opts.minBurnRise });
  for (let look = 1; look <= opts.looks; look++) {
    const w = window(rng, 1, 2000, rateDuring);
    during.errors += w.errors;
    during.requests += w.requests;
    during.ticks += 1;
    const ev = assessBlastRadius({
      policy: p,
      consumers: [
        {
          entityRef: CONSUMER,
          relation: 'dependsOn',
          availability: 0.999,
          before,
          during: { ...during },
        },
      ],
      step: 2,
      share: 0.05,
      canarySteps: 1,
    });
    if (ev.harmed.length) return look;
  }
  return 0;
}

describe('blast radius: a consumer whose burn rises with the step', () => {
  const seeds = Array.from({ length: 400 }, (_, i) => 1000 + i);

  it('a consumer with stable burn is not reported harmed, across 400 seeds watched 40 times each, within α (even with no burn margin)', () => {
    const alpha = 0.05;
    for (const minBurnRise of [1, 1e-9]) {
      const falseAlarms = seeds.filter(
        s =>
          watchStep(s, 0.0008, 0.0008, { alpha, minBurnRise, looks: 40 }) > 0,
      ).length;
      expect(falseAlarms / seeds.length).toBeLessThanOrEqual(alpha);
    }
  });

  it('a step-aligned rise from 0.8× to 6× burn is caught in every seed within 8 intervals', () => {
    const looks = seeds.map(s =>
      watchStep(s, 0.0008, 0.006, { alpha: 0.01, minBurnRise: 1, looks: 40 }),
    );
    expect(looks.filter(l => l === 0)).toHaveLength(0);
    expect(Math.max(...looks)).toBeLessThanOrEqual(8);
  });

  it('names the consumer, its relation and its burn before and in the step', () => {
    const ev = assessBlastRadius({
      policy: policy(),
      consumers: [
        {
          entityRef: CONSUMER,
          relation: 'consumesApi',
          via: 'api:default/catalog-api',
          availability: 0.999,
          before: { errors: 48, requests: 60_000, ticks: 30, missingTicks: 0 },
          during: { errors: 60, requests: 10_000, ticks: 5, missingTicks: 0 },
        },
      ],
      step: 2,
      share: 0.05,
      canarySteps: 3,
    });
    expect(ev.harmed).toEqual([CONSUMER]);
    expect(ev.consumers[0].reason).toMatch(
      /^consumer component:default\/storefront error-budget burn rose from 0\.8× to 6× with the 5 % step \(it consumes api:default\/catalog-api it provides; limit /,
    );
    // α split over the consumers and the three canary steps
    expect(ev.alphaPerTest).toBeCloseTo(0.01 / 3, 12);
  });

  it('missing telemetry is not measured: it neither holds nor counts as healthy', () => {
    const consumers: BlastRadiusConsumerInput[] = [
      {
        entityRef: 'component:default/no-annotation',
        relation: 'dependsOn',
        notMeasured: 'no tollgate.dev/rollouts annotation: no telemetry target',
      },
      {
        entityRef: 'component:default/quiet',
        relation: 'dependsOn',
        availability: 0.999,
        before: { errors: 0, requests: 20, ticks: 30, missingTicks: 10 },
        during: { errors: 0, requests: 5, ticks: 2, missingTicks: 0 },
      },
      {
        entityRef: 'component:default/gone',
        relation: 'dependsOn',
        availability: 0.999,
        before: { errors: 8, requests: 9000, ticks: 30, missingTicks: 0 },
        during: null,
      },
    ];
    const ev = assessBlastRadius({
      policy: policy(),
      consumers,
      step: 1,
      share: 0.01,
      canarySteps: 3,
    });
    expect(ev.consumers.map(c => c.status)).toEqual([
      'not-measured',
      'not-measured',
      'not-measured',
    ]);
    expect(ev.consumers[1].reason).toContain('too little telemetry');
    const decision = applyBlastRadius(gateDecision('promote'), ev);
    expect(decision.verdict).toBe('promote');
    expect(decision.blastRadius?.action).toBe('none');
  });
});

function gateDecision(verdict: GateDecision['verdict']): GateDecision {
  return {
    verdict,
    reasons: ['every guardrail non-inferior'],
    rubric: 'ready',
    score: 1,
    signals: [],
    checks: {} as GateDecision['checks'],
    tick: 10,
    rollout: { rule: 'gate' } as GateDecision['rollout'],
  };
}

describe('blast radius: what harm does to the verdict', () => {
  const harmed = (onConsumerHarm: 'hold' | 'rollback', consumers?: string[]) =>
    assessBlastRadius({
      policy: policy({ onConsumerHarm, consumers }),
      consumers: [
        {
          entityRef: CONSUMER,
          relation: 'dependsOn',
          availability: 0.999,
          before: { errors: 48, requests: 60_000, ticks: 30, missingTicks: 0 },
          during: { errors: 60, requests: 10_000, ticks: 5, missingTicks: 0 },
        },
      ],
      step: 2,
      share: 0.05,
      canarySteps: 3,
    });

  it('holds a promotion by default, the consumer named first and the rule blast-radius', () => {
    const d = applyBlastRadius(gateDecision('promote'), harmed('hold'));
    expect(d.reasons[0]).toContain('with the 5 % step (it depends on it;');
    expect(d.verdict).toBe('hold');
    expect(d.rollout?.rule).toBe('blast-radius');
    expect(d.reasons[0]).toContain(`consumer ${CONSUMER} error-budget burn`);
    expect(d.blastRadius?.action).toBe('hold');
  });

  it('rolls back with onConsumerHarm: rollback', () => {
    const d = applyBlastRadius(gateDecision('continue'), harmed('rollback'));
    expect(d.verdict).toBe('rollback');
    expect(d.blastRadius?.action).toBe('rollback');
  });

  it('judges only the consumers the policy lists', () => {
    const ev = harmed('hold', ['component:default/other']);
    expect(ev.consumers[0].status).toBe('not-judged');
    expect(applyBlastRadius(gateDecision('promote'), ev).verdict).toBe(
      'promote',
    );
  });

  it('validates the policy field by field', () => {
    const v = validateGatePolicy({
      blastRadius: {
        onConsumerHarm: 'page',
        alpha: 2,
        consumers: ['storefront'],
        beforeSecs: 60,
      },
    });
    expect(v.ok).toBe(false);
    const paths = v.ok ? [] : v.problems.map(p => p.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'blastRadius.onConsumerHarm',
        'blastRadius.alpha',
        'blastRadius.consumers[0]',
        'blastRadius.beforeSecs',
      ]),
    );
    const ok = validateGatePolicy({});
    expect(ok.ok && ok.policy.blastRadius).toEqual({
      enabled: true,
      onConsumerHarm: 'hold',
      alpha: 0.01,
      minBurnRise: 1,
      beforeSeconds: 1800,
      minRequests: 100,
    });
  });
});
