/** Formatting helpers shared by the views. */

export {
  formatDifference,
  formatDuration,
  formatMinutes,
  formatNumber,
  formatPercent,
} from '@tollgate/plugin-rollouts-common';

export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(undefined, {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
  });
}

export function sinceIso(
  iso: string | null | undefined,
  now: number = Date.now(),
): number | null {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : now - t;
}

/** Name part of an entity ref (`component:default/checkout-api` → `checkout-api`). */
export function entityName(ref: string): string {
  const slash = ref.lastIndexOf('/');
  const colon = ref.indexOf(':');
  return ref.slice(Math.max(slash, colon) + 1);
}

/** Route path of an entity's Rollouts tab. */
export function entityRolloutsPath(ref: string): string {
  const m = /^([^:]+):(?:([^/]+)\/)?(.+)$/.exec(ref);
  if (!m) return '/catalog';
  const [, kind, namespace, name] = m;
  return `/catalog/${encodeURIComponent(namespace ?? 'default')}/${encodeURIComponent(
    kind.toLocaleLowerCase('en-US'),
  )}/${encodeURIComponent(name)}/rollouts`;
}
