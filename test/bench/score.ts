/** Scoring per FORMAT.md. */
import type { Scenario, Truth } from './scenario';

export interface Line {
  tick: number;
  verdict: 'continue' | 'hold' | 'promote' | 'rollback';
}

export interface ScenarioScore {
  name: string;
  truth: Truth['verdict'];
  final: 'promote' | 'rollback' | null;
  finalTick: number | null;
  /** regression: ticks from fromTick to the rollback, inclusive (null = missed) */
  ticksToDetect: number | null;
  caught: boolean;
  falseRollback: boolean;
  holdPromoted: boolean;
  /** canary requests served by the regressed canary before the rollback (to maxTicks if missed) */
  exposure: number;
  ticksToPromote: number | null;
}

export function scoreScenario(
  s: Scenario,
  truth: Truth,
  lines: Line[],
): ScenarioScore {
  const fin =
    lines.find(l => l.verdict === 'promote' || l.verdict === 'rollback') ??
    null;
  const from = truth.fromTick ?? 1;
  const r: ScenarioScore = {
    name: s.header.name,
    truth: truth.verdict,
    final: fin ? (fin.verdict as 'promote' | 'rollback') : null,
    finalTick: fin ? fin.tick : null,
    ticksToDetect: null,
    caught: false,
    falseRollback: false,
    holdPromoted: false,
    exposure: 0,
    ticksToPromote: null,
  };
  if (truth.verdict === 'rollback') {
    if (fin?.verdict === 'rollback' && fin.tick >= from) {
      r.caught = true;
      r.ticksToDetect = fin.tick - from + 1;
    } else if (fin?.verdict === 'rollback') {
      r.falseRollback = true; // rolled back before the regression started
    }
    const end = r.caught ? fin!.tick : s.maxTicks;
    for (const t of s.ticks)
      if (t.tick >= from && t.tick <= end)
        r.exposure += t.canary?.requests ?? 0;
  } else if (truth.verdict === 'promote') {
    if (fin?.verdict === 'rollback') r.falseRollback = true;
    if (fin?.verdict === 'promote') r.ticksToPromote = fin.tick;
  } else {
    if (fin?.verdict === 'rollback') r.falseRollback = true;
    if (fin?.verdict === 'promote' && fin.tick >= from) r.holdPromoted = true;
  }
  return r;
}

export function quantile(xs: number[], q: number): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  // nearest-rank on the sorted values (median of an even count = mean of the two middle values)
  if (q === 0.5) {
    const m = s.length / 2;
    return s.length % 2 ? s[Math.floor(m)] : (s[m - 1] + s[m]) / 2;
  }
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
}

export interface MethodSummary {
  method: string;
  regressions: number;
  caught: number;
  medianTicks: number | null;
  p90Ticks: number | null;
  aa: number;
  aaFalseRollbacks: number;
  hold: number;
  holdPromoted: number;
  holdFalseRollbacks: number;
  exposure: number;
  aaMedianTicksToPromote: number | null;
  aaPromoted: number;
}

export function summarise(
  method: string,
  scores: ScenarioScore[],
): MethodSummary {
  const reg = scores.filter(s => s.truth === 'rollback');
  const aa = scores.filter(s => s.truth === 'promote');
  const hold = scores.filter(s => s.truth === 'hold');
  const ttd = reg.filter(s => s.caught).map(s => s.ticksToDetect!);
  const ttp = aa
    .filter(s => s.ticksToPromote !== null)
    .map(s => s.ticksToPromote!);
  // an A/A rollout that never promotes counts as maxTicks+ for the median (pessimistic)
  const ttpAll = aa.map(s => s.ticksToPromote ?? Infinity);
  return {
    method,
    regressions: reg.length,
    caught: ttd.length,
    medianTicks: quantile(ttd, 0.5),
    p90Ticks: quantile(ttd, 0.9),
    aa: aa.length,
    aaFalseRollbacks: aa.filter(s => s.falseRollback).length,
    hold: hold.length,
    holdPromoted: hold.filter(s => s.holdPromoted).length,
    holdFalseRollbacks: hold.filter(s => s.falseRollback).length,
    exposure: reg.reduce((a, s) => a + s.exposure, 0),
    aaMedianTicksToPromote: ttpAll.length ? quantile(ttpAll, 0.5) : null,
    aaPromoted: ttp.length,
  };
}

export function formatTable(rows: MethodSummary[]): string {
  const head = [
    'method',
    'regressions caught',
    'median ticks',
    'p90 ticks',
    'A/A false rollbacks',
    'hold promoted',
    'hold false rollbacks',
    'exposure (canary req.)',
    'A/A promoted',
    'A/A median ticks to promote',
  ];
  const f = (x: number | null) => {
    if (x === null) return '–';
    return Number.isFinite(x) ? String(x) : 'never';
  };
  const body = rows.map(r => [
    r.method,
    `${r.caught}/${r.regressions}`,
    f(r.medianTicks),
    f(r.p90Ticks),
    `${r.aaFalseRollbacks}/${r.aa}`,
    `${r.holdPromoted}/${r.hold}`,
    `${r.holdFalseRollbacks}/${r.hold}`,
    r.exposure.toLocaleString('en-US'),
    `${r.aaPromoted}/${r.aa}`,
    f(r.aaMedianTicksToPromote),
  ]);
  return markdownTable(head, body);
}

/** A Markdown table with padded columns (the benchmarks' printed tables). */
export function markdownTable(head: string[], body: string[][]): string {
  const widths = head.map((h, i) =>
    Math.max(h.length, ...body.map(b => b[i].length)),
  );
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [
    line(head),
    `|${widths.map(w => '-'.repeat(w + 2)).join('|')}|`,
    ...body.map(line),
  ].join('\n');
}
