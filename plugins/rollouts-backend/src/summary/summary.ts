import type {
  RolloutsSummary,
  ServiceSummary,
} from '@tollgate/plugin-rollouts-common';
import { createHash } from 'node:crypto';
import { kpiDeltas, worstBurnRate } from '../database/figures';
import type { RolloutFigures, RolloutsStore } from '../database/RolloutsStore';

export { kpiDeltas, worstBurnRate };

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
}
const caches = new WeakMap<RolloutsStore, Map<string, CacheEntry>>();

/**
 * Portfolio figures for the dashboard, from the rollouts of the last `days`
 * days, restricted to `entityRefs` when given.
 *
 * Every open dashboard asks again on each change signal, so a summary is
 * computed once and shared: concurrent requests for the same days and
 * services wait for one computation, and its result is served for
 * `SUMMARY_TTL_MS` unless this store wrote in the meantime (another
 * replica's writes show within the TTL). An explicit `now` (tests) or
 * `cacheTtlMs: 0` always computes afresh.
 */
export async function computeSummary(
  store: RolloutsStore,
  options: {
    days: number;
    entityRefs?: string[];
    now?: Date;
    cacheTtlMs?: number;
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
  const key = `${options.days}|${refs}`;
  const generation = store.generation();
  const hit = cache.get(key);
  if (hit && hit.generation === generation && Date.now() - hit.at < ttl)
    return hit.summary;
  const entry: CacheEntry = {
    at: Date.now(),
    generation,
    summary: summarize(store, options),
  };
  cache.delete(key);
  cache.set(key, entry);
  if (cache.size > MAX_CACHED) cache.delete(cache.keys().next().value!);
  entry.summary.catch(() => {
    if (cache!.get(key) === entry) cache!.delete(key);
  });
  return entry.summary;
}

async function summarize(
  store: RolloutsStore,
  options: { days: number; entityRefs?: string[]; now?: Date },
): Promise<RolloutsSummary> {
  const now = options.now ?? new Date();
  const since = new Date(now.getTime() - options.days * DAY).toISOString();
  const rollouts = await store.listRolloutFigures({
    entityRefs: options.entityRefs,
    finishedSince: since,
  });
  const active = rollouts.filter(r => !r.finishedAt);
  const finished = rollouts.filter(r => r.finishedAt && r.finishedAt >= since);
  const promoted = finished.filter(r => r.status === 'promoted');
  const rolledBack = finished.filter(r => r.status === 'rolled-back');
  const failedish = finished.filter(r => r.status !== 'promoted');

  const ttr = rolledBack.map(
    r => (Date.parse(r.finishedAt!) - Date.parse(r.startedAt)) / 60_000,
  );
  const lag = rolledBack.map(
    r => (Date.parse(r.finishedAt!) - Date.parse(r.stepStartedAt)) / 60_000,
  );

  const byService = new Map<string, RolloutFigures[]>();
  for (const r of rollouts) {
    const list = byService.get(r.entityRef) ?? [];
    list.push(r);
    byService.set(r.entityRef, list);
  }
  const services: ServiceSummary[] = [...byService.entries()].map(
    ([entityRef, list]) => {
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
      return {
        entityRef,
        activeRollouts: list.filter(r => !r.finishedAt).length,
        finishedRollouts: list.filter(r => r.finishedAt).length,
        rolledBack: list.filter(r => r.status === 'rolled-back').length,
        budgetBurnRate: burns.length ? Math.max(...burns) : null,
        kpiImpact: Object.fromEntries(
          Object.entries(kpiSums).map(([k, v]) => [k, mean(v)!]),
        ),
      };
    },
  );
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
    changeFailureRate: finished.length
      ? failedish.length / finished.length
      : null,
    meanTimeToRollbackMinutes: mean(ttr),
    meanDetectionLagMinutes: mean(lag),
    services,
    trend: [...trendMap.entries()].map(([day, v]) => ({ day, ...v })),
  };
}
