import { useEffect, useState } from 'react';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Chip from '@mui/material/Chip';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogTitle from '@mui/material/DialogTitle';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import Typography from '@mui/material/Typography';
import { useApi } from '@backstage/core-plugin-api';
import type {
  DecisionEntry,
  DecisionListEntry,
  DecisionPage,
  EvidenceSnapshot,
} from '@tollgate/plugin-rollouts-common';
import { rolloutsApiRef } from '../../api';
import { readKeyNumbers } from '@tollgate/plugin-rollouts-common';
import { serverMessage } from '../../utils/errors';
import { entityName, formatDateTime, formatNumber } from '../../utils/format';
import { RubricChip, VerdictChip } from '../RolloutChips';

function actorText(actor: string): string {
  return actor === 'scheduler' ? 'gate (automatic)' : entityName(actor);
}

/**
 * A row of the timeline: the API lists decisions without their evidence
 * (`hasEvidence` says whether there is one); an entry that carries its
 * evidence (an action's answer, say) shows it as it is.
 */
export type TimelineDecision =
  DecisionListEntry | (DecisionEntry & { hasEvidence?: boolean });

type EvidenceState =
  | { state: 'loading' }
  | { state: 'loaded'; evidence: EvidenceSnapshot | null }
  | { state: 'failed'; message: string };

/** The decision's evidence: its own when it carries it, else fetched once the dialog opens. */
function useDecisionEvidence(
  rolloutId: string,
  decision: TimelineDecision,
): EvidenceState {
  const api = useApi(rolloutsApiRef);
  const carried = 'evidence' in decision && decision.evidence !== undefined;
  const none = !carried && decision.hasEvidence === false;
  const [fetched, setFetched] = useState<EvidenceState>({ state: 'loading' });
  useEffect(() => {
    if (carried || none) return undefined;
    let cancelled = false;
    setFetched({ state: 'loading' });
    api.getDecisionEvidence(rolloutId, decision.seq).then(
      answer => {
        if (!cancelled)
          setFetched({ state: 'loaded', evidence: answer.evidence });
      },
      e => {
        if (!cancelled)
          setFetched({ state: 'failed', message: serverMessage(e) });
      },
    );
    return () => {
      cancelled = true;
    };
  }, [api, rolloutId, decision.seq, carried, none]);
  if (carried) {
    return {
      state: 'loaded',
      evidence: (decision as DecisionEntry).evidence ?? null,
    };
  }
  if (none) return { state: 'loaded', evidence: null };
  return fetched;
}

function DecisionDialog(props: {
  rolloutId: string;
  decision: TimelineDecision;
  onClose: () => void;
}) {
  const { rolloutId, decision, onClose } = props;
  const evidenceState = useDecisionEvidence(rolloutId, decision);
  const evidence =
    evidenceState.state === 'loaded' ? evidenceState.evidence : null;
  const key = readKeyNumbers(evidence);
  return (
    <Dialog
      open
      onClose={onClose}
      maxWidth="md"
      fullWidth
      aria-labelledby="decision-dialog-title"
    >
      <DialogTitle id="decision-dialog-title">{`Decision #${decision.seq}: ${decision.verdict}`}</DialogTitle>
      <DialogContent dividers>
        <Box
          sx={{
            display: 'flex',
            gap: 1,
            flexWrap: 'wrap',
            mb: 2,
            alignItems: 'center',
          }}
        >
          <VerdictChip verdict={decision.verdict} />
          <Chip size="small" variant="outlined" label={decision.kind} />
          <RubricChip rubric={key.rubric} />
          {decision.outcome !== 'none' && (
            <Chip
              size="small"
              color={decision.outcome === 'failed' ? 'error' : 'default'}
              label={`outcome: ${decision.outcome}`}
            />
          )}
        </Box>
        <Typography variant="body2" data-testid="decision-key-numbers">
          {`By ${actorText(decision.actor)} at ${formatDateTime(decision.createdAt)}, step ${decision.stepIndex + 1}.`}
          {key.score !== undefined && key.score !== null
            ? ` Score ${formatNumber(key.score, 3)}.`
            : ''}
          {key.eligible !== undefined
            ? ` Promotion ${key.eligible ? 'eligible' : 'not yet eligible'}.`
            : ''}
          {key.srmMismatch ? ' Traffic split mismatch detected.' : ''}
          {key.stale ? ' Telemetry was stale.' : ''}
          {key.burnAlerting ? ' Canary error-budget burn alerting.' : ''}
        </Typography>
        {decision.reasons.length > 0 && (
          <ul>
            {decision.reasons.map((r, i) => (
              <li key={i}>
                <Typography variant="body2">{r}</Typography>
              </li>
            ))}
          </ul>
        )}
        <Typography variant="subtitle2" sx={{ mt: 2 }}>
          Evidence snapshot
        </Typography>
        {evidenceState.state === 'loading' && (
          <Typography
            variant="body2"
            color="text.secondary"
            data-testid="decision-evidence-loading"
          >
            Loading the evidence snapshot…
          </Typography>
        )}
        {evidenceState.state === 'failed' && (
          <Typography
            variant="body2"
            color="error"
            data-testid="decision-evidence-error"
          >
            {`Could not load the evidence snapshot: ${evidenceState.message}`}
          </Typography>
        )}
        {evidenceState.state === 'loaded' && evidence && (
          <Box
            component="pre"
            data-testid="decision-evidence"
            sx={{
              fontSize: 12,
              overflow: 'auto',
              maxHeight: 400,
              p: 1,
              bgcolor: 'action.hover',
              borderRadius: 1,
            }}
          >
            {JSON.stringify(evidence, null, 2)}
          </Box>
        )}
        {evidenceState.state === 'loaded' && !evidence && (
          <Typography variant="body2" color="text.secondary">
            No evidence was recorded with this decision.
          </Typography>
        )}
        <Typography
          variant="caption"
          color="text.secondary"
          component="p"
          sx={{ mt: 1 }}
        >
          {`Policy ${decision.policyHash ?? 'n/a'} · hash ${decision.hash}`}
        </Typography>
      </DialogContent>
      <DialogActions>
        <Button onClick={onClose}>Close</Button>
      </DialogActions>
    </Dialog>
  );
}

