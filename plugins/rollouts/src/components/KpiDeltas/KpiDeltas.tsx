import Box from '@mui/material/Box';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import Tooltip from '@mui/material/Tooltip';
import Typography from '@mui/material/Typography';
import { useTheme } from '@mui/material/styles';
import {
  formatInterval,
  formatMargin,
  type SignalEvidence,
} from '@tollgate/plugin-rollouts-common';
import { readSignals } from '@tollgate/plugin-rollouts-common';
import { formatDifference, formatNumber } from '../../utils/format';

const RULE_HELP: Record<string, string> = {
  deterioration: 'The canary is significantly worse than the baseline.',
  'non-inferiority':
    'The canary is shown to be no worse than the baseline (within the margin).',
  inconclusive: 'Not enough evidence either way yet.',
  'insufficient-data': 'Too few samples to compare.',
  missing: 'No data for this signal.',
  disabled: 'Not evaluated by the policy.',
};

function betterText(s: SignalEvidence): string {
  return s.direction === 'increase' ? 'higher is better' : 'lower is better';
}

/** Where a worse canary lands: above 0 when lower is better, below 0 when higher is better. */
function harmSign(s: SignalEvidence): 1 | -1 {
  return s.direction === 'increase' ? -1 : 1;
}

/** Round tick values (1, 2, 5 × 10^k) covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  const span = hi - lo;
  if (!(span > 0)) return [lo];
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step =
    [1, 2, 5, 10].map(m => m * mag).find(st => st >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-12; t += step) {
    ticks.push(Math.abs(t) < step * 1e-9 ? 0 : Number(t.toPrecision(12)));
  }
  return ticks;
}

/**
 * Axis range: everything around 0 and the margins; a difference far beyond
 * the margins (a clear regression) is clipped at the edge and labelled, so
 * one outlier does not squash the other rows.
 */
export function forestDomain(signals: SignalEvidence[]): {
  lo: number;
  hi: number;
} {
  const margins = signals.map(s => s.margin || 0);
  const maxMargin = Math.max(0, ...margins);
  const cap = Math.max(
    maxMargin * 5,
    signals.some(s => s.scale === 'absolute') ? maxMargin || 1 : 0.25,
  );
  const values: number[] = [0];
  for (const s of signals) {
    if (s.difference !== null) values.push(s.difference);
    if (s.ci) values.push(s.ci[0], s.ci[1]);
    if (s.margin) values.push(harmSign(s) * s.margin);
  }
  let lo = Math.max(Math.min(...values), -cap);
  let hi = Math.min(Math.max(...values), cap);
  if (hi - lo < 1e-9) {
    lo -= 1;
    hi += 1;
  }
  const pad = (hi - lo) * 0.08;
  return { lo: lo - pad, hi: hi + pad };
}

