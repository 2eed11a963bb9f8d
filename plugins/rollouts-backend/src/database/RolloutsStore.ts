import type {
  KpiInterval,
  DecisionChainVerification,
  DecisionEntry,
  DecisionListEntry,
  DecisionPage,
  EvidenceSnapshot,
  Rollout,
  RolloutStatus,
} from '@tollgate/plugin-rollouts-common';
import type { DecisionRow } from './decisionChain';
import type { DecisionCheckpoint } from './decisionCheckpoints';
import type { DecisionPageJson } from './decisionPageJson';
import type { DeliveryState } from './deliveryFigures';

/** Which decisions a list reads. */
export interface DecisionQuery {
  rolloutId?: string;
  entityRefs?: string[];
  since?: string;
  limit?: number;
  before?: number;
  /** Shadow policies' would-have entries (kind `shadow`): left out unless `include`d, or `only` them. */
  shadow?: 'exclude' | 'include' | 'only';
}

/** A decision before it is appended (the store gives it seq, id and hashes). */
export type NewDecision = Omit<
  DecisionEntry,
  'seq' | 'id' | 'prevHash' | 'hash' | 'createdAt'
> & {
  createdAt?: string;
};

/** A rollout row with its optimistic-concurrency version. */
export interface StoredRollout extends Rollout {
  rowVersion: number;
  externalId: string;
  pendingAction?: string;
  evidence?: EvidenceSnapshot;
  /**
   * The whole-rollout gate's state as of its current step's start (JSON,
   * see `loop/gateStates.ts`); only `getRollout` and `getGateStates` read it.
   */
  gateState?: string;
}

export interface RolloutFilter {
  entityRefs?: string[];
  status?: RolloutStatus[];
  finishedSince?: string;
  limit?: number;
  /** Rows to skip first (a page after the first), in the list's order (newest start first). */
  offset?: number;
  /** Only rollouts whose entity ref or version contains this text (case-insensitive). */
  search?: string;
  /**
   * Also load each rollout's evidence snapshot (several KiB each). Lists
   * leave it out unless asked; `getRollout` always has it.
   */
  withEvidence?: boolean;
  /** Only rollouts whose post-promotion watch is in this state. */
  watchState?: 'watching';
}

/** What the dashboard needs of one rollout (no evidence snapshot). */
export interface RolloutFigures {
  entityRef: string;
  status: RolloutStatus;
  startedAt: string;
  stepStartedAt: string;
  finishedAt?: string;
  /** Worst burn rate in its latest evidence. */
  burnRate?: number;
  /** Relative canary–baseline KPI deltas in its latest evidence. */
  kpiDeltas?: Record<string, number>;
  id?: string;
  version?: string;
  /** The KPIs of its latest evidence with their always-valid intervals (active rollouts only). */
  kpiIntervals?: KpiInterval[];
  /** Its delivery figures, folded from its decisions (see `deliveryFigures.ts`). */
  delivery?: DeliveryState;
}

/** One conditional update of a batch, with the decision to log when it applies. */
export interface RolloutUpdate {
  /** The row as read; the update applies only while the row still has its `rowVersion`. */
  rollout: StoredRollout;
  patch: RolloutPatch;
  /** Appended to the decision log in the same transaction, only when the update applies. */
  decision?: NewDecision;
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
    | 'watch'
    | 'gateState'
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
  upsertDiscovered(
    rollout: Omit<StoredRollout, 'rowVersion' | 'updatedAt'>,
  ): Promise<{ rollout: StoredRollout; created: boolean }>;
  getRollout(id: string): Promise<StoredRollout | undefined>;
  listRollouts(filter?: RolloutFilter): Promise<StoredRollout[]>;
  /** How many rollouts the filter matches (its limit and offset ignored). */
  countRollouts(filter?: RolloutFilter): Promise<number>;
  /** The distinct entity refs of the rollouts the filter matches (its limit and offset ignored). */
  listRolloutEntityRefs(filter?: RolloutFilter): Promise<string[]>;
  /**
   * Applies the patch only when the row still has `expectedVersion`;
   * returns the new row, or undefined when another writer got there first.
   */
  updateRollout(
    id: string,
    expectedVersion: number,
    patch: RolloutPatch,
  ): Promise<StoredRollout | undefined>;

