/**
 * npm run bench:engine [-- --rollouts 10000] [--passes 5]
 * npm run bench:engine -- --golden-write FILE | --golden-check FILE
 *
 * Speed of the gate engine alone, per call, with the `standard` policy of
 * `bench:loop` (SLO, two KPIs; the policy and context built exactly as the
 * gate loop builds them: `gateContextFor` / `gatePolicyFor`, a new gate-policy
 * object per call) and the loop's telemetry (`telemetrySeries`: 1/5/25 %
 * canaries, 2% regressing, 1 to 20 intervals already in the step):
 *
 * - `createGateState` (as the loop calls it, and again with one policy object
 *   reused);
 * - folding one interval (`observeTickInPlace`);
 * - `decide` on a state that has just folded an interval;
 * - the steady tick of `bench:loop`: 10,000 kept states, one new interval
 *   each, then `decide` (engine time only, no telemetry or database).
 *
 * Each figure is the best of several passes (the least disturbed by other
 * processes on a shared machine), the median in brackets.
 *
 * `--golden-write` / `--golden-check`: records every `decide()` output
 * (verdict, reasons, every number of the evidence, bit for bit and in key
 * order) over a broad set of inputs (the scenarios in test/fixtures/scenarios, the
 * loop's telemetry, the engine tests' simulations, several policies, stale
 * and repeated decisions, cloned and JSON-revived states), and checks a later
 * engine against the record: an optimisation must not change a single number.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  cloneGateState,
  createGateState,
  decide,
  evaluateGate,
  observeTick,
  observeTickInPlace,
  type GateContext,
  type GateDecision,
  type GatePolicyInput,
  type GateState,
  type TelemetryTick,
} from '@tollgate/plugin-rollouts-engine';
import {
  simCtx,
  simulate,
  type SimSpec,
} from '@tollgate/plugin-rollouts-engine/testkit';
import {
  gateContextFor,
  gatePolicyFor,
} from '@tollgate/plugin-rollouts-backend/testUtils';
import { benchCtx, benchTick } from './gates';
import { loadScenario } from './scenario';
import {
  benchPolicies,
  LOOP_SEED,
  mulberry32,
  seriesLibrary,
  TICK_SECONDS,
} from './seed';

// --- the loop's rollouts ------------------------------------------------------------------------

interface BenchRollout {
  ctx: GateContext;
  /** the interval counts of its step; `inStep` of them are already folded, the next is the new one */
  series: TelemetryTick[];
  inStep: number;
}

/**
 * Rollouts shaped like bench:loop's (same generator, same library of series); `extra` more
 * intervals per series for a benchmark's later passes.
 */
export function loopRollouts(n: number, extra = 0): BenchRollout[] {
  const rng = mulberry32(7);
  const library = seriesLibrary(rng, extra);
  const policy = benchPolicies().named('standard');
  const out: BenchRollout[] = [];
  for (let i = 0; i < n; i++) {
    const weight = [1, 5, 25][Math.floor(rng() * 3)];
    const regressing = rng() < LOOP_SEED.regressingShare;
    const variants = library.get(`${weight}:${regressing}`)!;
    const ctx = gateContextFor(
      {
        entityRef: `component:default/svc-${i % 1000}`,
        currentWeight: weight,
      } as any,
      policy,
      TICK_SECONDS,
    );
    out.push({
      ctx,
      series: variants[Math.floor(rng() * variants.length)],
      inStep: 1 + Math.floor(rng() * LOOP_SEED.maxTicksInStep),
    });
  }
  return out;
}

// --- the benchmark ------------------------------------------------------------------------------

