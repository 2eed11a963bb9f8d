import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Grid from '@mui/material/Grid';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableRow from '@mui/material/TableRow';
import Typography from '@mui/material/Typography';
import { useTheme } from '@mui/material/styles';
import {
  formatDifference,
  formatNumber,
  type DeployTargetDescription,
  type RolloutTimeseries,
  type TimeseriesSignal,
} from '@tollgate/plugin-rollouts-common';
import { niceTicks } from '../KpiDeltas/KpiDeltas';

const WIDTH = 360;
const HEIGHT = 150;
const PAD = { left: 52, right: 8, top: 8, bottom: 22 };

/** Rates (error, slow, proportion KPIs, counts per exposure) read as percentages; a KPI mean as a number. */
function valueText(s: TimeseriesSignal, v: number | null): string {
  if (v === null || !Number.isFinite(v)) return '—';
  if (s.kind === 'kpi-mean' || s.kind === 'count') return formatNumber(v);
  return `${Number((v * 100).toPrecision(3))}%`;
}

/** Where a worse canary lands: above 0 when lower is better, below 0 when higher is better. */
function harmSign(s: TimeseriesSignal): 1 | -1 {
  return s.direction === 'increase' ? -1 : 1;
}

function timeText(iso: string | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime())
    ? ''
    : d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

function pathOf(points: Array<[number, number] | null>): string {
  let d = '';
  let pen = false;
  for (const p of points) {
    if (!p) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'} ${p[0].toFixed(1)} ${p[1].toFixed(1)} `;
    pen = true;
  }
  return d.trim();
}

interface Frame {
  x: (tick: number) => number;
  y: (v: number) => number;
  lo: number;
  hi: number;
  yTicks: number[];
}

function frameOf(ticks: number[], values: number[]): Frame {
  const t0 = ticks[0] ?? 0;
  const t1 = ticks[ticks.length - 1] ?? 1;
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
    lo = 0;
    hi = 1;
  }
  if (hi - lo < 1e-12) {
    const d = Math.abs(hi) * 0.1 || 1e-3;
    lo -= d;
    hi += d;
  }
  const pad = (hi - lo) * 0.06;
  lo -= pad;
  hi += pad;
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const clamp = (v: number) => Math.min(Math.max(v, lo), hi);
  return {
    x: t => PAD.left + (t1 > t0 ? ((t - t0) / (t1 - t0)) * plotW : plotW / 2),
    y: v => PAD.top + (1 - (clamp(v) - lo) / (hi - lo)) * plotH,
    lo,
    hi,
    yTicks: niceTicks(lo, hi, 4),
  };
}

function Axes(props: {
  frame: Frame;
  label: (v: number) => string;
  start: string;
  end: string;
}) {
  const { frame, label, start, end } = props;
  const theme = useTheme();
  return (
    <>
      {frame.yTicks.map(t => (
        <g key={`y-${t}`}>
          <line
            x1={PAD.left}
            x2={WIDTH - PAD.right}
            y1={frame.y(t)}
            y2={frame.y(t)}
            stroke={theme.palette.divider}
          />
          <text
            x={PAD.left - 4}
            y={frame.y(t) + 4}
            textAnchor="end"
            fill={theme.palette.text.secondary}
          >
            {label(t)}
          </text>
        </g>
      ))}
      <text
        x={PAD.left}
        y={HEIGHT - 6}
        fill={theme.palette.text.secondary}
        textAnchor="start"
      >
        {start}
      </text>
      <text
        x={WIDTH - PAD.right}
        y={HEIGHT - 6}
        fill={theme.palette.text.secondary}
        textAnchor="end"
      >
        {end}
      </text>
    </>
  );
}

