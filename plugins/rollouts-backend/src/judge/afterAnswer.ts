import type { LoggerService } from '@backstage/backend-plugin-api';
import type { StoredRollout } from '../database/RolloutsStore';
import {
  wholeStep,
  type GateEngine,
  type RolloutEvaluation,
} from '../evaluation/RolloutEvaluator';
import { afterRun } from '../loop/runPhases';
import { errorMessage } from '../providers/retry';
import { keptEngine, type TelemetryKeeper } from '../replay/TelemetryKeeper';
import { JUDGE_SHARD, type ShadowRunner } from '../shadow/ShadowRunner';

/**
 * What the judge does beside an evaluation, as the gate loop does in and
 * after its runs, through the same code: the telemetry keeper sees the
 * intervals the verdict was folded from ({@link engine}), and once the
 * answer is given the shadow policies observe the evaluation with the
 * enforced verdict (in {@link JUDGE_SHARD}), then the would-have entries,
 * the shadows' rows and the kept telemetry are written (`afterRun`).
 *
 * None of it is awaited by the answer: it runs right after, one evaluation
 * at a time per rollout (in the order answered), and a failure is logged,
 * never the controller's problem. {@link idle} waits for what is under way
 * (shutdown, tests).
 */
export class AfterAnswer {
  #run = 0;
  readonly #chains = new Map<string, Promise<void>>();

  constructor(
    private readonly o: {
      shadows?: ShadowRunner;
      keeper?: TelemetryKeeper;
      logger: LoggerService;
    },
  ) {}

  /** The engine step the judge evaluates with (undefined: the evaluator's default, nothing is kept). */
  engine(): GateEngine | undefined {
    return this.o.keeper ? keptEngine(this.o.keeper, wholeStep) : undefined;
  }

  /** Queues the shadows' observation of this evaluation and the writes; returns at once. */
  after(e: {
    rollout: StoredRollout;
    annotations?: Record<string, string>;
    now: Date;
    evaluation: RolloutEvaluation;
  }): void {
    if (!this.o.shadows && !this.o.keeper) return;
    const run = ++this.#run;
    const id = e.rollout.id;
    const next = (this.#chains.get(id) ?? Promise.resolve()).then(() =>
      this.#work(e, run),
    );
    this.#chains.set(id, next);
    next.finally(() => {
      if (this.#chains.get(id) === next) this.#chains.delete(id);
    });
  }

  /** Resolves when nothing queued is left to write. */
  async idle(): Promise<void> {
    while (this.#chains.size) await Promise.all([...this.#chains.values()]);
  }

  async #work(
    e: Parameters<AfterAnswer['after']>[0],
    run: number,
  ): Promise<void> {
    const { shadows, logger } = this.o;
    const { rollout, evaluation } = e;
    if (shadows) {
      try {
        await shadows.observe({
          rollout,
          annotations: e.annotations,
          now: e.now,
          enforced: evaluation.ok ? evaluation.decision.verdict : 'hold',
          enforcedPolicy: evaluation.policy,
          run,
          shard: JUDGE_SHARD,
        });
      } catch (err) {
        logger.warn(
          `rollouts: shadow policy of ${rollout.entityRef} (${rollout.id}) failed after the judge answered: ${errorMessage(err)}`,
        );
      }
    }
    await afterRun(this.o, run, JUDGE_SHARD);
  }
}
