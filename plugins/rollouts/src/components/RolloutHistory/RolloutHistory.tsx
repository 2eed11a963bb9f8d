import { Table, type TableColumn } from '@backstage/core-components';
import type { Rollout } from '@tollgate/plugin-rollouts-common';
import { formatDateTime, formatDuration } from '../../utils/format';
import { StatusChip } from '../RolloutChips';

function durationMs(r: Rollout): number | null {
  if (!r.finishedAt) return null;
  const ms = Date.parse(r.finishedAt) - Date.parse(r.startedAt);
  return Number.isFinite(ms) ? ms : null;
}

/** Finished rollouts of one service. */
export function RolloutHistory(props: {
  rollouts: Rollout[];
  onSelect?: (rollout: Rollout) => void;
}) {
  const columns: TableColumn<Rollout>[] = [
    {
      title: 'Version',
      field: 'version',
      render: r =>
        r.previousVersion
          ? `${r.version} (from ${r.previousVersion})`
          : r.version,
    },
    {
      title: 'Status',
      field: 'status',
      render: r => <StatusChip status={r.status} />,
    },
    {
      title: 'Started',
      field: 'startedAt',
      render: r => formatDateTime(r.startedAt),
      defaultSort: 'desc',
    },
    {
      title: 'Finished',
      field: 'finishedAt',
      render: r => formatDateTime(r.finishedAt),
    },
    {
      title: 'Duration',
      field: 'finishedAt',
      customSort: (a, b) => (durationMs(a) ?? 0) - (durationMs(b) ?? 0),
      render: r => formatDuration(durationMs(r)),
    },
  ];
  return (
    <Table<Rollout>
      title="Past rollouts"
      data={props.rollouts}
      columns={columns}
      options={{
        paging: props.rollouts.length > 10,
        pageSize: 10,
        search: false,
        padding: 'dense',
      }}
      onRowClick={
        props.onSelect ? (_e, row) => row && props.onSelect!(row) : undefined
      }
      emptyContent={
        <div style={{ padding: 16 }}>No finished rollouts yet.</div>
      }
    />
  );
}
