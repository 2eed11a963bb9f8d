import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Chip from '@mui/material/Chip';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import Typography from '@mui/material/Typography';
import type {
  RepresentativenessEvidence,
  SegmentCellEvidence,
  SegmentEvidence,
  SegmentSignalEvidence,
  SrmEvidence,
} from '@tollgate/plugin-rollouts-common';

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export interface SegmentChecks {
  segments?: SegmentEvidence;
  representativeness?: RepresentativenessEvidence[];
  srm?: SrmEvidence;
}

/** The evidence's segment checks, or undefined when its policy tests no segments. */
export function readSegments(evidence: unknown): SegmentChecks | undefined {
  if (!isObject(evidence) || !isObject(evidence.checks)) return undefined;
  const c = evidence.checks;
  if (!isObject(c.segments) || !Array.isArray(c.segments.cells))
    return undefined;
  return {
    segments: c.segments as unknown as SegmentEvidence,
    representativeness: Array.isArray(c.representativeness)
      ? (c.representativeness as RepresentativenessEvidence[])
      : undefined,
    srm: isObject(c.srm) ? (c.srm as unknown as SrmEvidence) : undefined,
  };
}

const pct = (x: number | null | undefined, d = 1) =>
  x === null || x === undefined || !Number.isFinite(x)
    ? '–'
    : `${(x * 100).toFixed(d)}%`;
const signed = (x: number | null) => {
  if (x === null || !Number.isFinite(x)) return x === null ? '–' : '+∞';
  return `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(1)}%`;
};
/** an interval's bound: null in JSON is an infinite bound (beyond the grid) */
const bound = (x: number | null, side: 'lo' | 'hi') => {
  if (x === null || !Number.isFinite(x)) return side === 'lo' ? '−∞' : '+∞';
  return signed(x);
};

/** the signal a row shows: a harmed one, else the one closest to its threshold */
function decisive(
  cell: SegmentCellEvidence,
): SegmentSignalEvidence | undefined {
  const harmed = cell.signals.find(s => s.rule === 'deterioration');
  if (harmed) return harmed;
  let best: SegmentSignalEvidence | undefined;
  for (const s of cell.signals) {
    if (s.rule === 'missing') continue;
    if (!best || s.statistic / s.threshold > best.statistic / best.threshold)
      best = s;
  }
  return best ?? cell.signals[0];
}

function verdictOf(cell: SegmentCellEvidence): {
  label: string;
  color: 'error' | 'success' | 'default' | 'warning';
} {
  if (cell.harmed) return { label: 'harmed', color: 'error' };
  if (!cell.tested) return { label: 'not tested', color: 'default' };
  if (cell.missing) return { label: 'missing', color: 'warning' };
  if (
    cell.signals.every(
      s => s.rule === 'missing' || s.rule === 'insufficient-data',
    )
  )
    return { label: 'no data yet', color: 'default' };
  return { label: 'no harm seen', color: 'success' };
}

function headline(ev: SegmentEvidence): {
  severity: 'error' | 'warning' | 'success';
  text: string;
} {
  if (ev.harmed.length)
    return {
      severity: 'error',
      text: `Harm confined to ${ev.harmed.join(', ')}: ${ev.onHarm === 'rollback' ? 'rolled back' : 'held'} by the policy (segments.onHarm: ${ev.onHarm})`,
    };
  if (ev.missingDimensions.length)
    return {
      severity: 'warning',
      text: `No segment telemetry in the latest interval for ${ev.missingDimensions.join(', ')}: no promotion until it is seen`,
    };
  return {
    severity: 'success',
    text: `No segment shows harm (${ev.cells.filter(c => c.tested).length} segments tested, α ${ev.alpha} over ${ev.cellBudget} cells)`,
  };
}

function CellRow(props: { cell: SegmentCellEvidence }) {
  const { cell } = props;
  const s = decisive(cell);
  const v = verdictOf(cell);
  return (
    <TableRow data-testid="segment-row" selected={cell.harmed}>
      <TableCell sx={{ whiteSpace: 'nowrap' }}>
        {cell.dimension}={cell.value}
      </TableCell>
      <TableCell align="right">
        {pct(cell.canaryShare)} / {pct(cell.baselineShare)}
      </TableCell>
      <TableCell>{s?.name ?? '–'}</TableCell>
      <TableCell align="right">{pct(s?.canary, 3)}</TableCell>
      <TableCell align="right">{pct(s?.baseline, 3)}</TableCell>
      <TableCell align="right" sx={{ whiteSpace: 'nowrap' }}>
        {s ? signed(s.difference) : '–'}
        {s?.ci && (
          <Typography variant="caption" display="block" color="text.secondary">
            {bound(s.ci[0], 'lo')} to {bound(s.ci[1], 'hi')} (
            {Math.round((1 - s.alphaCi) * 10000) / 100}%)
          </Typography>
        )}
      </TableCell>
      <TableCell>
        <Chip size="small" color={v.color} label={v.label} />
        {cell.note && (
          <Typography variant="caption" display="block" color="text.secondary">
            {cell.note}
          </Typography>
        )}
      </TableCell>
    </TableRow>
  );
}