/** Canary and baseline per interval (each interval's own estimate). */
function CohortChart(props: {
  signal: TimeseriesSignal;
  start: string;
  end: string;
}) {
  const { signal: s, start, end } = props;
  const theme = useTheme();
  const ticks = s.points.map(p => p.tick);
  const values = s.points.flatMap(p =>
    [p.canary, p.baseline].filter((v): v is number => v !== null),
  );
  const frame = frameOf(ticks, values.length ? values : [0]);
  const line = (pick: 'canary' | 'baseline') =>
    pathOf(
      s.points.map(p => {
        const v = p[pick];
        return v === null ? null : [frame.x(p.tick), frame.y(v)];
      }),
    );
  const canary = theme.palette.secondary.main;
  const baseline = theme.palette.primary.main;
  return (
    <svg
      role="img"
      aria-label={`${s.name}: canary and baseline per interval`}
      viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
      width="100%"
      data-testid={`cohort-chart-${s.name}`}
      style={{
        maxWidth: WIDTH,
        fontFamily: theme.typography.fontFamily,
        fontSize: 11,
      }}
    >
      <Axes
        frame={frame}
        label={v => valueText(s, v)}
        start={start}
        end={end}
      />
      <path
        d={line('baseline')}
        fill="none"
        stroke={baseline}
        strokeWidth={1.5}
        data-testid="baseline-line"
      />
      <path
        d={line('canary')}
        fill="none"
        stroke={canary}
        strokeWidth={1.5}
        data-testid="canary-line"
      />
      {s.points.map(p => (
        <rect
          key={p.tick}
          x={frame.x(p.tick) - 2}
          y={PAD.top}
          width={4}
          height={HEIGHT - PAD.top - PAD.bottom}
          fill="transparent"
        >
          <title>{`interval ${p.tick}: canary ${valueText(s, p.canary)}, baseline ${valueText(s, p.baseline)} (so far: canary ${valueText(s, p.runningCanary)}, baseline ${valueText(s, p.runningBaseline)})`}</title>
        </rect>
      ))}
    </svg>
  );
}

/**
 * The difference's always-valid interval after each interval (a band), the
 * difference (a line), 0 and the margin (dashed): a band wholly on the
 * harmless side of the margin is non-inferiority; wholly past 0 on the
 * harmful side is deterioration.
 */
function BandChart(props: {
  signal: TimeseriesSignal;
  start: string;
  end: string;
}) {
  const { signal: s, start, end } = props;
  const theme = useTheme();
  const h = harmSign(s);
  const margins = s.points.map(p => h * p.margin);
  const diffs = s.points
    .map(p => p.difference)
    .filter((v): v is number => v !== null);
  // the axis covers 0, the margins and the differences; a far interval is clipped
  const core = [0, ...margins, ...diffs];
  const span = Math.max(...core.map(Math.abs), 1e-6);
  const cap = span * 3;
  const bounds: number[] = [];
  for (const p of s.points)
    for (const v of p.ci ?? [])
      if (v !== null && Math.abs(v) <= cap) bounds.push(v);
  const frame = frameOf(
    s.points.map(p => p.tick),
    [...core, ...bounds],
  );
  const withCi = s.points.filter(p => p.ci);
  const upper = withCi.map(
    p => `${frame.x(p.tick)} ${frame.y(p.ci![1] ?? frame.hi)}`,
  );
  const lower = withCi
    .map(p => `${frame.x(p.tick)} ${frame.y(p.ci![0] ?? frame.lo)}`)
    .reverse();
  const band = withCi.length
    ? `M ${upper.join(' L ')} L ${lower.join(' L ')} Z`
    : '';
  const color = (() => {
    const last = s.points[s.points.length - 1]?.rule;
    if (last === 'deterioration') return theme.palette.error.main;
    if (last === 'non-inferiority') return theme.palette.success.main;
    return theme.palette.text.secondary;
  })();
  const marginLine = pathOf(
    s.points.map((p, i) => [frame.x(p.tick), frame.y(margins[i])]),
  );
  const diffLine = pathOf(
    s.points.map(p =>
      p.difference === null ? null : [frame.x(p.tick), frame.y(p.difference)],
    ),
  );
  return (
    <svg
      role="img"
      aria-label={`${s.name}: canary minus baseline over time with its always-valid interval and the margin`}
      viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
      width="100%"
      data-testid={`band-chart-${s.name}`}
      style={{
        maxWidth: WIDTH,
        fontFamily: theme.typography.fontFamily,
        fontSize: 11,
      }}
    >
      <Axes
        frame={frame}
        label={v => (v === 0 ? '0' : formatDifference(v, s.scale))}
        start={start}
        end={end}
      />
      {band && (
        <path
          d={band}
          fill={color}
          fillOpacity={0.18}
          stroke="none"
          data-testid="ci-band"
        />
      )}
      <line
        x1={PAD.left}
        x2={WIDTH - PAD.right}
        y1={frame.y(0)}
        y2={frame.y(0)}
        stroke={theme.palette.text.primary}
      />
      {s.points.some(p => p.margin) && (
        <path
          d={marginLine}
          fill="none"
          stroke={theme.palette.warning.main}
          strokeDasharray="4 3"
          strokeWidth={1.5}
          data-testid="margin-line"
        />
      )}
      <path
        d={diffLine}
        fill="none"
        stroke={color}
        strokeWidth={1.5}
        data-testid="difference-line"
      />
      {s.points.map((p, i) => (
        <rect
          key={p.tick}
          x={frame.x(p.tick) - 2}
          y={PAD.top}
          width={4}
          height={HEIGHT - PAD.top - PAD.bottom}
          fill="transparent"
        >
          <title>{`interval ${p.tick}: difference ${formatDifference(p.difference, s.scale)}, interval ${
            p.ci
              ? `${p.ci[0] === null ? '−∞' : formatDifference(p.ci[0], s.scale)} to ${p.ci[1] === null ? '+∞' : formatDifference(p.ci[1], s.scale)}`
              : 'none yet'
          }, margin ${formatDifference(margins[i], s.scale)}, ${p.rule}`}</title>
        </rect>
      ))}
    </svg>
  );
}

