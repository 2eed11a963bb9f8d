/**
 * The engine's caches and fast paths (parsed-policy cache, per-state plan, share-term memo) must
 * not change a single number: decisions are compared bit for bit (every number spelt out, key
 * order kept) with decisions computed without any cache, and pinned to a digest recorded from
 * the engine before the caches were added. The full record (bench scenarios, the loop's
 * telemetry, ~65,000 decisions) is `npm run bench:engine -- --golden-check FILE`.
 */
import { createHash } from 'node:crypto';
import {
  cloneGateState,
  createGateState,
  decide,
  evaluateGate,
  observeTick,
  observeTickInPlace,
} from './gate';
import { parseGatePolicy, type GatePolicyInput } from './policy';
import type { GateDecision, TelemetryTick } from './types';
import { simCtx, simulate, type SimSpec } from './__testkit__/sim';

/** every number bit for bit (-0, ±Infinity, NaN spelt out), key order kept */
function canonical(d: unknown): string {
  return JSON.stringify(d, (_k, v) => {
    if (typeof v === 'number')
      return Object.is(v, -0) ? 'n:-0' : `n:${String(v)}`;
    if (v === undefined) return 'u:';
    return v;
  });
}

const base: SimSpec = {
  ticks: 40,
  traffic: 20000,
  share: 0.05,
  errRate: 0.002,
  slow: 0.001,
  conv: 0.03,
};
const SPECS: SimSpec[] = [
  base,
  { ...base, errMult: 5 },
  { ...base, share: 0.25, convMult: 0.5 },
  { ...base, share: 0.25, ticks: 50, canaryGap: [25, 30] },
  {
    ...base,
    share: 0.25,
    dropField: { tick: 20, cohort: 'canary', field: 'latency' },
  },
  { ...base, observedShare: 0.075 },
  { ...base, ticks: 50, incidentFrom: 20, incidentMult: 10 },
  { ...base, share: 0.25, errRate: 0, slow: 0.0005 },
  {
    ticks: 40,
    traffic: 300,
    share: 0.05,
    errRate: 0.0001,
    slow: 0.0001,
    conv: 0.01,
  },
];
// The KPI promotion brake (promote.kpiLeanAlpha) came after the record and changes verdicts on
// purpose; with it off the engine must still match the record bit for bit.
const POLICIES: Array<GatePolicyInput | undefined> = [
  { promote: { kpiLeanAlpha: 0 } },
  {
    alpha: 0.1,
    alphaSplit: 'equal',
    errorRate: { margin: 0.2, mixtureScale: 1, deteriorationMargin: 0.05 },
    kpiDefaults: { margin: 0.1, guardrail: true },
    srm: { tolerance: 0.05 },
    freshness: { maxMissingTicks: 2 },
    burn: {
      canaryAlertAction: 'hold',
      windows: [
        { name: 'fast', longSeconds: 600, shortSeconds: 120, factor: 5 },
      ],
    },
    promote: {
      minDurationSeconds: 300,
      minCanaryRequests: 100,
      recentAlpha: 0.2,
      kpiLeanAlpha: 0,
    },
  },
];

/** decisions tick by tick (with stale and repeated decisions) over every spec and policy */
function runAll(): Array<{
  name: string;
  decisions: GateDecision[];
  ticks: TelemetryTick[];
  policy?: GatePolicyInput;
}> {
  const out = [];
  for (const [k, spec] of SPECS.entries()) {
    for (const [j, policy] of POLICIES.entries()) {
      const ticks = simulate(spec, 500 + k).filter(
        t => k % 3 !== 0 || t.tick % 13 !== 0,
      );
      const ctx = simCtx(spec.share, k !== 4);
      const state = createGateState(ctx, policy);
      const decisions: GateDecision[] = [];
      for (const t of ticks) {
        observeTickInPlace(state, t);
        decisions.push(decide(state));
        if (t.tick % 7 === 0)
          decisions.push(decide(state, { tick: t.tick + 2 }));
      }
      out.push({ name: `spec ${k} policy ${j}`, decisions, ticks, policy });
    }
  }
  return out;
}

