import type {
  DecisionChainVerification,
  DecisionEntry,
  DecisionPage,
  Rollout,
  RolloutStatus,
} from '@tollgate/plugin-rollouts-common';

/** A decision before it is appended (the store gives it seq, id and hashes). */
export type NewDecision = Omit<DecisionEntry, 'seq' | 'id' | 'prevHash' | 'hash' | 'createdAt'> & {
  createdAt?: string;
};

/** A rollout row with its optimistic-concurrency version. */
export interface StoredRollout extends Rollout {
  rowVersion: number;
  externalId: string;
  pendingAction?: string;
  evidence?: Record<string, unknown>;
}

export interface RolloutFilter {
  entityRefs?: string[];
  status?: RolloutStatus[];
  finishedSince?: string;
  limit?: number;
}

/** Fields a conditional update may change. */
export type RolloutPatch = Partial<
  Pick<
    StoredRollout,
    | 'status'
    | 'currentStepIndex'
    | 'currentWeight'
    | 'stepStartedAt'
    | 'finishedAt'
    | 'version'
    | 'previousVersion'
    | 'steps'
    | 'lastEvaluation'
    | 'evidence'
    | 'policyName'
    | 'policyHash'
    | 'entityRef'
  >
> & { lastError?: Rollout['lastError'] | null; pendingAction?: string | null };

export interface ActionRequestRecord {
  idempotencyKey: string;
  rolloutId: string;
  action: string;
  actor: string;
  state: 'running' | 'done' | 'failed';
  result?: unknown;
  createdAt: string;
}

/**
 * Persistence of rollouts, the decision log and action idempotency keys.
 */
export interface RolloutsStore {
  upsertDiscovered(rollout: Omit<StoredRollout, 'rowVersion' | 'updatedAt'>): Promise<{ rollout: StoredRollout; created: boolean }>;
  getRollout(id: string): Promise<StoredRollout | undefined>;
  listRollouts(filter?: RolloutFilter): Promise<StoredRollout[]>;
  /**
   * Applies the patch only when the row still has `expectedVersion`;
   * returns the new row, or undefined when another writer got there first.
   */
  updateRollout(id: string, expectedVersion: number, patch: RolloutPatch): Promise<StoredRollout | undefined>;

  appendDecision(decision: NewDecision): Promise<DecisionEntry>;
  listDecisions(options: { rolloutId?: string; entityRefs?: string[]; since?: string; limit?: number; before?: number }): Promise<DecisionPage>;
  verifyDecisions(): Promise<DecisionChainVerification>;

  /** Inserts the key, or returns the existing record when the key was seen before. */
  claimActionRequest(record: Omit<ActionRequestRecord, 'state' | 'result'>): Promise<{ claimed: boolean; existing?: ActionRequestRecord }>;
  finishActionRequest(key: string, state: 'done' | 'failed', result: unknown): Promise<void>;
  getActionRequest(key: string): Promise<ActionRequestRecord | undefined>;
}
