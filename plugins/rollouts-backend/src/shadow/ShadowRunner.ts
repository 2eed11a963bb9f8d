import {
  POLICY_ANNOTATION,
  storedEvidence,
  type GateVerdict,
} from '@tollgate/plugin-rollouts-common';
import type { RolloutsStore, StoredRollout } from '../database/RolloutsStore';
import type { NewDecision } from '../database/RolloutsStore';
import { DecisionWriter } from '../decisions/DecisionWriter';
import type { RolloutEvaluator } from '../evaluation/RolloutEvaluator';
import type { RetryOptions } from '../providers/retry';
import { GateStateCache } from '../loop/gateStates';
import type { RolloutPolicy } from '../policy/policy';
import { shadowRulesPolicy } from '../policy/shadowRules';
import { stepRule } from '../loop/verdicts';
import { shadowName, shadowPolicyRef, type ShadowConfig } from './shadowConfig';
import type { ShadowRow, ShadowStore } from './ShadowStore';

/** The first reason of a would-have entry; `shadowFigures.ts` reads it back. */
export function wouldHaveLine(
  shadow: GateVerdict,
  name: string,
  enforced: GateVerdict,
): string {
  return `would have: ${shadow} under shadow policy ${name} (enforced: ${enforced})${
    shadow === enforced ? ' — agrees again' : ''
  }`;
}

export const WOULD_HAVE =
  /^would have: (\w+) under shadow policy (.+) \(enforced: (\w+)\)/;

/**
 * The verdict the gate loop acts on for an engine verdict: a promotion waits
 * for the step's minimum duration (continue), for approval or while paused
 * (hold), as `loop/verdicts.ts`'s step rule says.
 */
export function effectiveVerdict(
  rollout: StoredRollout,
  verdict: GateVerdict,
  now: Date,
): GateVerdict {
  if (verdict !== 'promote') return verdict;
  const sr = stepRule(rollout, now);
  if (!sr) return 'promote';
  return sr.kind === 'approval' ? 'hold' : sr.verdict;
}

/**
 * The shard the judge observes shadows in (`/v1/judge`, the Flagger
 * webhooks). The judge runs on whichever replica got the controller's call,
 * so a rollout has no owning replica there: the pair last logged is read
 * from `rollout_shadows` on every observation (another replica may have
 * logged since), and the gate states in this shard are only this process's
 * cache (a judged rollout is one step at the weight the controller gives:
 * its state is folded from the step's start, never stored).
 */
export const JUDGE_SHARD = 'judge';

interface Pending {
  row: ShadowRow;
  decision?: NewDecision;
}

/**
 * Shadow policies, beside the enforced one: on every run of the gate loop
 * (and each time the judge evaluates for Argo Rollouts or Flagger) each
 * shadowed rollout is evaluated again under its shadow policy through
 * the one evaluation path ({@link RolloutEvaluator}), with its own
 * whole-rollout gate state (kept like the enforced one's, stored in
 * `rollout_shadows` so any replica carries it on). The shadow never acts:
 * no provider call, no change to the rollout's row.
 *
 * What it logs: a `shadow` decision (the would-have verdict, its reasons
 * and evidence) when the pair (enforced verdict, shadow verdict) changes
 * and the two differ, and once when they agree again. Not one per run.
 * Verdicts are compared as the loop acts on them (a promotion before the
 * step's minimum is `continue`). The log's lists and the delivery figures
 * leave `shadow` entries out.
 */
export class ShadowRunner {
  readonly #gates = new Map<string, GateStateCache>();
  /** The last logged pair per rollout and shadow (undefined: none read yet). */
  readonly #pairs = new Map<string, string | null>();
  #pending: Pending[] = [];
  readonly #decisions = new DecisionWriter();

  constructor(
    private readonly o: {
      evaluator: RolloutEvaluator;
      config: ShadowConfig;
      shadows: ShadowStore;
      store: Pick<RolloutsStore, 'appendDecisions'>;
    },
  ) {}

  /** The shadow policy reference of a rollout's service (undefined: none). */
  refFor(rollout: StoredRollout, annotations?: Record<string, string>) {
    return shadowPolicyRef(this.o.config, rollout.entityRef, annotations);
  }

