import {
  computeWindowSums,
  createGateState,
  decide,
  evaluateGate,
  observeTick,
  observeTickInPlace,
} from './gate';
import type { GateDecision, TelemetryTick } from './types';
import { defaultGatePolicy, type GatePolicy } from './policy';
import { simCtx, simulate, type SimSpec } from './__testkit__/sim';

const base: SimSpec = {
  ticks: 60,
  traffic: 20000,
  share: 0.05,
  errRate: 0.002,
  slow: 0.001,
  conv: 0.03,
};

function run(
  spec: SimSpec,
  seed: number,
  policy?: Parameters<typeof createGateState>[1],
) {
  const ctx = simCtx(spec.share);
  const state = createGateState(ctx, policy);
  const out: GateDecision[] = [];
  for (const t of simulate(spec, seed)) {
    observeTickInPlace(state, t);
    out.push(decide(state));
  }
  return out;
}
const first = (ds: GateDecision[], v: string) => ds.find(d => d.verdict === v);

describe('gate engine verdicts', () => {
  it('rolls back a canary with 5x the errors, with evidence on the error-rate signal', () => {
    const ds = run({ ...base, errMult: 5 }, 1);
    const rb = first(ds, 'rollback');
    expect(rb).toBeDefined();
    expect(rb!.tick).toBeLessThanOrEqual(10);
    expect(first(ds, 'promote')).toBeUndefined();
    const sig = rb!.signals.find(s => s.kind === 'error-rate')!;
    expect(sig.rule).toBe('deterioration');
    expect(sig.statistic).toBeGreaterThanOrEqual(sig.threshold);
    expect(sig.ci![0]).toBeGreaterThan(0);
    expect(rb!.reasons[0]).toMatch(/^error rate: canary/);
    expect(rb!.rubric).toBe('not ready');
  });

  it('rolls back a conversion drop through the KPI signal (direction increase)', () => {
    const ds = run(
      { ...base, ticks: 60, share: 0.25, conv: 0.03, convMult: 0.5 },
      2,
    );
    const rb = first(ds, 'rollback');
    expect(rb).toBeDefined();
    expect(rb!.signals.find(s => s.name === 'conversion')!.rule).toBe(
      'deterioration',
    );
  });

  it('promotes an A/A canary only after the minimum duration, with non-inferior guardrails', () => {
    const ds = run({ ...base, share: 0.25 }, 3);
    const pr = first(ds, 'promote');
    expect(first(ds, 'rollback')).toBeUndefined();
    expect(pr).toBeDefined();
    expect(pr!.tick).toBeGreaterThanOrEqual(30);
    expect(
      pr!.signals
        .filter(s => s.guardrail)
        .every(s => s.rule === 'non-inferiority'),
    ).toBe(true);
    expect(['ready', 'provisionally ready']).toContain(pr!.rubric);
    expect(pr!.score).toBeGreaterThan(0.5);
    // before the minimum duration it continues
    expect(ds[20].verdict).toBe('continue');
  });

  it('holds while canary telemetry is missing and never promotes on missing data', () => {
    const ds = run({ ...base, share: 0.25, ticks: 80, canaryGap: [25, 80] }, 4);
    for (const d of ds.slice(24)) {
      expect(d.verdict).toBe('hold');
      expect(d.reasons[0]).toMatch(/canary telemetry missing for \d+ tick/);
    }
    expect(ds[30].checks.freshness.canaryMissingTicks).toBe(7);
  });

  it('a missing field is missing, not zero: hold on the tick it is absent', () => {
    const ds = run(
      {
        ...base,
        share: 0.25,
        dropField: { tick: 40, cohort: 'canary', field: 'latency' },
      },
      5,
    );
    expect(ds[39].verdict).toBe('hold');
    expect(ds[39].checks.freshness.missingFields).toContain('canary.latency');
    // the missing tick did not count as zero slow requests
    const lat = ds[39].signals.find(s => s.kind === 'latency')!;
    expect(lat.samples.ticks).toBe(39);
  });

  it('holds on a sample ratio mismatch, not rollback', () => {
    const ds = run({ ...base, observedShare: 0.075 }, 6);
    expect(
      ds.every(d => d.verdict !== 'promote' && d.verdict !== 'rollback'),
    ).toBe(true);
    expect(ds[5].verdict).toBe('hold');
    expect(ds[5].checks.srm.mismatch).toBe(true);
    expect(ds[5].reasons.join(' ')).toMatch(/sample ratio mismatch/);
  });

  it('holds (does not roll back) during a service-wide incident', () => {
    const ds = run(
      { ...base, ticks: 80, incidentFrom: 20, incidentMult: 10 },
      7,
      { promote: { minDurationSeconds: 600 } },
    );
    const after = ds.slice(19);
    expect(after.some(d => d.verdict === 'rollback')).toBe(false);
    expect(after.some(d => d.verdict === 'promote')).toBe(false);
    expect(after[0].verdict).toBe('hold');
    expect(after[0].reasons.join(' ')).toMatch(/service-wide/);
  });

  it('promotes a service with (almost) no errors: non-inferiority from the canary rate against the SLO budget', () => {
    const ds = run({ ...base, share: 0.25, errRate: 0, slow: 0.0005 }, 13);
    const pr = first(ds, 'promote');
    expect(pr).toBeDefined();
    const err = pr!.signals.find(s => s.kind === 'error-rate')!;
    expect(err.rule).toBe('non-inferiority');
    expect(err.note).toMatch(/canary's own rate/);
  });

  it('does not promote while the most recent window looks worse, even if the cumulative test is fine', () => {
    // a regression that starts at tick 28 at a small share: cumulative evidence is diluted
    const spec = {
      ...base,
      share: 0.25,
      ticks: 34,
      errMult: 2.5,
      regressionFrom: 28,
    };
    const ds = run(spec, 14);
    const noGuard = run(spec, 14, { promote: { recentWindowSeconds: 0 } });
    expect(ds.slice(29).every(d => d.verdict !== 'promote')).toBe(true);
    const blocked = ds
      .slice(29)
      .find(
        d =>
          d.reasons.some(r => /last 10 min/.test(r)) ||
          d.verdict === 'rollback',
      );
    expect(blocked).toBeDefined();
    // without the guard the same data may promote at 30 (the guard is what stops it)
    expect(
      noGuard.slice(29).some(d => d.verdict === 'promote') ||
        noGuard.slice(29).some(d => d.verdict === 'rollback'),
    ).toBe(true);
  });

  it('does not promote while a KPI looks worse over the step: the gate keeps watching until the harm is proven', () => {
    // conversion −15% at a 25% canary: too small to prove in the 30 minutes the other signals need
    const spec = { ...base, share: 0.25, ticks: 45, convMult: 0.85 };
    const outcome = (
      seed: number,
      policy?: Parameters<typeof createGateState>[1],
    ) =>
      run(spec, seed, policy).find(
        d => d.verdict === 'promote' || d.verdict === 'rollback',
      )?.verdict ?? 'none';
    const seeds = Array.from({ length: 20 }, (_, i) => i + 1);
    const braked = seeds.map(s => outcome(s));
    const unbraked = seeds.map(s =>
      outcome(s, { promote: { kpiLeanAlpha: 0 } }),
    );
    expect(braked.filter(v => v === 'promote')).toEqual([]);
    // without the brake the same data is often promoted at 30 min; with it, most become proven rollbacks
    expect(unbraked.filter(v => v === 'promote').length).toBeGreaterThanOrEqual(
      5,
    );
    expect(braked.filter(v => v === 'rollback').length).toBeGreaterThan(
      unbraked.filter(v => v === 'rollback').length,
    );

    const held = run(spec, 1)[29];
    expect(held.verdict).toBe('continue');
    expect(held.reasons.join(' ')).toMatch(
      /^conversion over the step: canary \d\.\d\d% vs baseline \d\.\d\d% \(−1\d\.\d%\), one-sided p = [\d.e-]+; not promoting while a KPI looks worse/m,
    );
  });

  it('the KPI brake delays some healthy canaries, never speeds one up, and leaves the median alone', () => {
    const aa = { ...base, share: 0.25, ticks: 90 };
    const ticksToPromote = (policy?: Parameters<typeof createGateState>[1]) =>
      Array.from(
        { length: 20 },
        (_, i) =>
          run(aa, 100 + i, policy).find(d => d.verdict === 'promote')?.tick ??
          Infinity,
      );
    const withBrake = ticksToPromote();
    const without = ticksToPromote({ promote: { kpiLeanAlpha: 0 } });
    // the brake never speeds a promotion up, and holds some healthy streams a while
    // (here 5 of 20: by 3 to 30 minutes, 2 beyond the 90 minutes watched)
    withBrake.forEach((t, i) => expect(t).toBeGreaterThanOrEqual(without[i]));
    expect(without.filter(Number.isFinite)).toHaveLength(20);
    expect(withBrake.filter(Number.isFinite).length).toBeGreaterThanOrEqual(16);
    const median = (xs: number[]) =>
      [...xs].sort((a, b) => a - b)[xs.length >> 1];
    expect(median(withBrake)).toBe(median(without));
  });

  it('burn windows on a young rollout use what they have and say so', () => {
    const d = run({ ...base, ticks: 10 }, 8).at(-1)!;
    const page = d.checks.burn.service.availability[0];
    expect(page.partial).toBe(true);
    expect(page.longTicksUsed).toBe(10);
    expect(page.shortTicksUsed).toBe(5);
    expect(page.longBurn).toBeGreaterThan(0.2);
    expect(page.longBurn).toBeLessThan(0.8);
  });

  it('treats a tick that never arrived as missing (stale data)', () => {
    const ticks = simulate({ ...base, ticks: 10 }, 9);
    const state = createGateState(simCtx(0.05));
    for (const t of ticks) observeTickInPlace(state, t);
    const d = decide(state, { tick: 13 });
    expect(d.verdict).toBe('hold');
    expect(d.checks.freshness.stale).toBe(true);
    expect(d.checks.freshness.canaryMissingTicks).toBe(3);
  });
});

describe('gate engine state', () => {
  it('observeTick is pure and the state is JSON-serialisable', () => {
    const ctx = simCtx(0.05);
    const ticks: TelemetryTick[] = simulate({ ...base, ticks: 5 }, 10);
    let s = createGateState(ctx);
    const before = JSON.stringify(s);
    const s1 = observeTick(s, ticks[0]);
    expect(JSON.stringify(s)).toBe(before);
    s = s1;
    for (const t of ticks.slice(1)) s = observeTick(s, t);
    const revived = JSON.parse(JSON.stringify(s));
    // a lossless round trip: no Infinity/NaN/undefined-sensitive data in the state
    expect(revived).toEqual(s);
    expect(decide(revived)).toEqual(decide(s));
    expect(evaluateGate(ctx, ticks)).toEqual(decide(s));
  });
  it('incremental burn-window sums equal sums recomputed from the history (with gaps)', () => {
    const ctx = { ...simCtx(0.05), tickSeconds: 30 };
    const ticks = simulate(
      {
        ...base,
        ticks: 900,
        canaryGap: [100, 130],
        dropField: { tick: 200, cohort: 'baseline', field: 'errors' },
      },
      12,
    ).filter(t => t.tick % 97 !== 0); // some ticks never arrive at all
    const s = createGateState(ctx);
    // at every 50th tick and right after the canary's gap: the kept sums, and the sums recomputed
    const checks: Array<{
      tick: number;
      kept: number[][];
      recomputed: number[][];
    }> = [];
    for (const t of ticks) {
      observeTickInPlace(s, t);
      if (t.tick % 50 === 0 || t.tick === 131) {
        const ref = computeWindowSums(s, s.lastTick, s.windowSums.lengths);
        checks.push({
          tick: t.tick,
          kept: s.windowSums.sums.map(sums => Array.from(sums)),
          recomputed: s.windowSums.lengths.map(L => Array.from(ref.get(L)!)),
        });
      }
    }
    expect(checks.length).toBeGreaterThan(10);
    for (const { tick, kept, recomputed } of checks) {
      expect({ tick, kept }).toEqual({
        tick,
        kept: recomputed.map(want => want.map(v => expect.closeTo(v, 6))),
      });
    }
    expect(s.history.length).toBeLessThanOrEqual(720);
  });
  it('latency quantiles are PromQL-style and survive JSON (a p99 in the +Inf bucket)', () => {
    const ctx = simCtx(0.05, false);
    const tick: TelemetryTick = {
      tick: 1,
      baseline: {
        requests: 1000,
        errors: 1,
        latency: { le: [100, 500, Infinity], counts: [600, 980, 1000] },
      },
      canary: {
        requests: 50,
        errors: 0,
        latency: { le: [100, 500, Infinity], counts: [30, 49, 50] },
      },
    };
    const s = JSON.parse(
      JSON.stringify(observeTick(createGateState(ctx), tick)),
    );
    const q = decide(s).signals.find(x => x.kind === 'latency')!.quantiles!;
    expect(q.baseline.p50).toBeCloseTo(100 * (500 / 600), 9);
    expect(q.baseline.p99).toBe(500);
    expect(q.canary.p95).toBeCloseTo(100 + 400 * ((47.5 - 30) / 19), 9);
  });
  it('ignores a tick it has already seen', () => {
    const ctx = simCtx(0.05);
    const ticks = simulate({ ...base, ticks: 3 }, 11);
    let s = createGateState(ctx);
    for (const t of ticks) s = observeTick(s, t);
    const again = observeTick(s, ticks[1]);
    expect(again).toEqual(s);
  });
  it('accepts a Partial<GatePolicy> (the backend passes parsed YAML) and applies it', () => {
    const partial: Partial<GatePolicy> = {
      alpha: 0.01,
      promote: { ...defaultGatePolicy().promote, minDurationSeconds: 60 },
    };
    const s = createGateState(simCtx(0.05), partial);
    expect(s.policy.alpha).toBe(0.01);
    expect(s.policy.promote.minDurationSeconds).toBe(60);
    expect(s.policy.errorRate.weight).toBe(3);
  });
  it('rejects an impossible context', () => {
    expect(() =>
      createGateState({ ...simCtx(0.05), expectedCanaryShare: 1.5 }),
    ).toThrow(/expectedCanaryShare/);
  });
});
