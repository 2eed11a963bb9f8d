import type {
  LoggerService,
  SchedulerService,
} from '@backstage/backend-plugin-api';
import type { EntityLookup } from '../catalog/EntityIndex';
import type { RolloutsStore } from '../database/RolloutsStore';
import type { DecisionWriter } from '../decisions/DecisionWriter';
import type { ProviderRegistry } from '../providers/ProviderRegistry';
import type { GateLoop } from './GateLoop';
import { seedHistory, type SeededTelemetry } from './seedHistory';
import { shardTaskId, type Shard } from './shards';

/**
 * Puts the gate loop on Backstage's scheduler: the active rollouts are
 * split into `shards` slices (by a hash of the rollout id), each its own
 * global task, so one replica at a time runs a shard (the scheduler's lock
 * on PostgreSQL) and several replicas share a tick. The first shard also
 * syncs from the providers and imports their history once.
 */
export async function scheduleGateLoop(options: {
  scheduler: SchedulerService;
  schedule: {
    frequencySeconds: number;
    timeoutSeconds: number;
    shards: number;
  };
  loop: GateLoop;
  store: RolloutsStore;
  providers: ProviderRegistry;
  entities: EntityLookup;
  logger: LoggerService;
  decisions: DecisionWriter;
  /** Where the providers' history telemetry is kept for what-if replay (none: not kept). */
  keptTelemetry?: SeededTelemetry;
  /** Runs after the first shard's run (multi-stage promotion's pipelines); its failure is logged. */
  afterRun?: () => Promise<void>;
}): Promise<void> {
  const { scheduler, schedule, loop, logger } = options;
  let seeded = false;
  /** Imports the providers' history once per process, before the first shard's first run. */
  const seedOnce = async () => {
    if (seeded) return;
    try {
      await seedHistory(options);
    } catch (e) {
      // History is a nicety: the gates must run without it.
      logger.error('rollouts: could not seed the rollout history', e as Error);
    }
    seeded = true;
  };
  const count = Math.max(1, Math.floor(schedule.shards));
  const frequencyMs = schedule.frequencySeconds * 1000;
  for (let index = 0; index < count; index++) {
    const shard: Shard = { index, count };
    await scheduler.scheduleTask({
      id: shardTaskId(shard),
      scope: 'global',
      frequency: { seconds: schedule.frequencySeconds },
      timeout: { seconds: schedule.timeoutSeconds },
      initialDelay: { seconds: 2 },
      fn: async signal => {
        const startedAt = Date.now();
        if (index === 0) await seedOnce();
        const result = await loop.run(shard);
        if (index === 0 && options.afterRun) {
          try {
            await options.afterRun();
          } catch (e) {
            logger.error('rollouts: pipelines failed', e as Error);
          }
        }
        logger.debug(
          `rollouts: gate loop ${shardTaskId(shard)} evaluated ${result.evaluated}, acted ${result.actions}, failed ${result.failures}`,
        );
        if (count > 1) {
          await holdClaim(
            handOffDelayMs({
              elapsedMs: Date.now() - startedAt,
              frequencyMs,
              timeoutMs: schedule.timeoutSeconds * 1000,
              random: Math.random,
            }),
            signal,
          );
        }
      },
    });
  }
}

/**
 * How long a replica keeps a shard's claim after running it, so that the
 * shards spread over the replicas.
 *
 * Backstage's scheduler sets a frequency task's next run to its previous
 * due time plus the period (or to the release time, when that is later),
 * and every replica polls for due tasks at its own fixed phase. A shard's
 * due times therefore keep one phase, and the replica whose poll comes
 * first after it wins every run: one process runs the whole loop. Now and
 * then (one run in three) the claim is held past the next due time, by a
 * random part of a poll interval (the scheduler polls at the period, at
 * most every 5 s): the shard's phase moves to a random point, and the
 * replica that wins next is drawn afresh. The run after such a hold is
 * late by at most one poll interval; the others are on time (0).
 */
export function handOffDelayMs(options: {
  elapsedMs: number;
  frequencyMs: number;
  timeoutMs: number;
  random: () => number;
}): number {
  const { elapsedMs, frequencyMs, timeoutMs, random } = options;
  if (random() >= 1 / 3) return 0;
  const pollMs = Math.min(frequencyMs, 5000);
  const untilDue = Math.max(0, frequencyMs - elapsedMs);
  // Never up to the task's timeout: the scheduler would abort the run.
  return Math.max(
    0,
    Math.min(untilDue + random() * pollMs, timeoutMs * 0.8 - elapsedMs),
  );
}

/** Waits `ms`, or until the task is aborted (a shutdown). */
function holdClaim(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise(resolve => {
    if (ms <= 0 || signal?.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done);
  });
}