  #gatesOf(shard: string): GateStateCache {
    let g = this.#gates.get(shard);
    if (!g) {
      g = new GateStateCache();
      this.#gates.set(shard, g);
    }
    return g;
  }

  /**
   * Evaluates the rollout under its shadow policy and queues what to log
   * and store; `enforced` is the enforced engine verdict (hold when it
   * could not evaluate). Returns the shadow's verdict, or undefined when
   * the service has no shadow.
   */
  async observe(o: {
    rollout: StoredRollout;
    annotations?: Record<string, string>;
    now: Date;
    enforced: GateVerdict;
    /** The enforced policy (its shadow rules run as a shadow when the service names none). */
    enforcedPolicy?: RolloutPolicy;
    /** The enforced evaluation's retry budget (default: the evaluator's). */
    retry?: RetryOptions;
    run: number;
    /** The loop's shard (`index/count`), or {@link JUDGE_SHARD}: gate states are kept per shard. */
    shard: string;
  }): Promise<GateVerdict | undefined> {
    const { rollout, now, run } = o;
    // a shadow policy named for the service wins; else the enforced policy's own shadow rules
    const ref = this.refFor(rollout, o.annotations);
    const derived =
      !ref && o.enforcedPolicy
        ? shadowRulesPolicy(o.enforcedPolicy)
        : undefined;
    if (!ref && !derived) return undefined;
    const name = ref ? shadowName(ref) : derived!.name;
    const gates = this.#gatesOf(o.shard);
    const key = `${rollout.id}|${name}`;
    let pair = this.#pairs.get(key);
    if (
      pair === undefined ||
      o.shard === JUDGE_SHARD ||
      gates.needsStored(rollout)
    ) {
      const stored = await this.o.shadows.get(rollout.id, name);
      pair = stored?.lastPair ?? null;
      this.#pairs.set(key, pair);
      if (gates.needsStored(rollout))
        gates.provide(rollout.id, stored?.gateState);
    }
    const evaluation = await this.o.evaluator.evaluate(
      rollout,
      ref ? { ...o.annotations, [POLICY_ANNOTATION]: ref } : o.annotations,
      now,
      {
        retry: o.retry,
        engine: (r, p, c, g, t) => gates.decide(r, p, c, g, t, run),
        ...(derived ? { policy: derived } : {}),
      },
    );
    const shadow = effectiveVerdict(
      rollout,
      evaluation.ok ? evaluation.decision.verdict : 'hold',
      now,
    );
    const enforced = effectiveVerdict(rollout, o.enforced, now);
    const next = `${enforced}/${shadow}`;
    const disagreed = pair ? pair.split('/')[0] !== pair.split('/')[1] : false;
    const logIt = next !== pair && (enforced !== shadow || disagreed);
    // An enforced promotion ends the step: the shadow's state as it is now carries into the next.
    const gateState = gates.storable(rollout.id, enforced === 'promote');
    // never logged for this rollout: its row is written once, with the pair as it is
    const first = pair === null;
    const lastPair = logIt || first ? next : pair!;
    this.#pairs.set(key, lastPair);
    if (!logIt && !gateState && !first) return shadow;
    this.#pending.push({
      row: {
        rolloutId: rollout.id,
        policyName: name,
        entityRef: rollout.entityRef,
        gateState: gateState ?? undefined,
        lastPair,
        updatedAt: now.toISOString(),
      },
      decision: logIt
        ? this.#decisions.build(rollout, {
            verdict: shadow,
            kind: 'shadow',
            actor: `shadow:${name}`,
            reasons: [
              wouldHaveLine(shadow, name, enforced),
              ...(evaluation.ok
                ? evaluation.decision.reasons
                : evaluation.reasons),
            ],
            evidence: evaluation.ok
              ? storedEvidence(evaluation.decision)
              : null,
            policyHash: evaluation.policy?.hash ?? null,
            outcome: 'none',
            createdAt: now.toISOString(),
          })
        : undefined,
    });
    return shadow;
  }

  /**
   * Writes the run's would-have decisions (one batch in the log) and the
   * shadows' states. On failure the pairs are forgotten, so the next run
   * reads them back and logs again what was not written.
   */
  async flush(run: number, shard?: string): Promise<number> {
    const pending = this.#pending;
    this.#pending = [];
    if (shard) this.#gatesOf(shard).forgetBefore(run);
    // finished rollouts' pairs are not needed again; whatever is dropped is read back when seen
    if (this.#pairs.size > 50_000) this.#pairs.clear();
    if (!pending.length) return 0;
    try {
      const decisions = pending.flatMap(p => (p.decision ? [p.decision] : []));
      if (decisions.length) await this.o.store.appendDecisions(decisions);
      await this.o.shadows.put(pending.map(p => p.row));
      return decisions.length;
    } catch (e) {
      for (const p of pending)
        this.#pairs.delete(`${p.row.rolloutId}|${p.row.policyName}`);
      throw e;
    }
  }
}