/** The gate's verdict after each interval, one mark per interval. */
function VerdictStrip(props: { series: RolloutTimeseries }) {
  const { intervals } = props.series;
  const theme = useTheme();
  if (intervals.length === 0) return null;
  const width = 720;
  const height = 14;
  const w = width / intervals.length;
  const color: Record<string, string> = {
    rollback: theme.palette.error.main,
    hold: theme.palette.warning.main,
    promote: theme.palette.success.main,
    continue: theme.palette.action.disabled,
  };
  return (
    <svg
      role="img"
      aria-label="The gate's verdict after each interval"
      viewBox={`0 0 ${width} ${height}`}
      width="100%"
      preserveAspectRatio="none"
      data-testid="verdict-strip"
      style={{ maxWidth: width, height, display: 'block', marginBottom: 8 }}
    >
      {intervals.map((iv, i) => (
        <rect
          key={iv.tick}
          x={i * w}
          y={0}
          width={Math.max(w - 0.5, 0.5)}
          height={height}
          fill={color[iv.verdict] ?? theme.palette.text.secondary}
          data-verdict={iv.verdict}
        >
          <title>{`interval ${iv.tick} (${timeText(iv.at)}): ${iv.verdict}`}</title>
        </rect>
      ))}
    </svg>
  );
}

const TARGET_ROWS: Array<[keyof DeployTargetDescription, string]> = [
  ['enabled', 'Flag on'],
  ['strategy', 'Strategy'],
  ['strategyTitle', 'Strategy title'],
  ['strategyDisabled', 'Strategy switched off'],
  ['percentage', 'Percentage'],
  ['stickiness', 'Stickiness'],
  ['groupId', 'Group id'],
];

function cell(v: unknown): string {
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  return String(v);
}

