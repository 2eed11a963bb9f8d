import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Chip from '@mui/material/Chip';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import Typography from '@mui/material/Typography';
import { Link } from '@backstage/core-components';
import {
  readBlastRadius,
  type BlastRadiusConsumerEvidence,
  type BlastRadiusEvidence,
} from '@tollgate/plugin-rollouts-common';
import { entityName, entityRolloutsPath } from '../../utils/format';

export { readBlastRadius };

const STATUS: Record<
  BlastRadiusConsumerEvidence['status'],
  { label: string; color: 'error' | 'success' | 'default' | 'warning' }
> = {
  harm: { label: 'burn rose with the step', color: 'error' },
  'no-rise': { label: 'no rise seen', color: 'success' },
  'not-measured': { label: 'not measured', color: 'warning' },
  'not-judged': { label: 'not judged', color: 'default' },
};

const burn = (b: number | null) =>
  b === null || !Number.isFinite(b) ? '–' : `${Number(b.toPrecision(2))}×`;

function relation(c: BlastRadiusConsumerEvidence): string {
  if (c.relation === 'consumesApi')
    return `consumes ${c.via ? entityName(c.via) : 'an API'}`;
  return c.via
    ? `depends on it, consumes ${entityName(c.via)}`
    : 'depends on it';
}

const NOWRAP = { whiteSpace: 'nowrap' } as const;

/** `the 5 % step`; `the step` when the share is not known */
const stepText = (share: number) =>
  share > 0 ? `the ${Number((share * 100).toPrecision(3))} % step` : 'the step';

function headline(ev: BlastRadiusEvidence): {
  severity: 'error' | 'warning' | 'info' | 'success';
  text: string;
} {
  const names = ev.harmed.map(entityName).join(', ');
  if (ev.action === 'rollback')
    return {
      severity: 'error',
      text: `Rolled back: ${names} burned error budget with ${stepText(ev.share)}`,
    };
  if (ev.action === 'hold')
    return {
      severity: 'error',
      text: `Holding: ${names} burns error budget since ${stepText(ev.share)}`,
    };
  if (ev.harmed.length)
    return {
      severity: 'warning',
      text: `${names} burns error budget since ${stepText(ev.share)} (the gate decided already)`,
    };
  const measured = ev.consumers.filter(c => c.status === 'no-rise').length;
  const unmeasured = ev.consumers.filter(
    c => c.status === 'not-measured',
  ).length;
  if (!measured)
    return {
      severity: 'warning',
      text: `No consumer could be measured yet (${unmeasured} not measured): nothing is known about the harm to them`,
    };
  return {
    severity: 'success',
    text: `No consumer's burn rose with ${stepText(ev.share)} (${measured} measured${unmeasured ? `, ${unmeasured} not measured` : ''})`,
  };
}

/**
 * The released service's consumers (catalog `dependsOn` and consumed APIs),
 * their error-budget burn before the current step and in it, and what the
 * gate made of it.
 */
export function BlastRadius(props: { evidence: unknown }) {
  const ev = readBlastRadius(props.evidence);
  if (!ev)
    return (
      <Typography variant="body2" color="text.secondary">
        No consumers watched: the catalog names none for this service (no
        dependsOn or consumed API), or its policy turns the check off
        (gate.blastRadius.enabled).
      </Typography>
    );
  const head = headline(ev);
  return (
    <Box data-testid="blast-radius">
      <Alert
        severity={head.severity}
        sx={{ mb: 1 }}
        data-testid="blast-radius-verdict"
      >
        {head.text}
      </Alert>
      <Table size="small" aria-label="Consumers of this service">
        <TableHead>
          <TableRow>
            <TableCell>Consumer</TableCell>
            <TableCell sx={{ minWidth: 160 }}>Relation</TableCell>
            <TableCell align="right" sx={NOWRAP}>
              Burn before
            </TableCell>
            <TableCell align="right" sx={NOWRAP}>
              Burn in step
            </TableCell>
            <TableCell align="right" sx={NOWRAP}>
              Harm above
            </TableCell>
            <TableCell>Verdict</TableCell>
          </TableRow>
        </TableHead>
        <TableBody>
          {ev.consumers.map(c => {
            const s = STATUS[c.status] ?? STATUS['not-measured'];
            return (
              <TableRow key={c.entityRef} data-testid="blast-radius-consumer">
                <TableCell sx={NOWRAP}>
                  <Link
                    to={entityRolloutsPath(c.entityRef).replace(
                      /\/rollouts$/,
                      '',
                    )}
                  >
                    {c.entityRef}
                  </Link>
                </TableCell>
                <TableCell>{relation(c)}</TableCell>
                <TableCell align="right" sx={NOWRAP}>
                  {burn(c.burnBefore)}
                </TableCell>
                <TableCell align="right" sx={NOWRAP}>
                  {burn(c.burnDuring)}
                </TableCell>
                <TableCell align="right" sx={NOWRAP}>
                  {burn(c.limitBurn)}
                </TableCell>
                <TableCell>
                  <Chip size="small" color={s.color} label={s.label} />
                  <Typography
                    variant="caption"
                    display="block"
                    color="text.secondary"
                  >
                    {c.reason}
                  </Typography>
                </TableCell>
              </TableRow>
            );
          })}
        </TableBody>
      </Table>
      <Typography variant="caption" color="text.secondary">
        {`Burn: the consumer's error rate ÷ its error budget, all its traffic, ${Math.round(ev.beforeSeconds / 60)} min before the step against the step so far. Harm: above the before-burn's upper bound + ${ev.minBurnRise}× (anytime-valid test, α ${ev.alpha} per rollout). On harm: ${ev.onConsumerHarm}.`}
      </Typography>
    </Box>
  );
}
