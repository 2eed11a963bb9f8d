/** Prometheus-style cumulative histograms. */
import type { LatencyHistogram } from './types';

/**
 * Quantile like PromQL `histogram_quantile`: find the bucket holding rank q·total and
 * interpolate linearly inside it (the lower edge of the first bucket is 0 when its `le` is
 * positive); a rank in the +Inf bucket returns the upper bound of the last finite bucket.
 * Returns null for an empty histogram.
 */
export function histogramQuantile(
  q: number,
  h: LatencyHistogram,
): number | null {
  const n = h.le.length;
  if (n === 0 || h.counts.length !== n) return null;
  const total = h.counts[n - 1];
  if (!(total > 0)) return null;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  const rank = q * total;
  let b = 0;
  while (b < n - 1 && h.counts[b] < rank) b++;
  if (h.le[b] === Infinity) return n >= 2 ? h.le[n - 2] : null;
  if (b === 0 && h.le[0] <= 0) return h.le[0];
  const start = b === 0 ? 0 : h.le[b - 1];
  const end = h.le[b];
  const prev = b === 0 ? 0 : h.counts[b - 1];
  const inBucket = h.counts[b] - prev;
  if (inBucket <= 0) return end;
  return start + ((end - start) * (rank - prev)) / inBucket;
}

/**
 * Requests slower than `thresholdMs`, counted from the first bucket boundary at or above the
 * threshold (so "slow" means "> that boundary"; exact when the threshold is a boundary, which the
 * engine's documentation asks for). Returns null if the histogram is unusable.
 */
export function slowCount(
  h: LatencyHistogram,
  thresholdMs: number,
): { slow: number; total: number; boundary: number } | null {
  const n = h.le.length;
  if (n === 0 || h.counts.length !== n) return null;
  const total = h.counts[n - 1];
  let b = 0;
  while (b < n && h.le[b] < thresholdMs) b++;
  if (b >= n) return null;
  return { slow: Math.max(0, total - h.counts[b]), total, boundary: h.le[b] };
}

/** Check a histogram: same lengths, ascending `le` ending with Infinity, cumulative non-negative counts. */
export function histogramProblem(h: LatencyHistogram): string | null {
  if (!Array.isArray(h.le) || !Array.isArray(h.counts))
    return 'le and counts must be arrays';
  if (h.le.length !== h.counts.length) return 'le and counts differ in length';
  if (h.le.length === 0) return 'empty histogram';
  if (h.le[h.le.length - 1] !== Infinity) return 'last le must be +Inf';
  for (let i = 0; i < h.le.length; i++) {
    if (typeof h.le[i] !== 'number' || Number.isNaN(h.le[i]))
      return `le[${i}] is not a number`;
    if (typeof h.counts[i] !== 'number' || !(h.counts[i] >= 0))
      return `counts[${i}] must be a non-negative number`;
    if (i > 0 && !(h.le[i] > h.le[i - 1]))
      return 'le must be strictly increasing';
    if (i > 0 && h.counts[i] < h.counts[i - 1])
      return 'counts must be cumulative (non-decreasing)';
  }
  return null;
}