function ForestPlot(props: {
  signals: SignalEvidence[];
  scale: 'relative' | 'absolute';
}) {
  const { signals, scale } = props;
  const theme = useTheme();
  const { lo, hi } = forestDomain(signals);
  const width = 640;
  const labelW = 190;
  const rowH = 30;
  const top = 10;
  const axisH = 26;
  const plotW = width - labelW - 20;
  const height = top + signals.length * rowH + axisH;
  const clamp = (v: number) => Math.min(Math.max(v, lo), hi);
  const x = (v: number) => labelW + ((clamp(v) - lo) / (hi - lo)) * plotW;
  const ticks = niceTicks(lo, hi);
  const color = (rule: string) => {
    if (rule === 'deterioration') return theme.palette.error.main;
    if (rule === 'non-inferiority') return theme.palette.success.main;
    return theme.palette.text.secondary;
  };
  return (
    <svg
      role="img"
      aria-label={`Canary minus baseline per signal (${scale === 'relative' ? 'relative difference' : 'absolute difference'}), with always-valid intervals and margins`}
      viewBox={`0 0 ${width} ${height}`}
      width="100%"
      data-testid={`forest-plot-${scale}`}
      style={{
        maxWidth: width,
        fontFamily: theme.typography.fontFamily,
        fontSize: 12,
      }}
    >
      {ticks.map(t => (
        <line
          key={`grid-${t}`}
          x1={x(t)}
          x2={x(t)}
          y1={top - 4}
          y2={top + signals.length * rowH}
          stroke={t === 0 ? theme.palette.text.primary : theme.palette.divider}
          strokeWidth={1}
        />
      ))}
      {signals.map((s, i) => {
        const cy = top + i * rowH + rowH / 2;
        const c = color(s.rule);
        const m = s.margin ? harmSign(s) * s.margin : null;
        const clipped =
          (s.difference !== null && (s.difference > hi || s.difference < lo)) ||
          (s.ci !== null && (s.ci[0] < lo || s.ci[1] > hi));
        const outRight = s.difference !== null && s.difference > hi;
        const outLeft = s.difference !== null && s.difference < lo;
        // where the clipped difference's label goes: at the arrow on the edge it is past, else on the point
        let label: { x: number; anchor: 'start' | 'middle' | 'end' } = {
          x: x(s.difference ?? 0),
          anchor: 'middle',
        };
        if (outRight) label = { x: x(hi) - 12, anchor: 'end' };
        else if (outLeft) label = { x: x(lo) + 12, anchor: 'start' };
        return (
          <g key={s.name} data-testid={`forest-row-${s.name}`}>
            <title>
              {`${s.name} (${betterText(s)}): difference ${formatDifference(s.difference, s.scale)}, interval ${
                s.ci
                  ? `${formatDifference(s.ci[0], s.scale)} to ${formatDifference(s.ci[1], s.scale)}`
                  : 'none yet'
              }, margin ${formatDifference(m, s.scale)}, rule ${s.rule}`}
            </title>
            <text x={4} y={cy + 4} fill={theme.palette.text.primary}>
              {s.name}
              <tspan fill={theme.palette.text.secondary}>
                {s.direction === 'increase' ? ' ↑ better' : ' ↓ better'}
              </tspan>
            </text>
            {m !== null && m >= lo && m <= hi && (
              <line
                x1={x(m)}
                x2={x(m)}
                y1={cy - rowH / 2 + 3}
                y2={cy + rowH / 2 - 3}
                stroke={theme.palette.warning.main}
                strokeDasharray="3 2"
                strokeWidth={2}
                data-testid="margin-mark"
              />
            )}
            {s.ci && (
              <>
                <line
                  x1={x(s.ci[0])}
                  x2={x(s.ci[1])}
                  y1={cy}
                  y2={cy}
                  stroke={c}
                  strokeWidth={2}
                />
                {s.ci[0] >= lo && (
                  <line
                    x1={x(s.ci[0])}
                    x2={x(s.ci[0])}
                    y1={cy - 5}
                    y2={cy + 5}
                    stroke={c}
                    strokeWidth={2}
                  />
                )}
                {s.ci[1] <= hi && (
                  <line
                    x1={x(s.ci[1])}
                    x2={x(s.ci[1])}
                    y1={cy - 5}
                    y2={cy + 5}
                    stroke={c}
                    strokeWidth={2}
                  />
                )}
              </>
            )}
            {s.difference !== null && !outLeft && !outRight && (
              <circle cx={x(s.difference)} cy={cy} r={5} fill={c} />
            )}
            {(outLeft || outRight) && (
              <path
                d={
                  outRight
                    ? `M ${x(hi) - 8} ${cy - 6} L ${x(hi)} ${cy} L ${x(hi) - 8} ${cy + 6} Z`
                    : `M ${x(lo) + 8} ${cy - 6} L ${x(lo)} ${cy} L ${x(lo) + 8} ${cy + 6} Z`
                }
                fill={c}
              />
            )}
            {clipped && s.difference !== null && (
              <text
                x={label.x}
                y={cy - 7}
                textAnchor={label.anchor}
                fill={c}
                fontSize={11}
              >
                {formatDifference(s.difference, s.scale)}
              </text>
            )}
            {s.difference === null && (
              <text x={x(0) + 6} y={cy + 4} fill={theme.palette.text.secondary}>
                no data
              </text>
            )}
          </g>
        );
      })}
      {ticks.map(t => (
        <text
          key={`tick-${t}`}
          x={x(t)}
          y={height - 6}
          textAnchor="middle"
          fill={theme.palette.text.secondary}
        >
          {t === 0 ? '0' : formatDifference(t, scale)}
        </text>
      ))}
    </svg>
  );
}

/** Canary vs baseline per signal: a forest plot and a table with the numbers. */
export function KpiDeltas(props: { evidence: unknown }) {
  const signals = readSignals(props.evidence);
  if (signals.length === 0) {
    return (
      <Typography
        variant="body2"
        color="text.secondary"
        data-testid="kpi-empty"
      >
        No signal comparison in the latest evaluation yet.
      </Typography>
    );
  }
  const relative = signals.filter(s => s.scale !== 'absolute');
  const absolute = signals.filter(s => s.scale === 'absolute');
  return (
    <Box data-testid="kpi-deltas">
      <Typography variant="body2" color="text.secondary" sx={{ mb: 1 }}>
        Each line is canary minus baseline with its always-valid interval (it
        stays valid however often it is looked at). The dashed orange mark is
        the margin of harm the policy tolerates; a dot right of 0 means the
        canary's value is higher.
      </Typography>
      {relative.length > 0 && (
        <ForestPlot signals={relative} scale="relative" />
      )}
      {absolute.length > 0 && (
        <ForestPlot signals={absolute} scale="absolute" />
      )}
      <Table size="small" aria-label="KPI deltas" data-testid="kpi-table">
        <TableHead>
          <TableRow>
            <TableCell>Signal</TableCell>
            <TableCell>Direction</TableCell>
            <TableCell align="right">Baseline</TableCell>
            <TableCell align="right">Canary</TableCell>
            <TableCell align="right">Difference</TableCell>
            <TableCell align="right">Interval</TableCell>
            <TableCell align="right">Margin</TableCell>
            <TableCell>Rule</TableCell>
          </TableRow>
        </TableHead>
        <TableBody>
          {signals.map(s => (
            <TableRow key={s.name} data-testid={`kpi-row-${s.name}`}>
              <TableCell>
                {s.name}
                {s.guardrail ? ' (guardrail)' : ''}
              </TableCell>
              <TableCell>{betterText(s)}</TableCell>
              <TableCell align="right">{formatNumber(s.baseline)}</TableCell>
              <TableCell align="right">{formatNumber(s.canary)}</TableCell>
              <TableCell align="right">
                {formatDifference(s.difference, s.scale)}
              </TableCell>
              <TableCell align="right">{formatInterval(s)}</TableCell>
              <TableCell align="right">{formatMargin(s)}</TableCell>
              <TableCell>
                <Tooltip title={RULE_HELP[s.rule] ?? ''}>
                  <span>{s.rule}</span>
                </Tooltip>
              </TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
    </Box>
  );
}
