/**
 * Honest re-implementations of the peers' documented default behaviour, for the detection
 * benchmark. Each returns one verdict per tick (stopping at promote/rollback), using only data up
 * to that tick.
 */
import {
  gateMath,
  histogramQuantile,
  slowCount,
} from '@tollgate/plugin-rollouts-engine';
import type {
  CohortCounts,
  MeanKpiCounts,
  ProportionKpiCounts,
} from '@tollgate/plugin-rollouts-engine';
import type { Scenario } from './scenario';

export type Verdict = 'continue' | 'hold' | 'promote' | 'rollback';
export interface PeerLine {
  tick: number;
  verdict: Verdict;
}

const errRate = (c?: CohortCounts) =>
  c && c.requests !== undefined && c.errors !== undefined && c.requests > 0
    ? c.errors / c.requests
    : null;
function slowFrac(s: Scenario, c?: CohortCounts): number | null {
  if (!c?.latency || !s.ctx.slo.latency) return null;
  const sc = slowCount(c.latency, s.ctx.slo.latency.thresholdMs);
  return sc && sc.total > 0 ? sc.slow / sc.total : null;
}

/**
 * Argo Rollouts-style AnalysisRun: every interval (1 tick) measure the canary alone against an
 * absolute threshold (error rate ≤ 1 − availability, slow fraction ≤ 1 − latency objective);
 * `failureLimit` 0 (Argo's default) → the first failed measurement aborts (rollback); missing
 * measurements are inconclusive (pause = hold); after the step's pause (`count` = 20 successful
 * measurements, same minimum duration as the engine's default) the rollout is promoted.
 */
export function argoStyle(
  s: Scenario,
  failureLimit = 0,
  count = 20,
): PeerLine[] {
  const out: PeerLine[] = [];
  const errThr = 1 - s.ctx.slo.availability;
  const latThr = s.ctx.slo.latency ? 1 - s.ctx.slo.latency.objective : null;
  let failures = 0;
  let successes = 0;
  for (const t of s.ticks) {
    const e = errRate(t.canary);
    const l = slowFrac(s, t.canary);
    let v: Verdict = 'continue';
    if (e === null || (latThr !== null && l === null)) v = 'hold';
    else {
      const failed =
        e > errThr || (latThr !== null && l !== null && l > latThr);
      if (failed) failures++;
      else successes++;
      if (failures > failureLimit) v = 'rollback';
      else if (successes >= count) v = 'promote';
    }
    out.push({ tick: t.tick, verdict: v });
    if (v === 'promote' || v === 'rollback') break;
  }
  return out;
}

/**
 * Flagger-style canary analysis: every interval (1 tick) check the canary's request success rate
 * ≥ 99 % and request duration p99 ≤ the SLO latency threshold (Flagger's built-in metric checks
 * with its documented example thresholds); a missing metric counts as a failed check (Flagger:
 * "no values found"); `threshold` 5 consecutive failed checks → rollback; after maxWeight/stepWeight
 * = 50/10 = 5 passing iterations → promote.
 */
export function flaggerStyle(
  s: Scenario,
  threshold = 5,
  iterations = 5,
): PeerLine[] {
  const out: PeerLine[] = [];
  const latMs = s.ctx.slo.latency?.thresholdMs ?? 500;
  let failed = 0;
  let passed = 0;
  for (const t of s.ticks) {
    const e = errRate(t.canary);
    const p99 = t.canary?.latency
      ? histogramQuantile(0.99, t.canary.latency)
      : null;
    const ok = e !== null && e <= 0.01 && p99 !== null && p99 <= latMs;
    let v: Verdict = 'continue';
    if (ok) {
      failed = 0;
      passed++;
      if (passed >= iterations) v = 'promote';
    } else {
      failed++;
      v = failed >= threshold ? 'rollback' : 'hold';
    }
    out.push({ tick: t.tick, verdict: v });
    if (v === 'promote' || v === 'rollback') break;
  }
  return out;
}

