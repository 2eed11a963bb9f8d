import type { DecisionEntry } from '@tollgate/plugin-rollouts-common';
import type { RolloutsStore } from '../database/RolloutsStore';

/** Every entry of a rollout's log with its evidence, oldest first. */
export async function allDecisionsOf(
  store: Pick<RolloutsStore, 'listDecisions'>,
  rolloutId: string,
): Promise<DecisionEntry[]> {
  const pages: DecisionEntry[][] = [];
  for (let before: number | undefined; ;) {
    const page = await store.listDecisions({ rolloutId, limit: 500, before });
    pages.push(page.items);
    if (page.nextCursor === undefined) break;
    before = page.nextCursor;
  }
  return pages.flat().reverse();
}
