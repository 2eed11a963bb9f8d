import type {
  RolloutIncident,
  RolloutsSummary,
  ServiceSummary,
} from '@tollgate/plugin-rollouts-common';
import { createHash } from 'node:crypto';
import type { RolloutFigures, RolloutsStore } from '../database/RolloutsStore';

const DAY = 86_400_000;

/** How long a computed summary is served again, unless this replica wrote meanwhile. */
export const SUMMARY_TTL_MS = 5_000;
const MAX_CACHED = 200;

function mean(xs: number[]): number | null {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
}

/** `localeCompare` with the default locale, without building a collator per comparison. */
const collator = new Intl.Collator();

interface CacheEntry {
  at: number;
  generation: number;
  summary: Promise<RolloutsSummary>;
  /** A newer computation of the same summary is under way (the entry is served meanwhile). */
  refreshing?: boolean;
}
const caches = new WeakMap<RolloutsStore, Map<string, CacheEntry>>();

/** The SLO window error-budget shares are taken over by default, days (`rollouts.slo.windowDays`). */
export const SLO_WINDOW_DAYS = 30;

/**
 * Portfolio figures for the dashboard, from the rollouts of the last `days`
 * days, restricted to `entityRefs` when given.
 *
 * Every open dashboard asks again on each change signal, so a summary is
 * computed once and shared: concurrent requests for the same days and
 * services wait for one computation, and its result is served for
 * `SUMMARY_TTL_MS` unless this store wrote in the meantime (another
 * replica's writes show within the TTL). Past its TTL (and under twice
 * it) a summary is still served while the next one is computed, once, in
 * the background: under steady load no request waits for a recomputation
 * that only time, not a write, made due. An explicit `now` (tests) or
 * `cacheTtlMs: 0` always computes afresh.
 */
export async function computeSummary(
  store: RolloutsStore,
  options: {
    days: number;
    entityRefs?: string[];
    now?: Date;
    cacheTtlMs?: number;
    /** The SLO window error-budget shares are taken over (`rollouts.slo.windowDays`), days; default 30. */
    sloWindowDays?: number;
  },
): Promise<RolloutsSummary> {
  const ttl = options.cacheTtlMs ?? SUMMARY_TTL_MS;
  if (options.now || ttl <= 0) return summarize(store, options);
  let cache = caches.get(store);
  if (!cache) {
    cache = new Map();
    caches.set(store, cache);
  }
  const refs = options.entityRefs
    ? createHash('sha1').update(options.entityRefs.join('\n')).digest('base64')
    : '*';
  const key = `${options.days}|${options.sloWindowDays ?? SLO_WINDOW_DAYS}|${refs}`;
  const generation = store.generation();
  const hit = cache.get(key);
  const age = hit ? Date.now() - hit.at : Infinity;
  if (hit && hit.generation === generation && age < ttl) return hit.summary;
  const stale = hit && hit.generation === generation && age < 2 * ttl;
  if (stale && hit.refreshing) return hit.summary;
  const put = (entry: CacheEntry) => {
    cache!.delete(key);
    cache!.set(key, entry);
    if (cache!.size > MAX_CACHED) cache!.delete(cache!.keys().next().value!);
  };
  const entry: CacheEntry = {
    at: Date.now(),
    generation,
    summary: summarize(store, options),
  };
  entry.summary.catch(() => {
    if (cache!.get(key) === entry) cache!.delete(key);
  });
  if (stale) {
    // stale while revalidating: the next summary replaces this one when it is ready
    hit.refreshing = true;
    entry.summary.then(
      () => {
        if (cache!.get(key) === hit) put(entry);
      },
      () => {
        hit.refreshing = false;
      },
    );
    return hit.summary;
  }
  put(entry);
  return entry.summary;
}

/** How many incidents the dashboard lists. */
export const TOP_INCIDENTS = 10;

/** Incidents by severity, most severe first (the order of incidents logged at the same time). */
const INCIDENT_RANK: Record<RolloutIncident['kind'], number> = {
  'rollback-failed': 0,
  rollback: 1,
  'hold-burn': 2,
  'hold-stale': 3,
};

/**
 * A figure to 4 significant digits: the page shows 3, and the answer for a
 * thousand services stays small (full doubles would double the new fields).
 */
function sig<T extends number | null>(x: T): T {
  return (
    x === null || !Number.isFinite(x) ? x : Number(x.toPrecision(4))
  ) as T;
}

const minutesBetween = (from: string, to: string) =>
  (Date.parse(to) - Date.parse(from)) / 60_000;