/** The rollout's decision log, newest first; a row opens its evidence snapshot (fetched then). */
export function DecisionTimeline(props: {
  rolloutId: string;
  page?: DecisionPage<TimelineDecision>;
  /** A decision to open at once (a link from the dashboard's incidents). */
  openSeq?: number;
}) {
  const { rolloutId, page, openSeq } = props;
  const api = useApi(rolloutsApiRef);
  const [older, setOlder] = useState<TimelineDecision[]>([]);
  const [cursor, setCursor] = useState<number | undefined>();
  const [loadingOlder, setLoadingOlder] = useState(false);
  const [olderError, setOlderError] = useState<string>();
  const [open, setOpen] = useState<TimelineDecision>();

  useEffect(() => {
    setOlder([]);
    setCursor(undefined);
  }, [rolloutId]);

  const first = page?.items ?? [];
  const firstSeqs = new Set(first.map(d => d.seq));
  const items = [...first, ...older.filter(d => !firstSeqs.has(d.seq))];
  const nextCursor = older.length > 0 ? cursor : page?.nextCursor;

  // Opened from a link: once, when the linked decision is on the page.
  const [linkOpened, setLinkOpened] = useState(false);
  const linked =
    openSeq === undefined ? undefined : first.find(d => d.seq === openSeq);
  useEffect(() => {
    if (linked && !linkOpened) {
      setOpen(linked);
      setLinkOpened(true);
    }
  }, [linked, linkOpened]);

  const loadOlder = async () => {
    if (nextCursor === undefined) return;
    setLoadingOlder(true);
    setOlderError(undefined);
    try {
      const more = await api.listDecisions(rolloutId, {
        limit: 50,
        before: nextCursor,
      });
      setOlder(prev => [...prev, ...more.items]);
      setCursor(more.nextCursor);
      if (more.nextCursor === undefined) setCursor(undefined);
    } catch (e) {
      setOlderError(serverMessage(e));
    } finally {
      setLoadingOlder(false);
    }
  };
  // once older pages are loaded, the last page is reached when the cursor is gone
  const hasMore =
    older.length > 0 ? cursor !== undefined : page?.nextCursor !== undefined;

  if (items.length === 0) {
    return (
      <Typography
        variant="body2"
        color="text.secondary"
        data-testid="decisions-empty"
      >
        No decisions yet.
      </Typography>
    );
  }
  return (
    <Box>
      <Table
        size="small"
        aria-label="Decision timeline"
        data-testid="decision-timeline"
      >
        <TableHead>
          <TableRow>
            <TableCell>When</TableCell>
            <TableCell>Verdict</TableCell>
            <TableCell>Kind</TableCell>
            <TableCell>Actor</TableCell>
            <TableCell>Step</TableCell>
            <TableCell>Reasons</TableCell>
          </TableRow>
        </TableHead>
        <TableBody>
          {items.map(d => (
            <TableRow
              key={d.id}
              hover
              tabIndex={0}
              role="button"
              aria-label={`Decision ${d.seq}: ${d.verdict} by ${actorText(d.actor)}`}
              data-testid={`decision-${d.seq}`}
              sx={{ cursor: 'pointer' }}
              onClick={() => setOpen(d)}
              onKeyDown={e => {
                if (e.key === 'Enter' || e.key === ' ') {
                  e.preventDefault();
                  setOpen(d);
                }
              }}
            >
              <TableCell sx={{ whiteSpace: 'nowrap' }}>
                {formatDateTime(d.createdAt)}
              </TableCell>
              <TableCell>
                <VerdictChip verdict={d.verdict} />
                {d.outcome === 'failed' && (
                  <Chip
                    size="small"
                    color="error"
                    label="failed"
                    sx={{ ml: 0.5 }}
                  />
                )}
              </TableCell>
              <TableCell>{d.kind}</TableCell>
              <TableCell>{actorText(d.actor)}</TableCell>
              <TableCell>{d.stepIndex + 1}</TableCell>
              <TableCell>{d.reasons.join('; ') || '—'}</TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
      {olderError && (
        <Typography color="error" variant="body2" sx={{ mt: 1 }}>
          {olderError}
        </Typography>
      )}
      {hasMore && (
        <Button sx={{ mt: 1 }} onClick={loadOlder} disabled={loadingOlder}>
          {loadingOlder ? 'Loading…' : 'Load older decisions'}
        </Button>
      )}
      {open && (
        <DecisionDialog
          rolloutId={rolloutId}
          decision={open}
          onClose={() => setOpen(undefined)}
        />
      )}
    </Box>
  );
}
