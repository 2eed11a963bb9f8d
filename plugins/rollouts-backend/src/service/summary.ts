import type {
  RolloutsSummary,
  ServiceSummary,
} from '@tollgate/plugin-rollouts-common';
import type { RolloutsStore, StoredRollout } from '../database/RolloutsStore';

const DAY = 86_400_000;

function mean(xs: number[]): number | null {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
}

/** Reads a number at a path of unknown evidence, or undefined. */
function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** Worst burn rate in an evidence snapshot (service-wide or canary, any window). */
export function worstBurnRate(evidence: Record<string, unknown> | undefined): number | undefined {
  const burn = (evidence as any)?.checks?.burn;
  if (!burn || typeof burn !== 'object') return undefined;
  let worst: number | undefined;
  const visit = (v: unknown) => {
    if (!v || typeof v !== 'object') return;
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (/burn.?rate/i.test(k) || k === 'rate') {
        const n = num(x);
        if (n !== undefined) worst = worst === undefined ? n : Math.max(worst, n);
      } else if (typeof x === 'object') visit(x);
    }
  };
  visit(burn);
  return worst;
}

/** Relative canary–baseline deltas of the KPIs in an evidence snapshot. */
export function kpiDeltas(evidence: Record<string, unknown> | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  const signals = (evidence as any)?.signals;
  if (!Array.isArray(signals)) return out;
  for (const s of signals) {
    if (!s || (s.kind !== 'kpi' && s.kind !== 'proportion' && s.kind !== 'mean' && !String(s.kind ?? '').startsWith('kpi'))) continue;
    const base = num(s.baseline?.estimate ?? s.baseline);
    const canary = num(s.canary?.estimate ?? s.canary);
    const rel = num(s.relativeDifference);
    if (rel !== undefined) out[s.name] = rel;
    else if (base !== undefined && canary !== undefined && base !== 0) out[s.name] = (canary - base) / base;
  }
  return out;
}

/**
 * Portfolio figures for the dashboard, from the rollouts and the decision
 * log of the last `days` days, restricted to `entityRefs` when given.
 */
export async function computeSummary(
  store: RolloutsStore,
  options: { days: number; entityRefs?: string[]; now?: Date },
): Promise<RolloutsSummary> {
  const now = options.now ?? new Date();
  const since = new Date(now.getTime() - options.days * DAY).toISOString();
  const rollouts = await store.listRollouts({ entityRefs: options.entityRefs, finishedSince: since });
  const active = rollouts.filter(r => !r.finishedAt);
  const finished = rollouts.filter(r => r.finishedAt && r.finishedAt >= since);
  const promoted = finished.filter(r => r.status === 'promoted');
  const rolledBack = finished.filter(r => r.status === 'rolled-back');
  const failedish = finished.filter(r => r.status !== 'promoted');

  const ttr = rolledBack.map(r => (Date.parse(r.finishedAt!) - Date.parse(r.startedAt)) / 60_000);
  const lag = rolledBack.map(r => (Date.parse(r.finishedAt!) - Date.parse(r.stepStartedAt)) / 60_000);

  const byService = new Map<string, StoredRollout[]>();
  for (const r of rollouts) {
    const list = byService.get(r.entityRef) ?? [];
    list.push(r);
    byService.set(r.entityRef, list);
  }
  const services: ServiceSummary[] = [...byService.entries()].map(([entityRef, list]) => {
    const burns = list.filter(r => !r.finishedAt).map(r => worstBurnRate(r.evidence)).filter((x): x is number => x !== undefined);
    const kpiSums: Record<string, number[]> = {};
    for (const r of list.filter(x => x.finishedAt)) {
      for (const [k, v] of Object.entries(kpiDeltas(r.evidence))) (kpiSums[k] ??= []).push(v);
    }
    return {
      entityRef,
      activeRollouts: list.filter(r => !r.finishedAt).length,
      finishedRollouts: list.filter(r => r.finishedAt).length,
      rolledBack: list.filter(r => r.status === 'rolled-back').length,
      budgetBurnRate: burns.length ? Math.max(...burns) : null,
      kpiImpact: Object.fromEntries(Object.entries(kpiSums).map(([k, v]) => [k, mean(v)!])),
    };
  });
  services.sort((a, b) => a.entityRef.localeCompare(b.entityRef));

  const trendMap = new Map<string, { promoted: number; rolledBack: number; other: number }>();
  for (let d = options.days - 1; d >= 0; d--) {
    trendMap.set(new Date(now.getTime() - d * DAY).toISOString().slice(0, 10), { promoted: 0, rolledBack: 0, other: 0 });
  }
  for (const r of finished) {
    const bucket = trendMap.get(r.finishedAt!.slice(0, 10));
    if (!bucket) continue;
    if (r.status === 'promoted') bucket.promoted++;
    else if (r.status === 'rolled-back') bucket.rolledBack++;
    else bucket.other++;
  }

  return {
    windowDays: options.days,
    generatedAt: now.toISOString(),
    activeRollouts: active.length,
    finishedRollouts: finished.length,
    promoted: promoted.length,
    rolledBack: rolledBack.length,
    successRate: finished.length ? promoted.length / finished.length : null,
    changeFailureRate: finished.length ? failedish.length / finished.length : null,
    meanTimeToRollbackMinutes: mean(ttr),
    meanDetectionLagMinutes: mean(lag),
    services,
    trend: [...trendMap.entries()].map(([day, v]) => ({ day, ...v })),
  };
}
