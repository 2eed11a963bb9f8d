/** Burn rates over the multiwindow SLO alerts, the promotion guard, the canary-only burn check. */
import { poissonUpperTail } from './math';
import type { StatePlan } from './plan';
import { addRow, GateState } from './state';
import type { BurnEvidence, BurnWindowEvidence, BurnWindows } from './types';

/** Window sums per view (0 canary, 1 baseline, 2 service) × [req, err, nA, latN, slow, nL]. */
export type WindowSums = Map<number, Float64Array>;

/** Window sums recomputed from the history (used when deciding at a tick later than the last observed). */
export function computeWindowSums(
  state: GateState,
  nowTick: number,
  lengths: number[],
): WindowSums {
  const sorted = [...new Set(lengths)].sort((x, y) => x - y);
  const out: WindowSums = new Map();
  const acc = new Float64Array(18);
  let wi = 0;
  const h = state.history;
  for (let i = h.length - 1; i >= 0 && wi < sorted.length; i--) {
    const r = h[i];
    if (r[0] > nowTick) continue;
    while (wi < sorted.length && r[0] <= nowTick - sorted[wi]) {
      out.set(sorted[wi], acc.slice());
      wi++;
    }
    if (wi >= sorted.length) break;
    addRow(acc, r, 1);
  }
  for (; wi < sorted.length; wi++) out.set(sorted[wi], acc.slice());
  return out;
}

export function burnWindows(
  state: GateState,
  plan: StatePlan,
  nowTick: number,
  view: 0 | 1 | 2,
  sums: ArrayLike<number>[],
): BurnWindows {
  const budgetA = plan.budgetA;
  const budgetL = plan.budgetL;
  const age = state.firstTick === null ? 0 : nowTick - state.firstTick + 1;
  const o = view * 6;
  const availability = burnWindowList(plan, sums, age, o, budgetA);
  const latency = budgetL
    ? burnWindowList(plan, sums, age, o + 3, budgetL)
    : [];
  const last = sums[plan.oneIdx];
  return {
    availability,
    latency,
    alerting: anyAlerting(availability) || anyAlerting(latency),
    recentBurn: last[o] > 0 ? last[o + 1] / last[o] / budgetA : null,
  };
}

export function anyAlerting(ws: BurnWindowEvidence[]): boolean {
  for (let i = 0; i < ws.length; i++) if (ws[i].alerting) return true;
  return false;
}

export function burnWindowList(
  plan: StatePlan,
  sums: ArrayLike<number>[],
  age: number,
  k: number,
  budget: number | null,
): BurnWindowEvidence[] {
  const out: BurnWindowEvidence[] = [];
  for (const w of plan.windows) {
    const L = sums[w.li];
    const S = sums[w.si];
    const lr = L[k] > 0 ? L[k + 1] / L[k] : null;
    const sr = S[k] > 0 ? S[k + 1] / S[k] : null;
    const longBurn = lr !== null && budget ? lr / budget : null;
    const shortBurn = sr !== null && budget ? sr / budget : null;
    out.push({
      name: w.name,
      factor: w.factor,
      longSeconds: w.longSeconds,
      shortSeconds: w.shortSeconds,
      longBurn,
      shortBurn,
      longTicksUsed: L[k + 2],
      shortTicksUsed: S[k + 2],
      partial: age < w.lt,
      // the short window must be complete (a young rollout's long window uses what it has)
      alerting:
        longBurn !== null &&
        shortBurn !== null &&
        age >= w.stt &&
        longBurn >= w.factor &&
        shortBurn >= w.factor,
    });
  }
  return out;
}

export function guardCheck(
  state: GateState,
  plan: StatePlan,
  nowTick: number,
): BurnEvidence['guard'] {
  const p = state.policy.burn;
  let best: BurnEvidence['guard'] = {
    fired: false,
    burn: null,
    pValue: null,
    window: null,
  };
  const h = state.history;
  const gw = plan.guard.windows;
  for (let wi = 0; wi < gw.length; wi++) {
    const w = gw[wi];
    for (const q of plan.guard.sli) {
      const ia = q.idx[0];
      const ie = q.idx[1];
      let n = 0;
      let x = 0;
      for (let i = h.length - 1; i >= 0; i--) {
        const row = h[i];
        if (row[0] <= nowTick - w) break;
        const a = row[ia];
        const e = row[ie];
        if (a !== null && e !== null) {
          n += a;
          x += e;
        }
      }
      if (n <= 0 || !(q.budget > 0)) continue;
      const burn = x / n / q.budget;
      if (burn <= p.promoteMaxBurn) continue;
      const pv = poissonUpperTail(x, p.promoteMaxBurn * q.budget * n);
      if (best.pValue === null || pv < best.pValue) {
        best = {
          fired: pv < p.guardAlpha,
          burn,
          pValue: pv,
          window: q.labels[wi],
        };
      }
    }
  }
  return best;
}

/**
 * Is the canary's count of bad events in the window significantly above what the baseline's rate
 * predicts (Poisson tail, p < 0.001)? Keeps a small canary's burn alert from firing on noise.
 */
export function canaryExcessSignificant(
  state: GateState,
  nowTick: number,
  sli: 'availability' | 'latency',
  wTicks: number,
): boolean {
  const [bn, bx, cn, cx] = sli === 'availability' ? [1, 2, 5, 6] : [3, 4, 7, 8];
  let sbn = 0;
  let sbx = 0;
  let scn = 0;
  let scx = 0;
  for (let i = state.history.length - 1; i >= 0; i--) {
    const r = state.history[i];
    if (r[0] <= nowTick - wTicks) break;
    if (r[bn] === null || r[bx] === null || r[cn] === null || r[cx] === null)
      continue;
    sbn += r[bn] as number;
    sbx += r[bx] as number;
    scn += r[cn] as number;
    scx += r[cx] as number;
  }
  if (scn <= 0 || sbn <= 0) return false;
  const expected = (Math.max(sbx, 0.5) / sbn) * scn;
  return poissonUpperTail(scx, expected) < 0.001;
}
