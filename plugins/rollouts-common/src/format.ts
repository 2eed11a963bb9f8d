/**
 * How figures are written for people, the same on the pages and in the
 * post-rollout report: durations, percentages, numbers and differences.
 */

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0)
    return '—';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${m % 60}m`;
  const d = Math.floor(h / 24);
  return `${d}d ${h % 24}h`;
}

export function formatMinutes(minutes: number | null | undefined): string {
  if (minutes === null || minutes === undefined || !Number.isFinite(minutes))
    return '—';
  if (minutes < 1) return `${Math.round(minutes * 60)} s`;
  if (minutes < 120) return `${Math.round(minutes * 10) / 10} min`;
  return `${Math.round((minutes / 60) * 10) / 10} h`;
}

export function formatPercent(
  share: number | null | undefined,
  digits = 0,
): string {
  if (share === null || share === undefined || !Number.isFinite(share))
    return '—';
  return `${(share * 100).toFixed(digits)}%`;
}

export function formatNumber(
  value: number | null | undefined,
  digits = 4,
): string {
  if (value === null || value === undefined || !Number.isFinite(value))
    return '—';
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 1000) return value.toFixed(0);
  return Number(value.toPrecision(digits)).toString();
}

/** A difference on its scale: relative ones as signed percent, absolute ones as signed numbers. */
export function formatDifference(
  value: number | null | undefined,
  scale: 'relative' | 'absolute' | undefined,
): string {
  if (value === null || value === undefined || !Number.isFinite(value))
    return '—';
  if (scale === 'relative') {
    const pct = value * 100;
    return `${pct >= 0 ? '+' : ''}${Number(pct.toPrecision(3))}%`;
  }
  return `${value >= 0 ? '+' : ''}${formatNumber(value)}`;
}

/** A signal's always-valid interval for canary − baseline, e.g. `[-1.2%, +3.4%]`. */
export function formatInterval(s: {
  ci: [number, number] | null;
  scale: 'relative' | 'absolute';
}): string {
  return s.ci
    ? `[${formatDifference(s.ci[0], s.scale)}, ${formatDifference(s.ci[1], s.scale)}]`
    : '—';
}

/** A signal's non-inferiority margin on the side where the canary is worse. */
export function formatMargin(s: {
  margin: number;
  scale: 'relative' | 'absolute';
  direction: 'increase' | 'decrease';
}): string {
  return formatDifference(
    s.margin ? (s.direction === 'increase' ? -1 : 1) * s.margin : null,
    s.scale,
  );
}
