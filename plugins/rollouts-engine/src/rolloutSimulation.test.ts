/**
 * Per-rollout error control: whole ladders of A/A releases (the canary is the baseline's twin),
 * walked up a four-step ladder in closed loop and watched through a bake window. The rollback
 * tests are carried across steps (one e-process per signal over the whole rollout) and the change
 * detector spends the rest of each signal's α, so P(a healthy rollout is ever rolled back) ≤ α
 * however many steps it has. Tolerance: the rate must be at most α itself (a binomial 99.9 %
 * upper bound around α = 0.05 over 300 rollouts would allow 0.088; the measured rate is far
 * below α, so the check has room without being vacuous).
 */
import { walkRelease } from './__testkit__/walk';
import type { ReleaseSpec } from './__testkit__/releases';

const LADDER = [0.01, 0.05, 0.25, 0.5];

function aa(i: number): ReleaseSpec {
  return {
    name: `aa-${i}`,
    seed: 7000 + i,
    traffic: [2000, 5000, 20000][i % 3],
    diurnal: i % 2 ? 0.3 : 0,
    phase: i,
    errRate: 0.002,
    slowRate: 0.004,
    conv: 0.05,
    orderMean: 60,
    orderSd: 25,
  };
}

describe('whole-rollout A/A simulation', () => {
  it('false rollbacks over 300 A/A ladders, each step held for 60 minutes, are at most alpha', () => {
    const alpha = 0.05;
    const n = 300;
    let rollbacks = 0;
    let full = 0;
    for (let i = 0; i < n; i++) {
      // every step lasts an hour before it may promote: 4 h of continuous monitoring per rollout
      const r = walkRelease(aa(i), {
        ladder: LADDER,
        policy: {
          alpha,
          promote: { minDurationSeconds: 3600 },
          rollout: { minStepSeconds: 3600, maxStepSeconds: 7200 },
        },
        stallTicks: 400,
        bakeTicks: 60,
      });
      if (r.outcome === 'rollback') rollbacks++;
      if (r.outcome === 'full') full++;
    }
    // eslint-disable-next-line no-console -- the suite prints what it measured, as the reliability suites do
    console.log(`A/A ladders: ${rollbacks}/${n} rolled back, ${full} full`);
    expect(rollbacks / n).toBeLessThanOrEqual(alpha);
    // not vacuous: the healthy releases do reach full
    expect(full / n).toBeGreaterThan(0.9);
  });
});