describe('engine fast paths are bit-identical', () => {
  it('matches the digest recorded from the engine before the caches', () => {
    const h = createHash('sha256');
    let n = 0;
    for (const c of runAll()) {
      for (const d of c.decisions) {
        h.update(canonical(d));
        n++;
      }
    }
    expect(n).toBe(840);
    // recorded with the engine as it was before the parsed-policy cache, the per-state plan and
    // the share-term memo; update only for an intended change of the engine's output
    expect(h.digest('hex')).toBe(
      '39833332c0c801376d42ec056ba9ec4899462c0665f38ad87307d5e999d18c0d',
    );
  });

  it('a kept state, its clones and its JSON revival decide exactly as a fresh state does', () => {
    for (const c of runAll().slice(0, 6)) {
      const ctx = simCtx(0.05);
      let kept = createGateState(ctx, c.policy);
      const ticks = c.ticks;
      for (let i = 0; i < ticks.length; i++) {
        observeTickInPlace(kept, ticks[i]);
        const fast = canonical(decide(kept));
        expect(canonical(decide(kept))).toBe(fast); // repeated
        expect(canonical(decide(cloneGateState(kept)))).toBe(fast);
        expect(canonical(decide(JSON.parse(JSON.stringify(kept))))).toBe(fast);
        // from scratch: a new state, a new plan, a policy object never seen
        expect(
          canonical(
            evaluateGate(
              ctx,
              ticks.slice(0, i + 1),
              c.policy ? JSON.parse(JSON.stringify(c.policy)) : undefined,
            ),
          ),
        ).toBe(fast);
        if (i % 5 === 4) kept = observeTick(kept, ticks[i]); // pure copy, old tick ignored
      }
    }
  });

  it('a state whose policy or context object is replaced gets a new plan', () => {
    const ticks = simulate({ ...base, errMult: 3 }, 7);
    const a = createGateState(simCtx(0.05));
    for (const t of ticks.slice(0, 20)) observeTickInPlace(a, t);
    decide(a);
    // same windowSums.lengths array, different policy and context (not the window lengths)
    const b = cloneGateState(a);
    b.policy = {
      ...b.policy,
      alpha: 0.2,
      promote: { ...b.policy.promote, minDurationSeconds: 60 },
    };
    b.ctx = {
      ...b.ctx,
      expectedCanaryShare: 0.06,
      slo: { ...b.ctx.slo, availability: 0.99 },
    };
    for (const t of ticks.slice(20, 25)) observeTickInPlace(b, t);
    const ref = JSON.parse(JSON.stringify(b));
    expect(canonical(decide(b))).toBe(canonical(decide(ref)));
    expect(canonical(decide(a))).toBe(
      canonical(decide(JSON.parse(JSON.stringify(a)))),
    );
  });

  it('the parsed-policy cache returns fresh, equal copies and never caches an invalid policy', () => {
    const input: GatePolicyInput = {
      alpha: 0.01,
      kpis: [{ name: 'conversion', margin: 0.02 }],
      burn: { promoteMaxBurn: Infinity },
    };
    const s1 = createGateState(simCtx(0.05), input);
    const s2 = createGateState(
      simCtx(0.05),
      JSON.parse(JSON.stringify({ ...input, burn: {} })) as GatePolicyInput,
    );
    const s3 = createGateState(simCtx(0.05), input);
    expect(JSON.stringify(s1.policy)).toBe(
      JSON.stringify(parseGatePolicy(input)),
    );
    expect(s1.policy).toEqual(parseGatePolicy(input));
    expect(s3.policy).not.toBe(s1.policy);
    expect(s3.policy.burn.windows).not.toBe(s1.policy.burn.windows);
    s1.policy.alpha = 0.2;
    expect(s3.policy.alpha).toBe(0.01);
    expect(createGateState(simCtx(0.05), input).policy.alpha).toBe(0.01);
    expect(s2.policy.burn.promoteMaxBurn).toBe(1);
    // invalid: the same error every time, also after a valid policy of similar content was cached
    const bad = {
      ...input,
      burn: { promoteMaxBurn: null },
    } as unknown as GatePolicyInput;
    for (let i = 0; i < 2; i++)
      expect(() => createGateState(simCtx(0.05), bad)).toThrow(
        /burn\.promoteMaxBurn/,
      );
    expect(() =>
      createGateState(simCtx(0.05), {
        alpha: 0.05,
        bogus: 1,
      } as unknown as GatePolicyInput),
    ).toThrow(/bogus: unknown field/);
    expect(() =>
      createGateState(simCtx(0.05), {
        alpha: 0.05,
        bogus: () => 1,
      } as unknown as GatePolicyInput),
    ).toThrow(/bogus: unknown field/);
  });
});
