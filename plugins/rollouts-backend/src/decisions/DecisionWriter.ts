import type {
  DecisionEntry,
  DecisionKind,
  EvidenceSnapshot,
} from '@tollgate/plugin-rollouts-common';
import type {
  NewDecision,
  RolloutsStore,
  StoredRollout,
} from '../database/RolloutsStore';

/** What a decision is about: a gate verdict, a person's action, a registration or an observation. */
export type DecisionVerdict = DecisionEntry['verdict'];
export type DecisionOutcome = DecisionEntry['outcome'];

/** What a caller says about a decision; the rollout it is about supplies the rest. */
export interface DecisionInput {
  verdict: DecisionVerdict;
  kind: DecisionKind;
  /** `scheduler`, a user's entity ref, or `service:<subject>`. */
  actor: string;
  reasons: string[];
  /** The evidence the decision was made on (none when left out). */
  evidence?: EvidenceSnapshot | null;
  outcome: DecisionOutcome;
  /** The step the decision is about; the rollout's current step when left out. */
  stepIndex?: number;
  /** The hash of the policy it was decided under; the rollout's when left out. */
  policyHash?: string | null;
  /** When it was decided; the writer's clock when left out. */
  createdAt?: string;
}

/** The part of a rollout a decision record is built from. */
export type DecisionSubject = Pick<
  StoredRollout,
  'id' | 'entityRef' | 'currentStepIndex' | 'policyHash'
>;

/**
 * The one place decision records are built: the gate loop, people's
 * actions, the judge, registration from CI and history import all describe
 * a decision with a {@link DecisionInput} and get the record from here.
 * Appending it is the store's job, in the same transaction as the rollout
 * change it explains (see `Actuator`).
 */
export class DecisionWriter {
  readonly #now: () => Date;

  constructor(options: { now?: () => Date } = {}) {
    this.#now = options.now ?? (() => new Date());
  }

  /** The decision record for `rollout`. */
  build(rollout: DecisionSubject, d: DecisionInput): NewDecision {
    return {
      rolloutId: rollout.id,
      entityRef: rollout.entityRef,
      stepIndex: d.stepIndex ?? rollout.currentStepIndex,
      verdict: d.verdict,
      kind: d.kind,
      actor: d.actor,
      reasons: d.reasons,
      evidence: d.evidence ?? null,
      policyHash:
        d.policyHash === undefined
          ? (rollout.policyHash ?? null)
          : d.policyHash,
      outcome: d.outcome,
      createdAt: d.createdAt ?? this.#now().toISOString(),
    };
  }

  /**
   * Appends a decision that explains no rollout change of its own (a
   * registration, an answer to a controller, imported history).
   */
  append(
    store: Pick<RolloutsStore, 'appendDecision'>,
    rollout: DecisionSubject,
    d: DecisionInput,
  ): Promise<DecisionEntry> {
    return store.appendDecision(this.build(rollout, d));
  }
}
