import { createBakeWatch, decideBake, observeBakeTick } from './bake';
import { validateGatePolicy } from './policy';
import { releaseCtx, ReleaseSpec, telemetryAt } from './__testkit__/releases';
import { walkRelease } from './__testkit__/walk';
import {
  advanceRolloutStep,
  createRolloutGate,
  decideRollout,
  observeRolloutTick,
  RolloutGateState,
  stepPolicy,
} from './rollout';
import { stepRules } from './stepRules';
import type { GateDecision } from './types';

const LADDER = [0.01, 0.05, 0.25, 0.5];
const base: ReleaseSpec = {
  name: 'r',
  seed: 42,
  traffic: 20000,
  errRate: 0.002,
  slowRate: 0.004,
  conv: 0.05,
  orderMean: 60,
  orderSd: 25,
};

/** feed ticks [from, to] at the current step's share; returns the last decision */
function run(
  rs: RolloutGateState,
  spec: ReleaseSpec,
  from: number,
  to: number,
): GateDecision {
  let d!: GateDecision;
  for (let t = from; t <= to; t++) {
    observeRolloutTick(rs, telemetryAt(spec, t, rs.ladder[rs.stepIndex]));
    d = decideRollout(rs, { tick: t });
  }
  return d;
}

describe('whole-rollout gate', () => {
  it('carries the signal tests across steps and restarts the step-specific ones', () => {
    const rs = createRolloutGate(releaseCtx(0.01), undefined, LADDER);
    run(rs, base, 1, 20);
    const before = rs.gate.signals[0].rate!;
    const events = before.canaryEvents;
    expect(advanceRolloutStep(rs)).toBe(true);
    expect(rs.gate.signals[0].rate).toBe(before);
    expect(rs.gate.srm.ticks).toBe(0);
    expect(rs.gate.canaryRequests).toBe(0);
    expect(rs.gate.ctx.expectedCanaryShare).toBe(0.05);
    const d = run(rs, base, 21, 25);
    expect(rs.gate.signals[0].rate!.canaryEvents).toBeGreaterThan(events);
    expect(d.rollout).toMatchObject({
      step: 2,
      steps: 4,
      share: 0.05,
      nextShare: 0.25,
    });
    expect(d.checks.promotion.elapsedTicks).toBe(5);
    expect(advanceRolloutStep(rs, 3)).toBe(true);
    expect(advanceRolloutStep(rs)).toBe(false); // a promotion from the last step is full
  });

  it('promotion criteria scale with the exposure the promotion opens', () => {
    const p = validateGatePolicy({});
    if (!p.ok) throw new Error('default policy');
    const first = stepRules(p.policy, LADDER, 0);
    const last = stepRules(p.policy, LADDER, 3);
    expect(first.nextShare).toBe(0.05);
    expect(last.nextShare).toBe(1);
    expect(first.minSeconds).toBeCloseTo(600 + 1200 * 0.05);
    expect(last.minSeconds).toBe(1800);
    expect(first.minCanaryRequests).toBeCloseTo(100 + 900 * 0.05);
    expect(stepPolicy(p.policy, LADDER, 0).promote.exposure).toBe(0.05);
    // α: the test from the start gets 70 % of it, the change detector the rest
    expect(stepPolicy(p.policy, LADDER, 0).alpha).toBeCloseTo(0.035);
    // the error-rate margin at 1 % → 5 % is 20× the one at 50 % → full (capped at 11×)
    const rs = createRolloutGate(releaseCtx(0.01), undefined, LADDER);
    const d1 = run(rs, base, 1, 12);
    advanceRolloutStep(rs, 3);
    const d4 = run(rs, base, 13, 20);
    expect(d1.signals[0].margin).toBeGreaterThan(5 * d4.signals[0].margin);
  });

  it('a regression that starts late is caught by the change detector', () => {
    const spec = { ...base, seed: 7, onset: 45, effect: { err: 2.5 } };
    const rs = createRolloutGate(releaseCtx(0.01), undefined, LADDER);
    let d!: GateDecision;
    let t = 0;
    while (t < 200) {
      t++;
      observeRolloutTick(rs, telemetryAt(spec, t, rs.ladder[rs.stepIndex]));
      d = decideRollout(rs, { tick: t });
      if (d.verdict === 'promote') advanceRolloutStep(rs);
      if (d.verdict === 'rollback') break;
    }
    expect(d.verdict).toBe('rollback');
    expect(t).toBeGreaterThanOrEqual(45);
    expect(d.rollout!.changeDetection.length).toBeGreaterThan(0);
    expect(d.reasons[0]).toMatch(/error rate/);
  });

  it('a step maximum promotes a small exposure with its harm bounds, or holds', () => {
    const slow = { ...base, traffic: 1500 };
    const policy = { rollout: { maxStepSeconds: 1200 } };
    const rs = createRolloutGate(releaseCtx(0.01), policy, LADDER);
    const d = run(rs, slow, 1, 20);
    expect(d.verdict).toBe('promote');
    expect(d.rollout!.rule).toBe('step-timeout');
    expect(d.rollout!.timeout!.action).toBe('promote');
    expect(d.reasons[0]).toMatch(
      /step maximum reached \(20 min\).*error rate at worst \+[\d.]+% \([\d.]+% always-valid\)/,
    );

    const held = createRolloutGate(
      releaseCtx(0.01),
      { ...policy, rollout: { ...policy.rollout, onStepTimeout: 'hold' } },
      LADDER,
    );
    const h = run(held, slow, 1, 20);
    expect(h.verdict).toBe('hold');
    expect(h.reasons[0]).toMatch(/holding at 1%/);

    // a sample ratio mismatch is a hold condition: a timeout never promotes through it
    const srm = createRolloutGate(releaseCtx(0.01), policy, LADDER);
    const s = run(srm, { ...base, srm: 1.3 }, 1, 20);
    expect(s.verdict).toBe('hold');
    expect(s.rollout!.timeout?.action).toBe('hold');
  });

  it('does not promote while the canary share looks off (SRM brake), before the SRM test can prove it', () => {
    const spec = { ...base, traffic: 2000, srm: 1.3, seed: 5 };
    const rs = createRolloutGate(releaseCtx(0.01), undefined, LADDER);
    const verdicts: string[] = [];
    let braked = '';
    for (let t = 1; t <= 40; t++) {
      observeRolloutTick(rs, telemetryAt(spec, t, rs.ladder[rs.stepIndex]));
      const d = decideRollout(rs, { tick: t });
      verdicts.push(d.verdict);
      if (d.reasons[0]?.includes('assignment looks off')) braked = d.reasons[0];
    }
    expect(verdicts).not.toContain('promote');
    expect(braked).toMatch(
      /canary share over the step [\d.]+% vs the expected 1\.00%/,
    );
  });

  it('the state is plain JSON: a revived state decides exactly as the original', () => {
    const rs = createRolloutGate(releaseCtx(0.01), undefined, LADDER);
    run(rs, { ...base, onset: 10, effect: { err: 1.5 } }, 1, 15);
    advanceRolloutStep(rs);
    run(rs, base, 16, 30);
    const back = JSON.parse(JSON.stringify(rs)) as RolloutGateState;
    const a = run(rs, base, 31, 40);
    const b = run(back, base, 31, 40);
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
  });

  it('rollout policy fields are validated with field-named errors', () => {
    const v = validateGatePolicy({
      rollout: {
        maxStepSeconds: -1,
        onStepTimeout: 'maybe',
        changeDetection: { alphaShare: 2 },
      },
      promote: { exposure: 0 },
      steps: [{ weight: 5, maxDurationSeconds: 0 }],
    });
    expect(v.ok).toBe(false);
    const paths = (v as { problems: Array<{ path: string }> }).problems.map(
      p => p.path,
    );
    expect(paths).toEqual(
      expect.arrayContaining([
        'rollout.maxStepSeconds',
        'rollout.onStepTimeout',
        'rollout.changeDetection.alphaShare',
        'promote.exposure',
        'steps[0].maxDurationSeconds',
      ]),
    );
  });
});

