/** The text of the gate's reasons: numbers, percentages, intervals and durations. */
import type { SignalEvidence } from './types';

export const pct = (x: number | null, digits = 2) =>
  x === null || !Number.isFinite(x) ? 'n/a' : `${(x * 100).toFixed(digits)}%`;
export function signedPct(x: number): string {
  if (!Number.isFinite(x)) return x > 0 ? '+∞' : '−∞';
  return `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(1)}%`;
}
export function num(x: number | null, digits = 3): string {
  if (x === null || !Number.isFinite(x)) return 'n/a';
  if (x === 0) return '0';
  if (Math.abs(x) < 1e-300) return '< 1e-300';
  return Number(x.toPrecision(digits)).toString();
}
export function pValue(x: number | null): string {
  if (x === null) return 'n/a';
  return x < 1e-12 ? '< 1e-12' : num(x, 2);
}
/** A difference on the signal's scale, signed: a percentage (relative) or a number (absolute). */
export function signedDifference(
  scale: SignalEvidence['scale'],
  v: number,
): string {
  return scale === 'relative' ? signedPct(v) : `${v >= 0 ? '+' : ''}${num(v)}`;
}

export function ciText(ev: SignalEvidence): string {
  if (!ev.ci) return '';
  return `${Math.round((1 - ev.alphaCi) * 1000) / 10}% always-valid CI ${signedDifference(ev.scale, ev.ci[0])} to ${signedDifference(ev.scale, ev.ci[1])}`;
}

export function estimateText(ev: SignalEvidence): string {
  if (ev.kind === 'kpi-mean')
    return `canary ${num(ev.canary, 4)} vs baseline ${num(ev.baseline, 4)}`;
  // rates under 1% get a third digit; KPI proportions keep two
  const d =
    ev.kind !== 'kpi-proportion' && ev.canary !== null && ev.canary < 0.01
      ? 3
      : 2;
  return `canary ${pct(ev.canary, d)} vs baseline ${pct(ev.baseline, d)}`;
}

export function durationText(ticks: number, tickSeconds: number): string {
  const s = ticks * tickSeconds;
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}
