import type {
  LoggerService,
  SchedulerService,
} from '@backstage/backend-plugin-api';
import type { EntityLookup } from '../catalog/EntityIndex';
import type { RolloutsStore } from '../database/RolloutsStore';
import type { DecisionWriter } from '../decisions/DecisionWriter';
import type { ProviderRegistry } from '../providers/ProviderRegistry';
import type { GateLoop } from './GateLoop';
import { seedHistory } from './seedHistory';
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
  const handOffMs = (schedule.frequencySeconds * 1000) / 2;
  for (let index = 0; index < count; index++) {
    const shard: Shard = { index, count };
    await scheduler.scheduleTask({
      id: shardTaskId(shard),
      scope: 'global',
      frequency: { seconds: schedule.frequencySeconds },
      timeout: { seconds: schedule.timeoutSeconds },
      initialDelay: { seconds: 2 },
      fn: async signal => {
        if (index === 0) await seedOnce();
        const result = await loop.run(shard);
        logger.debug(
          `rollouts: gate loop ${shardTaskId(shard)} evaluated ${result.evaluated}, acted ${result.actions}, failed ${result.failures}`,
        );
        // Backstage's scheduler hands a frequency task back to the replica
        // that just ran it (its next poll comes due exactly when the task
        // does). Holding the claim for a random part of the period (the next
        // run is due at the same time either way) gives the other replicas
        // their chance at this shard's next run, so the shards spread.
        if (count > 1) await handOff(handOffMs, signal);
      },
    });
  }
}

/** Waits a random time up to `maxMs`, or until the task is aborted (a shutdown). */
function handOff(maxMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise(resolve => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(done, Math.random() * maxMs);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done);
  });
}