/** Mann–Whitney U, normal approximation with tie correction; returns z for "x stochastically larger than y". */
export function mannWhitneyZ(x: number[], y: number[]): number {
  const n1 = x.length;
  const n2 = y.length;
  if (n1 === 0 || n2 === 0) return 0;
  const all = [...x.map(v => ({ v, g: 0 })), ...y.map(v => ({ v, g: 1 }))].sort(
    (a, b) => a.v - b.v,
  );
  const ranks = new Array<number>(all.length);
  let tieSum = 0;
  for (let i = 0; i < all.length;) {
    let j = i;
    while (j + 1 < all.length && all[j + 1].v === all[i].v) j++;
    const r = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[k] = r;
    const tcount = j - i + 1;
    tieSum += tcount ** 3 - tcount;
    i = j + 1;
  }
  let r1 = 0;
  all.forEach((a, i) => {
    if (a.g === 0) r1 += ranks[i];
  });
  const u1 = r1 - (n1 * (n1 + 1)) / 2;
  const n = n1 + n2;
  const mu = (n1 * n2) / 2;
  const sigma2 = ((n1 * n2) / 12) * (n + 1 - tieSum / (n * (n - 1)));
  if (!(sigma2 > 0)) return 0;
  // continuity correction
  const d = u1 - mu;
  return (d - 0.5 * Math.sign(d)) / Math.sqrt(sigma2);
}

type MetricFn = (c?: CohortCounts) => number | null;

function metricFns(
  s: Scenario,
): Array<{ name: string; harmUp: boolean; critical: boolean; f: MetricFn }> {
  const m: Array<{
    name: string;
    harmUp: boolean;
    critical: boolean;
    f: MetricFn;
  }> = [{ name: 'errors', harmUp: true, critical: true, f: errRate }];
  if (s.ctx.slo.latency)
    m.push({
      name: 'latency',
      harmUp: true,
      critical: true,
      f: c => slowFrac(s, c),
    });
  for (const k of s.ctx.kpis) {
    m.push({
      name: k.name,
      harmUp: k.direction === 'decrease',
      critical: false,
      f: c => {
        const v = c?.kpis?.[k.name];
        if (!v) return null;
        if (k.type === 'proportion') {
          const p = v as ProportionKpiCounts;
          return p.trials > 0 ? p.successes / p.trials : null;
        }
        const mm = v as MeanKpiCounts;
        return mm.n > 0 ? mm.sum / mm.n : null;
      },
    });
  }
  return m;
}

/**
 * Kayenta-style (NetflixACAJudge): at fixed analysis intervals (every 30 ticks) compare the
 * per-tick values of each metric in that interval, canary vs baseline, with a Mann–Whitney U test
 * (two-sided, 95 %); a metric fails when significantly worse; critical metrics (errors, latency)
 * fail the run; score = % metrics passing, < 75 (marginal) → rollback, ≥ 95 (pass) → promote.
 * Between checkpoints the canary keeps running ("continue").
 */
export function kayentaStyle(s: Scenario, interval = 30): PeerLine[] {
  const out: PeerLine[] = [];
  const metrics = metricFns(s);
  const z = gateMath.normalQuantile(0.975);
  for (const t of s.ticks) {
    let v: Verdict = 'continue';
    if (t.tick % interval === 0) {
      const window = s.ticks.filter(
        x => x.tick > t.tick - interval && x.tick <= t.tick,
      );
      let pass = 0;
      let criticalFail = false;
      for (const m of metrics) {
        const cv = window
          .map(x => m.f(x.canary))
          .filter((x): x is number => x !== null);
        const bv = window
          .map(x => m.f(x.baseline))
          .filter((x): x is number => x !== null);
        if (cv.length < 3 || bv.length < 3) continue; // no data: metric not scored (counts as not passing)
        const zz = mannWhitneyZ(cv, bv);
        const worse = m.harmUp ? zz > z : zz < -z;
        if (worse) {
          if (m.critical) criticalFail = true;
        } else pass++;
      }
      const score = (100 * pass) / metrics.length;
      if (criticalFail || score < 75) v = 'rollback';
      else if (score >= 95) v = 'promote';
      else v = 'hold';
    }
    out.push({ tick: t.tick, verdict: v });
    if (v === 'promote' || v === 'rollback') break;
  }
  return out;
}