describe('post-promotion watch', () => {
  function full(spec: ReleaseSpec): { rs: RolloutGateState; tick: number } {
    const rs = createRolloutGate(releaseCtx(0.01), undefined, LADDER);
    for (let t = 1; t < 400; t++) {
      observeRolloutTick(rs, telemetryAt(spec, t, rs.ladder[rs.stepIndex]));
      const d = decideRollout(rs, { tick: t });
      if (d.verdict === 'promote' && !advanceRolloutStep(rs))
        return { rs, tick: t };
      if (d.verdict === 'rollback') throw new Error(`rolled back at ${t}`);
    }
    throw new Error('never full');
  }

  it('rolls back a regression that starts after full promotion, and passes a healthy release', () => {
    const spec = { ...base, seed: 3 };
    const { rs, tick } = full(spec);
    const bad = { ...spec, onset: tick + 10, effect: { err: 3 } };
    const w = createBakeWatch(rs, tick + 1);
    let verdict = 'continue';
    let t = tick;
    while (verdict === 'continue') {
      t++;
      observeBakeTick(w, telemetryAt(bad, t, 1));
      verdict = decideBake(w, { tick: t }).verdict;
    }
    expect(verdict).toBe('rollback');
    expect(t).toBeGreaterThanOrEqual(tick + 10);

    const ok = createBakeWatch(rs, tick + 1);
    let v = 'continue';
    t = tick;
    while (v === 'continue') {
      t++;
      observeBakeTick(ok, telemetryAt(spec, t, 1));
      v = decideBake(ok, { tick: t }).verdict;
    }
    expect(v).toBe('complete');
    expect(t).toBe(tick + 60);
    expect(decideBake(ok, { tick: t }).verified).toBe(true);
  });

  it('rolls back a conversion drop that starts after full promotion (KPIs are watched too)', () => {
    const spec = { ...base, seed: 3 };
    const { rs, tick } = full(spec);
    const drop = { ...spec, onset: tick + 5, effect: { conv: 0.8 } };
    const w = createBakeWatch(rs, tick + 1);
    expect(w.signals.map(s => s.kind)).toContain('kpi-proportion');
    let d = decideBake(w, { tick });
    let t = tick;
    while (d.verdict === 'continue') {
      t++;
      observeBakeTick(w, telemetryAt(drop, t, 1));
      d = decideBake(w, { tick: t });
    }
    expect(d.verdict).toBe('rollback');
    expect(d.reasons.join(' ')).toMatch(
      /conversion after full promotion: .* \(limit .*: the old rate's lower bound less the KPI's margin/,
    );
  });

  it('passes healthy releases through the watch with KPIs watched: false rollbacks stay rare', () => {
    let rollbacks = 0;
    let watched = 0;
    for (let seed = 1; watched < 20; seed++) {
      const spec = { ...base, seed };
      let reached: ReturnType<typeof full>;
      try {
        reached = full(spec);
      } catch {
        continue; // not full within the walk: nothing to watch
      }
      watched++;
      const { rs, tick } = reached;
      const w = createBakeWatch(rs, tick + 1);
      let v = 'continue';
      for (let t = tick + 1; v === 'continue'; t++) {
        observeBakeTick(w, telemetryAt(spec, t, 1));
        v = decideBake(w, { tick: t }).verdict;
      }
      if (v === 'rollback') rollbacks++;
    }
    expect(rollbacks).toBeLessThanOrEqual(1);
  });

  it('does not call a window without telemetry clean: it ends unverified', () => {
    const spec = { ...base, seed: 3 };
    const { rs, tick } = full(spec);
    const silent = createBakeWatch(rs, tick + 1);
    // ten intervals of data, then nothing for the rest of the hour
    for (let t = tick + 1; t <= tick + 10; t++)
      observeBakeTick(silent, telemetryAt(spec, t, 1));
    const d = decideBake(silent, { tick: tick + 60 });
    expect(d).toMatchObject({ verdict: 'complete', verified: false });
    expect(d.reasons[0]).toMatch(
      /ended unverified: no telemetry from the released version in 50 of its 60 intervals/,
    );
  });

  it('the closed-loop walk reaches full for a healthy release', () => {
    const r = walkRelease(base, {
      ladder: LADDER,
      stallTicks: 240,
      bakeTicks: 60,
    });
    expect(r.outcome).toBe('full');
    expect(r.tick).toBeLessThanOrEqual(100);
  });
});
