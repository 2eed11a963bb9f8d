import type { TelemetryTick } from '@tollgate/plugin-rollouts-common';

/** How far behind the telemetry of one evaluation is, as the log and the tab show it. */
export interface TelemetryFreshness {
  /** The provider's own lag (e.g. Prometheus: the age of the newest sample), seconds. */
  lagSeconds: number | null;
  /** Seconds from the end of the newest interval with data to now. */
  newestAgeSeconds: number | null;
  /** Complete intervals up to now the provider did not report at all. */
  unreportedTicks: number;
  /** Reported intervals the provider's lag says are not complete yet (their counts are left out). */
  incompleteTicks: number;
}

const hasData = (t: TelemetryTick) =>
  t.baseline !== undefined || t.canary !== undefined;

/**
 * Telemetry as the engine must see it at `now`: every complete interval up
 * to now is there, those the provider did not report (it stopped, or fell
 * behind) as empty intervals, which the engine counts as missing data
 * (hold, never promote), never as zero; and the newest intervals the
 * provider's lag says are still filling lose their partial counts the same
 * way. Intervals carry `time` (their end, epoch seconds); without it
 * nothing can be said and the ticks are kept as they are.
 */
export function freshTicks(
  ticks: TelemetryTick[],
  options: { now: Date; stepSeconds: number; lagSeconds?: number },
): { ticks: TelemetryTick[]; freshness: TelemetryFreshness } {
  const { stepSeconds } = options;
  const nowSec = options.now.getTime() / 1000;
  const lagSeconds =
    options.lagSeconds !== undefined && Number.isFinite(options.lagSeconds)
      ? Math.max(0, options.lagSeconds)
      : null;
  const sorted = [...ticks].sort((a, b) => a.tick - b.tick);
  const last = sorted[sorted.length - 1];
  const newestWithData = [...sorted].reverse().find(hasData);
  const freshness: TelemetryFreshness = {
    lagSeconds,
    newestAgeSeconds:
      newestWithData?.time !== undefined
        ? Math.max(0, nowSec - newestWithData.time)
        : null,
    unreportedTicks: 0,
    incompleteTicks: 0,
  };
  if (!last || last.time === undefined || !(stepSeconds > 0))
    return { ticks, freshness };

  // Intervals the provider's lag says are not complete: their counts are partial.
  if (lagSeconds !== null && lagSeconds >= stepSeconds) {
    const completeUntil = nowSec - lagSeconds;
    for (let i = sorted.length - 1; i >= 0; i--) {
      const t = sorted[i];
      if (t.time === undefined || t.time <= completeUntil) break;
      if (hasData(t)) freshness.incompleteTicks++;
      sorted[i] = { tick: t.tick, time: t.time };
    }
  }
  // Complete intervals after the last one reported: missing.
  const unreported = Math.min(
    Math.max(0, Math.floor((nowSec - last.time) / stepSeconds + 1e-9)),
    10_000,
  );
  for (let i = 1; i <= unreported; i++)
    sorted.push({ tick: last.tick + i, time: last.time + i * stepSeconds });
  freshness.unreportedTicks = unreported;
  return { ticks: sorted, freshness };
}

/** The reason a decision on stale telemetry gives, or undefined when it is fresh. */
export function stalenessReason(f: TelemetryFreshness): string | undefined {
  if (!f.unreportedTicks && !f.incompleteTicks) return undefined;
  const parts: string[] = [];
  if (f.unreportedTicks)
    parts.push(
      `${f.unreportedTicks} interval${f.unreportedTicks > 1 ? 's' : ''} up to now not reported`,
    );
  if (f.incompleteTicks)
    parts.push(
      `${f.incompleteTicks} still filling (provider lag ${Math.round(f.lagSeconds ?? 0)} s)`,
    );
  const age =
    f.newestAgeSeconds === null
      ? 'no interval with data yet'
      : `newest data ${Math.round(f.newestAgeSeconds)} s old`;
  return `telemetry is behind: ${parts.join(', ')}; ${age}. Missing intervals count as missing data: hold, never promote`;
}
