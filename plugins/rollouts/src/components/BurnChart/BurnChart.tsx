import Box from '@mui/material/Box';
import Chip from '@mui/material/Chip';
import Grid from '@mui/material/Grid';
import Typography from '@mui/material/Typography';
import { useTheme } from '@mui/material/styles';
import {
  Bar,
  BarChart,
  CartesianGrid,
  Legend,
  ReferenceLine,
  ResponsiveContainer,
  Tooltip as ChartTooltip,
  XAxis,
  YAxis,
} from 'recharts';
import { readBurnRows, type BurnRow } from '@tollgate/plugin-rollouts-common';
import { formatNumber } from '../../utils/format';

function burnText(v: number | null): string {
  return v === null ? 'no data' : `${formatNumber(v, 3)}×`;
}

function WindowChart(props: { row: BurnRow }) {
  const { row } = props;
  const theme = useTheme();
  const data = [
    { side: 'canary', long: row.canaryLong ?? 0, short: row.canaryShort ?? 0 },
    {
      side: 'service',
      long: row.serviceLong ?? 0,
      short: row.serviceShort ?? 0,
    },
  ];
  const max =
    Math.max(row.factor ?? 1, ...data.flatMap(d => [d.long, d.short])) * 1.15;
  return (
    <Box data-testid={`burn-window-${row.name}`}>
      <Typography variant="subtitle2" component="h4">
        {`${row.name} window`}{' '}
        {row.alerting && (
          <Chip size="small" color="error" label="alerting" sx={{ ml: 1 }} />
        )}
        {row.partial && (
          <Chip
            size="small"
            variant="outlined"
            label="partial window"
            title="The rollout is younger than this window: the burn uses the data there is so far."
            sx={{ ml: 1 }}
          />
        )}
      </Typography>
      <Box sx={{ width: '100%', height: 180 }}>
        <ResponsiveContainer
          width="100%"
          height="100%"
          initialDimension={{ width: 320, height: 180 }}
        >
          <BarChart
            data={data}
            margin={{ top: 16, right: 16, left: 0, bottom: 0 }}
          >
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis dataKey="side" />
            <YAxis
              domain={[0, Math.ceil(max)]}
              tickFormatter={v => `${v}×`}
              width={40}
            />
            <ChartTooltip
              formatter={(v: unknown) => `${formatNumber(Number(v), 3)}×`}
            />
            <Legend />
            <Bar
              dataKey="long"
              name="long window burn"
              fill={theme.palette.primary.main}
              isAnimationActive={false}
            />
            <Bar
              dataKey="short"
              name="short window burn"
              fill={theme.palette.secondary.main}
              isAnimationActive={false}
            />
            {row.factor !== null && (
              <ReferenceLine
                y={row.factor}
                stroke={theme.palette.error.main}
                strokeDasharray="6 3"
                label={{
                  value: `alert at ${formatNumber(row.factor, 3)}×`,
                  position: 'insideTopRight',
                  fontSize: 11,
                }}
              />
            )}
          </BarChart>
        </ResponsiveContainer>
      </Box>
      <Typography
        variant="caption"
        color="text.secondary"
        component="p"
        data-testid={`burn-text-${row.name}`}
      >
        {`Canary ${burnText(row.canaryLong)} long / ${burnText(row.canaryShort)} short; service ${burnText(
          row.serviceLong,
        )} long / ${burnText(row.serviceShort)} short; alert threshold ${
          row.factor === null ? 'unknown' : `${formatNumber(row.factor, 3)}×`
        }.`}
        {row.partial ? ' Partial window: not all of it has elapsed yet.' : ''}
      </Typography>
    </Box>
  );
}

/**
 * Error-budget burn per window, canary vs the whole service, long and short
 * windows, with the window's alert threshold drawn as a reference line.
 */
export function BurnChart(props: { evidence: unknown }) {
  const availability = readBurnRows(props.evidence, 'availability');
  const latency = readBurnRows(props.evidence, 'latency');
  if (availability.length === 0 && latency.length === 0) {
    return (
      <Typography
        variant="body2"
        color="text.secondary"
        data-testid="burn-empty"
      >
        No error-budget burn data in the latest evaluation yet.
      </Typography>
    );
  }
  return (
    <Box data-testid="burn-chart">
      <Typography variant="body2" color="text.secondary" sx={{ mb: 1 }}>
        Burn rate = how fast the error budget is being spent (1× spends it
        exactly over the SLO period). An alert fires when both the long and the
        short window burn above the threshold.
      </Typography>
      {[
        { title: 'Availability', rows: availability },
        { title: 'Latency', rows: latency },
      ]
        .filter(g => g.rows.length > 0)
        .map(g => (
          <Box key={g.title} sx={{ mb: 2 }}>
            <Typography variant="subtitle1" component="h3">
              {g.title}
            </Typography>
            <Grid container spacing={2}>
              {g.rows.map(row => (
                <Grid item xs={12} sm={6} md={4} key={row.name}>
                  <WindowChart row={row} />
                </Grid>
              ))}
            </Grid>
          </Box>
        ))}
    </Box>
  );
}