function bench(rollouts: number, passes: number) {
  const policy = benchPolicies().named('standard');
  const rs = loopRollouts(rollouts, 2 * passes);
  const sharedGatePolicy = gatePolicyFor(policy);
  let sink = 0;
  const best = (xs: number[]) => Math.min(...xs);
  const median = (xs: number[]) =>
    [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  const fig = (xs: number[], per: number) =>
    `${((best(xs) / per) * 1000).toFixed(1)} µs [${((median(xs) / per) * 1000).toFixed(1)}]`;

  // warm-up (JIT)
  for (let i = 0; i < Math.min(2000, rollouts); i++) {
    const r = rs[i];
    const s = createGateState(r.ctx, gatePolicyFor(policy));
    for (let t = 0; t <= r.inStep; t++) observeTickInPlace(s, r.series[t]);
    sink += decide(s).score;
  }

  // cold: what tick 1 of bench:loop does (a state per rollout, built from the step's intervals, decided)
  const create: number[] = [];
  const createShared: number[] = [];
  const coldFold: number[] = [];
  const cold: number[] = [];
  let kept: GateState[] = [];
  for (let pass = 0; pass < passes; pass++) {
    // createGateState as the loop calls it: a context and a new gate-policy object per rollout
    const args = rs.map(() => gatePolicyFor(policy));
    let t0 = performance.now();
    const states = rs.map((r, i) => createGateState(r.ctx, args[i]));
    create.push(performance.now() - t0);
    // the same, one policy object for every rollout
    t0 = performance.now();
    for (const r of rs)
      sink += createGateState(r.ctx, sharedGatePolicy).signals.length;
    createShared.push(performance.now() - t0);
    let folded = 0;
    t0 = performance.now();
    for (let i = 0; i < rs.length; i++) {
      const r = rs[i];
      for (let t = 0; t < r.inStep; t++)
        observeTickInPlace(states[i], r.series[t]);
      folded += r.inStep;
    }
    coldFold.push((performance.now() - t0) / (folded / rs.length));
    t0 = performance.now();
    for (const s of states) sink += decide(s).score;
    cold.push(performance.now() - t0);
    kept = states;
  }

  // steady: the kept states (the last pass's), each pass two new intervals per rollout: the first
  // folded for all, then decided for all (per-call figures); the second as the loop does it,
  // fold then decide rollout by rollout (the tick's engine time)
  const fold: number[] = [];
  const decideMs: number[] = [];
  const tick: number[] = [];
  const tickCpu: number[] = [];
  for (let pass = 0; pass < passes; pass++) {
    let t0 = performance.now();
    for (let i = 0; i < rs.length; i++)
      observeTickInPlace(kept[i], rs[i].series[rs[i].inStep + 2 * pass]);
    fold.push(performance.now() - t0);
    t0 = performance.now();
    for (const s of kept) sink += decide(s).score;
    decideMs.push(performance.now() - t0);

    const c0 = process.cpuUsage();
    t0 = performance.now();
    for (let i = 0; i < rs.length; i++) {
      observeTickInPlace(kept[i], rs[i].series[rs[i].inStep + 2 * pass + 1]);
      sink += decide(kept[i]).score;
    }
    tick.push(performance.now() - t0);
    const c1 = process.cpuUsage(c0);
    tickCpu.push((c1.user + c1.system) / 1000);
  }
  const n = rs.length;
  const signals = kept[0].signals.length;
  console.log(
    `gate engine, standard policy (${signals} signals), ${n.toLocaleString('en-US')} rollouts shaped like bench:loop's; best of ${passes} passes [median], per call:`,
  );
  console.log(
    `  createGateState (loop: new gate-policy object each): ${fig(create, n)}`,
  );
  console.log(
    `  createGateState (one policy object reused):          ${fig(createShared, n)}`,
  );
  console.log(
    `  fold one interval (observeTickInPlace), cold step:   ${fig(coldFold, n)}`,
  );
  console.log(
    `  decide on a cold state (just built from the step):   ${fig(cold, n)}`,
  );
  console.log(
    `  fold one new interval into a kept state:             ${fig(fold, n)}`,
  );
  console.log(
    `  decide after one new interval:                       ${fig(decideMs, n)}`,
  );
  console.log(
    `steady tick (${n.toLocaleString('en-US')} kept states, one new interval each, fold then decide): ${best(tick).toFixed(0)} ms wall [median ${median(tick).toFixed(0)} ms], ${best(tickCpu).toFixed(0)} ms process CPU (best)`,
  );
  console.log(
    `  ${((best(tick) / n) * 1000).toFixed(1)} µs per rollout; target ≤ 1000 ms engine time per tick: ${best(tick) <= 1000 ? 'met' : 'missed'}`,
  );
  if (sink === 42) console.log('');
}

// --- the golden record --------------------------------------------------------------------------

/** Every number bit for bit (String() round-trips a double; -0, ±Infinity and NaN spelt out), key order kept. */
export function canonical(d: unknown): string {
  return JSON.stringify(d, (_k, v) => {
    if (typeof v === 'number')
      return Object.is(v, -0) ? 'n:-0' : `n:${String(v)}`;
    if (v === undefined) return 'u:';
    return v;
  });
}

interface GoldenCase {
  name: string;
  run: () => GateDecision[];
}

const STANDARD_GATE = (() =>
  gatePolicyFor(benchPolicies().named('standard')) as GatePolicyInput)();
const VARIANT_POLICIES: Array<[string, GatePolicyInput | undefined]> = [
  ['default', undefined],
  ['standard', STANDARD_GATE],
  [
    'variant-a',
    {
      alpha: 0.1,
      alphaSplit: 'equal',
      niAlpha: 0.1,
      errorRate: { margin: 0.2, mixtureScale: 1, deteriorationMargin: 0.05 },
      latency: { budgetFraction: 0.5, weight: 1 },
      kpiDefaults: { margin: 0.1, mixtureScale: 0.3, guardrail: true },
      kpis: [{ name: 'order_value', margin: 0.02, deteriorationMargin: 0.01 }],
      srm: { tolerance: 0.05, alpha: 0.01, mixtureScale: 0.3 },
      freshness: { maxMissingTicks: 2 },
      burn: {
        canaryAlertAction: 'hold',
        promoteMaxBurn: 0.5,
        guardAlpha: 0.05,
        windows: [
          { name: 'fast', longSeconds: 600, shortSeconds: 120, factor: 5 },
        ],
      },
      promote: {
        minDurationSeconds: 300,
        minCanaryRequests: 100,
        requireRubric: 'ready',
        minScore: 0.3,
        recentWindowSeconds: 300,
        recentAlpha: 0.2,
      },
    },
  ],
  [
    'variant-b',
    {
      latency: { enabled: false },
      kpis: [{ name: 'conversion', enabled: false }],
      burn: { enabled: false },
      srm: { enabled: false },
      promote: { recentWindowSeconds: 0, minDurationSeconds: 0 },
      countDefaults: { weight: 0 },
    },
  ],
];

function replayCase(
  name: string,
  ctx: GateContext,
  ticks: TelemetryTick[],
  policy: GatePolicyInput | undefined,
  salt: number,
): GoldenCase {
  return {
    name,
    run: () => {
      const out: GateDecision[] = [];
      let state = createGateState(ctx, policy);
      for (const t of ticks) {
        observeTickInPlace(state, t);
        out.push(decide(state, { tick: t.tick }));
        if ((t.tick + salt) % 7 === 0)
          out.push(decide(state, { tick: t.tick + 3 })); // stale
        if ((t.tick + salt) % 11 === 0) out.push(decide(state)); // again, same tick
        if ((t.tick + salt) % 13 === 0) state = cloneGateState(state);
        if ((t.tick + salt) % 17 === 0)
          state = JSON.parse(JSON.stringify(state));
        if ((t.tick + salt) % 19 === 0) state = observeTick(state, t); // an old tick: ignored
      }
      if (ticks.length) out.push(evaluateGate(ctx, ticks, policy));
      return out;
    },
  };
}

function goldenCases(): GoldenCase[] {
  const cases: GoldenCase[] = [];
  const dir = resolve(__dirname, '../fixtures/scenarios');
  const files = existsSync(dir)
    ? readdirSync(dir)
        .filter(f => f.endsWith('.jsonl'))
        .sort()
    : [];
  files.forEach((f, i) => {
    const s = loadScenario(join(dir, f));
    for (const [pn, p] of VARIANT_POLICIES)
      cases.push(replayCase(`scenario ${f} / ${pn}`, s.ctx, s.ticks, p, i));
  });
  // the loop's telemetry and contexts, standard policy and the others
  const rs = loopRollouts(300);
  rs.forEach((r, i) => {
    const [pn, p] = VARIANT_POLICIES[i % VARIANT_POLICIES.length];
    cases.push(
      replayCase(
        `loop rollout ${i} / ${pn}`,
        r.ctx,
        r.series,
        i % 2 ? STANDARD_GATE : p,
        i,
      ),
    );
  });
  // six signals with count signals (bench:gates)
  for (let k = 0; k < 8; k++) {
    const rng = mulberry32(1000 + k);
    const traffic = 2000 + Math.floor(rng() * 40000);
    const ticks = Array.from({ length: 70 }, (_, t) =>
      benchTick(rng, t + 1, traffic),
    );
    if (k % 2)
      for (const t of ticks) if (t.tick % 9 === 0) delete t.canary!.counts; // a missing count signal
    const [pn, p] = VARIANT_POLICIES[k % VARIANT_POLICIES.length];
    cases.push(replayCase(`gates ctx ${k} / ${pn}`, benchCtx, ticks, p, k));
  }
  // the engine tests' simulations
  const base: SimSpec = {
    ticks: 60,
    traffic: 20000,
    share: 0.05,
    errRate: 0.002,
    slow: 0.001,
    conv: 0.03,
  };
  const specs: SimSpec[] = [
    base,
    { ...base, errMult: 5 },
    { ...base, share: 0.25, convMult: 0.5 },
    { ...base, share: 0.25 },
    { ...base, share: 0.25, ticks: 80, canaryGap: [25, 80] },
    {
      ...base,
      share: 0.25,
      dropField: { tick: 40, cohort: 'canary', field: 'latency' },
    },
    { ...base, observedShare: 0.075 },
    { ...base, ticks: 80, incidentFrom: 20, incidentMult: 10 },
    { ...base, share: 0.25, errRate: 0, slow: 0.0005 },
    { ...base, share: 0.25, ticks: 90, regressionFrom: 40, slowMult: 3 },
    {
      ...base,
      ticks: 400,
      canaryGap: [100, 130],
      dropField: { tick: 200, cohort: 'baseline', field: 'errors' },
    },
    {
      ticks: 100,
      traffic: 4000,
      share: 0.01,
      errRate: 0.003,
      slow: 0.002,
      conv: 0.05,
    },
    {
      ticks: 100,
      traffic: 300,
      share: 0.05,
      errRate: 0.0001,
      slow: 0.0001,
      conv: 0.01,
    },
  ];
  specs.forEach((spec, k) => {
    for (const [pn, p] of VARIANT_POLICIES) {
      const ticks = simulate(spec, 100 + k);
      const gappy = k % 3 === 0 ? ticks.filter(t => t.tick % 23 !== 0) : ticks; // ticks that never arrived
      cases.push(
        replayCase(
          `sim ${k} / ${pn}`,
          simCtx(spec.share, k % 4 !== 3),
          gappy,
          p,
          k,
        ),
      );
      cases.push(
        replayCase(
          `sim ${k} / ${pn} / tick 30 s`,
          { ...simCtx(spec.share), tickSeconds: 30 },
          gappy,
          p,
          k + 1,
        ),
      );
    }
  });
  // edge cases: no telemetry, empty cohorts, zero events, broken histograms
  cases.push({
    name: 'empty state',
    run: () => [
      decide(createGateState(simCtx(0.05))),
      decide(createGateState(simCtx(0.05)), { tick: 5 }),
    ],
  });
  cases.push(
    replayCase(
      'odd ticks',
      simCtx(0.2),
      [
        {
          tick: 1,
          baseline: { requests: 0, errors: 0 },
          canary: { requests: 0, errors: 0 },
        },
        {
          tick: 2,
          baseline: { requests: 100, errors: 0 },
          canary: {
            requests: 10,
            errors: 0,
            latency: { le: [1, 2], counts: [1, 2] },
          },
        },
        {
          tick: 4,
          baseline: { requests: 100, errors: 200 },
          canary: { requests: 10, errors: 1 },
        },
        { tick: 5, canary: { requests: 10, errors: 10 } },
        {
          tick: 6,
          baseline: {
            requests: 1000,
            errors: 0,
            latency: { le: [100, 250, Infinity], counts: [5, 6, 1000] },
          },
          canary: {
            requests: 100,
            errors: 0,
            latency: { le: [100, 250, Infinity], counts: [5, 6, 100] },
          },
        },
      ],
      undefined,
      0,
    ),
  );
  return cases;
}

function goldenRecord(): Record<string, string[]> {
  const rec: Record<string, string[]> = {};
  for (const c of goldenCases()) {
    rec[c.name] = c
      .run()
      .map(d =>
        createHash('sha256').update(canonical(d)).digest('hex').slice(0, 24),
      );
  }
  return rec;
}

function golden(mode: 'write' | 'check', file: string): number {
  const t0 = performance.now();
  const rec = goldenRecord();
  const cases = Object.keys(rec).length;
  const decisions = Object.values(rec).reduce((a, x) => a + x.length, 0);
  const ms = performance.now() - t0;
  if (mode === 'write') {
    writeFileSync(file, JSON.stringify(rec));
    console.log(
      `golden record: ${cases} cases, ${decisions} decisions written to ${file} (${ms.toFixed(0)} ms)`,
    );
    return 0;
  }
  const want: Record<string, string[]> = JSON.parse(readFileSync(file, 'utf8'));
  let bad = 0;
  for (const name of new Set([...Object.keys(want), ...Object.keys(rec)])) {
    const a = want[name] ?? [];
    const b = rec[name] ?? [];
    if (a.length !== b.length || a.some((h, i) => h !== b[i])) {
      bad++;
      const at = a.findIndex((h, i) => h !== b[i]);
      if (bad <= 20)
        console.log(
          `  DIFFERS: ${name} (decision ${at >= 0 ? at : Math.min(a.length, b.length)} of ${a.length} / ${b.length})`,
        );
    }
  }
  console.log(
    `golden check: ${cases} cases, ${decisions} decisions: ${bad ? `${bad} cases differ` : 'every decision bit-identical'} (${ms.toFixed(0)} ms)`,
  );
  return bad ? 1 : 0;
}

function main(): number {
  const args = process.argv.slice(2).filter(a => a !== '--');
  const opt = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  if (opt('--golden-write')) return golden('write', opt('--golden-write')!);
  if (opt('--golden-check')) return golden('check', opt('--golden-check')!);
  bench(Number(opt('--rollouts') ?? 10_000), Number(opt('--passes') ?? 5));
  return 0;
}

if (require.main === module) process.exitCode = main();