async function summarize(
  store: RolloutsStore,
  options: {
    days: number;
    entityRefs?: string[];
    now?: Date;
    sloWindowDays?: number;
  },
): Promise<RolloutsSummary> {
  const now = options.now ?? new Date();
  const since = new Date(now.getTime() - options.days * DAY).toISOString();
  const sloWindowDays = options.sloWindowDays ?? SLO_WINDOW_DAYS;
  const sloWindowMs = sloWindowDays * DAY;
  const sloSince = new Date(now.getTime() - sloWindowMs).toISOString();
  // one read covers the summary's window and the SLO window
  const all = await store.listRolloutFigures({
    entityRefs: options.entityRefs,
    finishedSince: since < sloSince ? since : sloSince,
  });
  const inWindow = (r: RolloutFigures) =>
    !r.finishedAt || r.finishedAt >= since;
  const rollouts = all.filter(inWindow);
  const active = rollouts.filter(r => !r.finishedAt);
  const finished = rollouts.filter(r => r.finishedAt);
  const promoted = finished.filter(r => r.status === 'promoted');
  const rolledBack = finished.filter(r => r.status === 'rolled-back');
  const failedish = finished.filter(r => r.status !== 'promoted');

  // Delivery metrics, from the figures folded out of each rollout's decisions.
  const ttr: number[] = [];
  const lag: number[] = [];
  let reachedFull = 0;
  let changeFailures = 0;
  let automatedSteps = 0;
  let allSteps = 0;
  const incidents: RolloutIncident[] = [];
  for (const r of rollouts) {
    const d = r.delivery;
    if (!d) continue;
    // MTTR: first harmful verdict → applied rollback, for rollbacks applied in the window
    if (d.rolledBackAt && d.rolledBackAt >= since && d.firstHarmAt)
      ttr.push(minutesBetween(d.firstHarmAt, d.rolledBackAt));
    // detection lag: deploy of the version (rollout start) → first harmful verdict, detected in the window
    if (d.firstHarmAt && d.firstHarmAt >= since)
      lag.push(minutesBetween(r.startedAt, d.firstHarmAt));
    // change failures: of the releases that reached full in the window, those rolled back (or rolled forward) after it
    if (d.reachedFullAt && d.reachedFullAt >= since) {
      reachedFull++;
      if (d.failedAfterFullAt) changeFailures++;
    }
    automatedSteps += d.stepsAuto;
    allSteps += d.stepsAll;
    for (const i of d.incidents) {
      if (i.at < since) continue;
      incidents.push({
        ...i,
        entityRef: r.entityRef,
        rolloutId: r.id ?? '',
        version: r.version ?? '',
      });
    }
  }
  // newest first; at the same time the more severe first
  incidents.sort(
    (a, b) =>
      Date.parse(b.at) - Date.parse(a.at) ||
      INCIDENT_RANK[a.kind] - INCIDENT_RANK[b.kind] ||
      b.seq - a.seq,
  );

  const byService = new Map<string, RolloutFigures[]>();
  for (const r of all) {
    const list = byService.get(r.entityRef) ?? [];
    list.push(r);
    byService.set(r.entityRef, list);
  }
  const services: ServiceSummary[] = [];
  for (const [entityRef, everything] of byService) {
    const list = everything.filter(inWindow);
    const burns = list
      .filter(r => !r.finishedAt)
      .map(r => r.burnRate)
      .filter((x): x is number => x !== undefined);
    const kpiSums: Record<string, number[]> = {};
    for (const r of list) {
      if (!r.finishedAt || !r.kpiDeltas) continue;
      for (const [k, v] of Object.entries(r.kpiDeltas))
        (kpiSums[k] ??= []).push(v);
    }
    // Error budget: burn × time over the SLO window, for rollouts active or finished within it;
    // an active rollout's latest rates hold until now.
    let spent = 0;
    let byRollouts = 0;
    let known = false;
    for (const r of everything) {
      const d = r.delivery;
      if (!d || d.burnAt === null) continue;
      if (r.finishedAt && r.finishedAt < sloSince) continue;
      known = true;
      let service = d.budgetService;
      let canary = d.budgetCanary;
      if (!r.finishedAt) {
        const open = Math.max(0, (now.getTime() - Date.parse(d.burnAt)) / 1000);
        service += (d.burnService ?? 0) * open;
        canary += (d.burnCanary ?? 0) * open;
      }
      spent += service;
      byRollouts += canary;
    }
    const activeCohorts = list
      .filter(r => !r.finishedAt && r.kpiIntervals?.length)
      .map(r => ({
        rolloutId: r.id ?? '',
        version: r.version ?? '',
        kpis: r.kpiIntervals!.map(k => ({
          ...k,
          difference: sig(k.difference),
          ci: k.ci ? ([sig(k.ci[0]), sig(k.ci[1])] as [number, number]) : null,
        })),
      }));
    if (!list.length && !known) continue;
    services.push({
      entityRef,
      activeRollouts: list.filter(r => !r.finishedAt).length,
      finishedRollouts: list.filter(r => r.finishedAt).length,
      rolledBack: list.filter(r => r.status === 'rolled-back').length,
      budgetBurnRate: burns.length ? Math.max(...burns) : null,
      kpiImpact: Object.fromEntries(
        Object.entries(kpiSums).map(([k, v]) => [k, mean(v)!]),
      ),
      ...(activeCohorts.length ? { activeCohorts } : {}),
      budgetSpent: known ? sig(spent / (sloWindowMs / 1000)) : null,
      budgetSpentByRollouts: known
        ? sig(byRollouts / (sloWindowMs / 1000))
        : null,
    });
  }
  services.sort((a, b) => collator.compare(a.entityRef, b.entityRef));

  const trendMap = new Map<
    string,
    { promoted: number; rolledBack: number; other: number }
  >();
  for (let d = options.days - 1; d >= 0; d--) {
    trendMap.set(new Date(now.getTime() - d * DAY).toISOString().slice(0, 10), {
      promoted: 0,
      rolledBack: 0,
      other: 0,
    });
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
    failedPer100: finished.length
      ? (100 * failedish.length) / finished.length
      : null,
    changeFailureRate: reachedFull ? changeFailures / reachedFull : null,
    reachedFull,
    changeFailures,
    meanTimeToRollbackMinutes: mean(ttr),
    timedRollbacks: ttr.length,
    meanDetectionLagMinutes: mean(lag),
    detections: lag.length,
    automationSuccessRate: allSteps ? automatedSteps / allSteps : null,
    automatedSteps,
    allSteps,
    sloWindowDays,
    incidents: incidents.slice(0, TOP_INCIDENTS),
    services,
    trend: [...trendMap.entries()].map(([day, v]) => ({ day, ...v })),
  };
}