/** The SRM check and, beside it, each dimension's segment-mix test (M9). */
function Representativeness(props: {
  srm?: SrmEvidence;
  mix?: RepresentativenessEvidence[];
}) {
  const { srm, mix } = props;
  return (
    <Box data-testid="representativeness" sx={{ mt: 2 }}>
      <Typography variant="subtitle2">Is the canary representative?</Typography>
      <Table size="small" aria-label="Sample ratio and segment mix">
        <TableHead>
          <TableRow>
            <TableCell>Check</TableCell>
            <TableCell>Canary vs baseline</TableCell>
            <TableCell align="right">e-value / threshold</TableCell>
            <TableCell>Result</TableCell>
          </TableRow>
        </TableHead>
        <TableBody>
          {srm && (
            <TableRow data-testid="srm-row">
              <TableCell>sample ratio (SRM)</TableCell>
              <TableCell>
                canary {pct(srm.observedShare, 2)} of requests, expected{' '}
                {pct(srm.expectedShare, 2)}
              </TableCell>
              <TableCell align="right">
                {Number(Math.exp(srm.statistic).toPrecision(3))} /{' '}
                {Number(Math.exp(srm.threshold).toPrecision(3))}
              </TableCell>
              <TableCell>
                <Chip
                  size="small"
                  color={srm.mismatch ? 'error' : 'success'}
                  label={srm.mismatch ? 'mismatch' : 'ok'}
                />
              </TableCell>
            </TableRow>
          )}
          {(mix ?? []).map(m => (
            <TableRow key={m.dimension} data-testid="mix-row">
              <TableCell>{m.dimension} mix</TableCell>
              <TableCell>
                {m.values
                  .map(
                    v =>
                      `${v.value} ${pct(v.canaryShare, 0)} vs ${pct(v.baselineShare, 0)}`,
                  )
                  .join(', ')}
              </TableCell>
              <TableCell align="right">
                {Number(Math.exp(m.statistic).toPrecision(3))} /{' '}
                {Number(Math.exp(m.threshold).toPrecision(3))}
              </TableCell>
              <TableCell>
                <Chip
                  size="small"
                  color={m.mismatch ? 'error' : 'success'}
                  label={
                    m.mismatch ? 'unrepresentative: hold' : 'representative'
                  }
                />
              </TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
    </Box>
  );
}

/**
 * Canary vs baseline per segment (dimension = value): each segment's share
 * of the two cohorts, the signal closest to proving harm with its
 * always-valid interval, and the verdict; then the SRM check with the
 * segment-mix test beside it.
 */
export function SegmentTable(props: { evidence: unknown }) {
  const checks = readSegments(props.evidence);
  if (!checks?.segments)
    return (
      <Typography variant="body2" color="text.secondary">
        No segments tested: the policy names no segment dimensions
        (gate.segments.dimensions).
      </Typography>
    );
  const ev = checks.segments;
  const head = headline(ev);
  return (
    <Box data-testid="segment-table">
      <Alert
        severity={head.severity}
        sx={{ mb: 1 }}
        data-testid="segment-verdict"
      >
        {head.text}
      </Alert>
      <Table size="small" aria-label="Canary vs baseline per segment">
        <TableHead>
          <TableRow>
            <TableCell>Segment</TableCell>
            <TableCell align="right">Share (canary / baseline)</TableCell>
            <TableCell>Signal</TableCell>
            <TableCell align="right">Canary</TableCell>
            <TableCell align="right">Baseline</TableCell>
            <TableCell align="right">Difference (always-valid CI)</TableCell>
            <TableCell>Verdict</TableCell>
          </TableRow>
        </TableHead>
        <TableBody>
          {ev.cells.map(cell => (
            <CellRow key={`${cell.dimension}=${cell.value}`} cell={cell} />
          ))}
        </TableBody>
      </Table>
      <Representativeness srm={checks.srm} mix={checks.representativeness} />
    </Box>
  );
}
