import { useState } from 'react';
import Button from '@mui/material/Button';
import Tooltip from '@mui/material/Tooltip';
import DownloadIcon from '@mui/icons-material/Download';
import { useApi } from '@backstage/core-plugin-api';
import type { Rollout } from '@tollgate/plugin-rollouts-common';
import { rolloutsApiRef } from '../../api';

/** The file name the report downloads as. */
export function reportFileName(rollout: Pick<Rollout, 'target' | 'version'>) {
  return `rollout-${rollout.target.replace(/[^\w.-]+/g, '-')}-${rollout.version}.md`;
}

/**
 * Downloads the post-rollout report (Markdown, from the decision log) for
 * reviews and postmortems.
 */
export function ReportDownload(props: {
  rollout: Pick<Rollout, 'id' | 'target' | 'version'>;
}) {
  const { rollout } = props;
  const api = useApi(rolloutsApiRef);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const download = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const markdown = await api.getReport(rollout.id);
      const url = URL.createObjectURL(
        new Blob([markdown], { type: 'text/markdown' }),
      );
      const a = document.createElement('a');
      a.href = url;
      a.download = reportFileName(rollout);
      document.body.appendChild(a);
      a.click();
      a.remove();
      URL.revokeObjectURL(url);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Tooltip
      title={
        error
          ? `Could not download the report: ${error}`
          : 'The release, its ladder, every decision with its figures, and who acted: Markdown for reviews and postmortems'
      }
    >
      <span>
        <Button
          size="small"
          startIcon={<DownloadIcon />}
          onClick={download}
          disabled={busy}
          color={error ? 'error' : 'primary'}
        >
          Report
        </Button>
      </span>
    </Tooltip>
  );
}