/** The cohort as the deploy provider reports it (a flag's state, strategy, percentage, stickiness). */
export function TargetCohort(props: { target: DeployTargetDescription }) {
  const { target } = props;
  const rows: Array<[string, string]> = [];
  for (const [key, label] of TARGET_ROWS) {
    const v = target[key];
    if (v === undefined) continue;
    rows.push([label, key === 'percentage' ? `${v}%` : cell(v)]);
  }
  if (target.constraints?.length)
    rows.push(['Constraints', target.constraints.join('; ')]);
  for (const [k, v] of Object.entries(target.details ?? {}))
    rows.push([k, cell(v)]);
  return (
    <Box data-testid="target-cohort" sx={{ mb: 2 }}>
      <Typography variant="subtitle2">
        {`Cohort at the deploy system now (${target.provider}, ${target.kind}): ${target.target}`}
      </Typography>
      <Table size="small" aria-label="Cohort as the provider reports it">
        <TableBody>
          {rows.map(([label, value]) => (
            <TableRow key={label}>
              <TableCell component="th" scope="row" sx={{ width: 200 }}>
                {label}
              </TableCell>
              <TableCell>{value}</TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
    </Box>
  );
}

/**
 * The step interval by interval as the gate saw it: per signal, canary and
 * baseline per interval, and the difference's always-valid interval over
 * time against the margin; the flag's cohort when the provider reports it.
 */
export function MetricsOverTime(props: { series: RolloutTimeseries }) {
  const { series } = props;
  const theme = useTheme();
  const start = timeText(series.intervals[0]?.at);
  const end = timeText(series.intervals[series.intervals.length - 1]?.at);
  return (
    <Box data-testid="metrics-over-time">
      {series.target && <TargetCohort target={series.target} />}
      {series.targetError && (
        <Alert severity="warning" sx={{ mb: 1 }}>
          {series.targetError}
        </Alert>
      )}
      <Typography variant="body2" color="text.secondary" sx={{ mb: 1 }}>
        {`Step ${series.stepIndex + 1}: ${series.intervalsRead} of ${series.intervalsExpected} intervals of ${series.window.tickSeconds} s${
          series.telemetryProvider ? ` from ${series.telemetryProvider}` : ''
        }, folded through the gate engine as the gate loop folds them (at most the last ${series.maxIntervals} are shown). Left: each interval's own canary (`}
        <span style={{ color: theme.palette.secondary.main }}>━</span>
        {' and baseline ('}
        <span style={{ color: theme.palette.primary.main }}>━</span>
        ). Right: canary minus baseline so far with its always-valid interval
        (the band) and the margin (dashed orange).
      </Typography>
      {series.notes.map(n => (
        <Alert key={n} severity="info" sx={{ mb: 1 }}>
          {n}
        </Alert>
      ))}
      {series.intervals.length > 0 && (
        <Typography variant="caption" color="text.secondary">
          The gate's verdict after each interval (red: roll back, orange: hold,
          green: promote, grey: continue)
        </Typography>
      )}
      <VerdictStrip series={series} />
      {series.signals.length === 0 ? (
        <Typography
          variant="body2"
          color="text.secondary"
          data-testid="metrics-empty"
        >
          No intervals to chart for this step.
        </Typography>
      ) : (
        series.signals.map(s => {
          const last = s.points[s.points.length - 1];
          return (
            <Box
              key={s.name}
              data-testid={`metrics-signal-${s.name}`}
              sx={{ mb: 2 }}
            >
              <Typography variant="subtitle2">
                {`${s.name}${s.guardrail ? ' (guardrail)' : ''} — ${
                  s.direction === 'increase'
                    ? 'higher is better'
                    : 'lower is better'
                }`}
                {last && (
                  <Typography
                    component="span"
                    variant="body2"
                    color="text.secondary"
                  >
                    {`: now ${formatDifference(last.difference, s.scale)}, margin ${formatDifference(harmSign(s) * last.margin, s.scale)}, ${last.rule}`}
                  </Typography>
                )}
              </Typography>
              <Grid container spacing={2}>
                <Grid item xs={12} md={6}>
                  <CohortChart signal={s} start={start} end={end} />
                </Grid>
                <Grid item xs={12} md={6}>
                  <BandChart signal={s} start={start} end={end} />
                </Grid>
              </Grid>
            </Box>
          );
        })
      )}
    </Box>
  );
}