  /**
   * Applies many conditional updates, and appends the decisions of those
   * that applied, in one transaction per chunk. Returns, in input order, the
   * new row of each update that applied (undefined where another writer got
   * there first) and the decision logged with it.
   */
  updateRollouts(
    updates: RolloutUpdate[],
  ): Promise<
    Array<{ rollout: StoredRollout; decision?: DecisionEntry } | undefined>
  >;

  /**
   * The end of an action on a deploy system, in one transaction: appends
   * the decision (the deploy system acted, so it is logged whatever
   * happened to the row) and releases the claimed row with `patch` while it
   * still has the claimed `rowVersion`. Returns the released row (undefined
   * when someone reconciled it meanwhile) and the logged decision.
   */
  finishAction(update: {
    rollout: StoredRollout;
    patch: RolloutPatch;
    decision: NewDecision;
  }): Promise<{ rollout?: StoredRollout; decision: DecisionEntry }>;

  /** Active rollouts and those finished since `finishedSince`, for the dashboard. */
  listRolloutFigures(filter: {
    entityRefs?: string[];
    finishedSince: string;
  }): Promise<RolloutFigures[]>;

  /** The stored whole-rollout gate states of these rollouts (those that have one). */
  getGateStates(ids: string[]): Promise<Map<string, string>>;

  /** A number that changes whenever this store instance writes (for caches of derived figures). */
  generation(): number;

  appendDecision(decision: NewDecision): Promise<DecisionEntry>;
  /**
   * Appends several decisions in one transaction, extending the hash chain
   * in order; like `appendDecision` it holds the chain head while it does.
   */
  appendDecisions(decisions: NewDecision[]): Promise<DecisionEntry[]>;
  listDecisions(
    options: DecisionQuery & { withEvidence?: true },
  ): Promise<DecisionPage>;
  /** Without the evidence snapshots: a page for the API's lists. */
  listDecisions(
    options: DecisionQuery & { withEvidence: false },
  ): Promise<DecisionPage<DecisionListEntry>>;
  /**
   * The rollout's entity and the seq of its newest decision (0 without
   * any), in one indexed read: what a decision page's permission check and
   * its cache key need. Undefined when there is no such rollout.
   */
  getDecisionHead(
    rolloutId: string,
  ): Promise<{ entityRef: string; lastSeq: number } | undefined>;
  /**
   * `listDecisions({ rolloutId, limit, before, withEvidence: false })` as
   * the API's JSON text, written straight from the rows (byte for byte
   * `JSON.stringify` of that page), with the page's newest entry.
   */
  getDecisionPageJson(
    rolloutId: string,
    query: { limit?: number; before?: number },
  ): Promise<DecisionPageJson>;
  /** One decision's evidence snapshot, when the rollout has a decision at `seq`. */
  getDecisionEvidence(
    rolloutId: string,
    seq: number,
  ): Promise<{ evidence: EvidenceSnapshot | null } | undefined>;
  verifyDecisions(): Promise<DecisionChainVerification>;
  /** The chain head: the last entry's seq and hash (seq 0 for an empty log). */
  decisionHead(): Promise<{ seq: number; hash: string }>;
  /**
   * The log's rows in seq order, every column as stored, after `after`
   * through `throughSeq`; each signed checkpoint right after its entry.
   */
  exportDecisions(options: {
    after: number;
    throughSeq: number;
    batch?: number;
  }): AsyncIterable<
    | { type: 'entry'; row: DecisionRow }
    | { type: 'checkpoint'; checkpoint: DecisionCheckpoint }
  >;
  /** The public key checkpoints verify with (PEM), or undefined when none are signed. */
  checkpointPublicKeyPem(): string | undefined;

  /** Inserts the key, or returns the existing record when the key was seen before. */
  claimActionRequest(
    record: Omit<ActionRequestRecord, 'state' | 'result'>,
  ): Promise<{ claimed: boolean; existing?: ActionRequestRecord }>;
  finishActionRequest(
    key: string,
    state: 'done' | 'failed',
    result: unknown,
  ): Promise<void>;
  getActionRequest(key: string): Promise<ActionRequestRecord | undefined>;
}
