import type { LoggerService } from '@backstage/backend-plugin-api';
import type { Actuator, RolloutChange } from '../actuator/Actuator';
import type { RolloutsStore, StoredRollout } from '../database/RolloutsStore';
import type { GateEngine } from '../evaluation/RolloutEvaluator';
import { errorMessage, type RetryOptions } from '../providers/retry';
import { keptEngine, type TelemetryKeeper } from '../replay/TelemetryKeeper';
import type { ShadowRunner } from '../shadow/ShadowRunner';
import type { GateStateCache } from './gateStates';
import { shardOf, type Shard } from './shards';
import type { GateLoopTimings } from './timings';

/**
 * The phases of one gate loop run around the evaluations: list the shard's
 * active rollouts, write the pending evaluations in batches, and write what
 * the shadows and the telemetry keeper collected.
 */

/** What one run carries: its number, timings, the shard's gate states and its retry budget. */
export interface RunContext {
  run: number;
  t: GateLoopTimings;
  gates: GateStateCache;
  retry: RetryOptions;
  /** `provider:target` of the active rollouts (a newer rollout ends an older one's watch). */
  activeTargets?: Set<string>;
  /** The shard's key (`index/count`): the shadows keep gate states per shard. */
  shardKey?: string;
}

/**
 * The shard's active rollouts (and those whose bake window is still open),
 * with the gate states this process does not hold read in.
 */
export async function activeRollouts(
  store: RolloutsStore,
  shard: Shard,
  run: RunContext,
): Promise<StoredRollout[]> {
  const listed = await store.listRollouts({
    status: ['progressing', 'paused', 'awaiting-approval'],
  });
  // Rollouts promoted to full whose bake window is still open: watched.
  const watched = await store.listRollouts({
    watchState: 'watching',
  });
  run.activeTargets = new Set(listed.map(r => `${r.provider}:${r.target}`));
  const active = [...listed, ...watched].filter(
    r => shardOf(r.id, shard.count) === shard.index,
  );
  // Whole-rollout gate states this process does not hold: read in one query per chunk.
  const unknown = active.filter(r => run.gates.needsStored(r)).map(r => r.id);
  if (unknown.length) {
    const stored = await store.getGateStates(unknown);
    for (const id of unknown) run.gates.provide(id, stored.get(id));
  }
  return active;
}

/** The evaluator's engine step for this run: the kept gate states (and the telemetry keeper sees the intervals). */
export function gateEngine(
  run: RunContext,
  keeper: TelemetryKeeper | undefined,
): GateEngine {
  return keptEngine(keeper, (rollout, policy, context, gatePolicy, ticks) =>
    run.gates.decide(rollout, policy, context, gatePolicy, ticks, run.run),
  );
}

/**
 * Writes pending evaluations in one batch; a batch that fails is retried
 * one rollout at a time, so one bad row costs only itself. Returns the
 * number of evaluations that could not be written.
 */
export async function flushPending(
  actuator: Actuator,
  logger: LoggerService,
  pending: RolloutChange[],
  t: GateLoopTimings,
): Promise<number> {
  if (!pending.length) return 0;
  const t0 = performance.now();
  let failures = 0;
  let results: Awaited<ReturnType<Actuator['recordAll']>>;
  try {
    results = await actuator.recordAll(pending);
  } catch (e) {
    logger.warn(
      `rollouts: batch write of ${pending.length} evaluations failed, writing them one by one: ${errorMessage(e)}`,
    );
    results = [];
    for (const p of pending) {
      try {
        results.push((await actuator.recordAll([p]))[0]);
      } catch (e2) {
        failures++;
        results.push(undefined);
        logger.error(
          `rollouts: could not record the evaluation of ${p.rollout.entityRef} (${p.rollout.id}): ${errorMessage(e2)}`,
        );
      }
    }
  }
  for (const written of results) {
    if (!written) continue; // another writer changed the row first; the next run sees its state
    t.rowsWritten++;
    if (written.decision) t.decisionsWritten++;
  }
  t.writeMs += performance.now() - t0;
  return failures;
}

/** Writes what the shadows and the telemetry keeper collected; never fails the run. */
export async function afterRun(
  o: {
    shadows?: ShadowRunner;
    keeper?: TelemetryKeeper;
    logger: LoggerService;
  },
  run: number,
  shard?: string,
) {
  try {
    await o.shadows?.flush(run, shard);
    await o.keeper?.flush();
  } catch (e) {
    o.logger.warn(
      `rollouts: could not write shadow verdicts or kept telemetry: ${errorMessage(e)}`,
    );
  }
}