/**
 * Peeking z-test: every tick, a one-sided z-test (α = 0.05, no correction for repeated looks) on
 * the cumulative counts of each metric (pooled two-proportion test for rates, Welch for means);
 * any significant harm → rollback; none after 20 ticks → promote. Ticks with missing data are
 * skipped (hold).
 */
export function peekingZ(
  s: Scenario,
  promoteAfter = 20,
  alpha = 0.05,
): PeerLine[] {
  const out: PeerLine[] = [];
  const zc = gateMath.normalQuantile(1 - alpha);
  type Acc = {
    cx: number;
    cn: number;
    bx: number;
    bn: number;
    cs?: number;
    css?: number;
    bs?: number;
    bss?: number;
  };
  const acc = new Map<string, Acc>();
  const lat = s.ctx.slo.latency;
  const rates: Array<{
    name: string;
    harmUp: boolean;
    get: (c: CohortCounts) => [number, number] | null;
  }> = [
    {
      name: 'errors',
      harmUp: true,
      get: c =>
        c.requests !== undefined && c.errors !== undefined
          ? [c.errors, c.requests]
          : null,
    },
  ];
  if (lat) {
    rates.push({
      name: 'latency',
      harmUp: true,
      get: c => {
        if (!c.latency) return null;
        const sc = slowCount(c.latency, lat.thresholdMs);
        return sc ? [sc.slow, sc.total] : null;
      },
    });
  }
  for (const k of s.ctx.kpis.filter(kpi => kpi.type === 'proportion')) {
    rates.push({
      name: k.name,
      harmUp: k.direction === 'decrease',
      get: c => {
        const v = c.kpis?.[k.name] as ProportionKpiCounts | undefined;
        return v && v.trials !== undefined ? [v.successes, v.trials] : null;
      },
    });
  }
  const means = s.ctx.kpis.filter(k => k.type === 'mean');
  for (const t of s.ticks) {
    let v: Verdict = 'continue';
    if (!t.canary || !t.baseline) v = 'hold';
    else {
      let reject = false;
      for (const r of rates) {
        const c = r.get(t.canary);
        const b = r.get(t.baseline);
        if (!c || !b) continue;
        const a = acc.get(r.name) ?? { cx: 0, cn: 0, bx: 0, bn: 0 };
        a.cx += c[0];
        a.cn += c[1];
        a.bx += b[0];
        a.bn += b[1];
        acc.set(r.name, a);
        const p = (a.cx + a.bx) / (a.cn + a.bn);
        const se = Math.sqrt(p * (1 - p) * (1 / a.cn + 1 / a.bn));
        if (se > 0) {
          const zz = (a.cx / a.cn - a.bx / a.bn) / se;
          if (r.harmUp ? zz > zc : zz < -zc) reject = true;
        }
      }
      for (const k of means) {
        const c = t.canary.kpis?.[k.name] as MeanKpiCounts | undefined;
        const b = t.baseline.kpis?.[k.name] as MeanKpiCounts | undefined;
        if (!c || !b || c.n === undefined || b.n === undefined) continue;
        const a = acc.get(k.name) ?? {
          cx: 0,
          cn: 0,
          bx: 0,
          bn: 0,
          cs: 0,
          css: 0,
          bs: 0,
          bss: 0,
        };
        a.cn += c.n;
        a.cs! += c.sum;
        a.css! += c.sumSq;
        a.bn += b.n;
        a.bs! += b.sum;
        a.bss! += b.sumSq;
        acc.set(k.name, a);
        if (a.cn < 2 || a.bn < 2) continue;
        const mc = a.cs! / a.cn;
        const mb = a.bs! / a.bn;
        const vc = (a.css! - a.cn * mc * mc) / (a.cn - 1);
        const vb = (a.bss! - a.bn * mb * mb) / (a.bn - 1);
        const se = Math.sqrt(vc / a.cn + vb / a.bn);
        if (se > 0) {
          const zz = (mc - mb) / se;
          if (k.direction === 'increase' ? zz < -zc : zz > zc) reject = true;
        }
      }
      if (reject) v = 'rollback';
      else if (t.tick >= promoteAfter) v = 'promote';
    }
    out.push({ tick: t.tick, verdict: v });
    if (v === 'promote' || v === 'rollback') break;
  }
  return out;
}
