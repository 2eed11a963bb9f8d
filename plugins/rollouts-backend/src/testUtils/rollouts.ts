import { randomUUID } from 'node:crypto';
import type { StoredRollout } from '../database/RolloutsStore';

/**
 * A rollout as a provider's sync would register it (`upsertDiscovered`):
 * checkout-api 2.0.0 at the 5 % step of a 5 % → 100 % ladder, started now,
 * with a fresh id and external id; `overrides` replace any field.
 */
export function discoveredRollout(
  overrides: Partial<StoredRollout> = {},
): Omit<StoredRollout, 'rowVersion' | 'updatedAt'> {
  const now = new Date().toISOString();
  return {
    id: randomUUID(),
    entityRef: 'component:default/checkout-api',
    provider: 'fake',
    target: 'checkout/checkout-api',
    externalId: `checkout/checkout-api@${randomUUID()}`,
    version: '2.0.0',
    status: 'progressing',
    steps: [{ weight: 5 }, { weight: 100 }],
    currentStepIndex: 0,
    currentWeight: 5,
    startedAt: now,
    stepStartedAt: now,
    ...overrides,
  };
}
