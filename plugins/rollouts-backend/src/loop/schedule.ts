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

/**
 * Puts the gate loop on Backstage's scheduler: a global task, so one
 * replica at a time runs it (the scheduler's lock on PostgreSQL). The
 * first run imports the providers' history once.
 */
export async function scheduleGateLoop(options: {
  scheduler: SchedulerService;
  schedule: { frequencySeconds: number; timeoutSeconds: number };
  loop: GateLoop;
  store: RolloutsStore;
  providers: ProviderRegistry;
  entities: EntityLookup;
  logger: LoggerService;
  decisions: DecisionWriter;
}): Promise<void> {
  const { scheduler, schedule, loop, logger } = options;
  let seeded = false;
  await scheduler.scheduleTask({
    id: 'rollouts-gate-loop',
    scope: 'global',
    frequency: { seconds: schedule.frequencySeconds },
    timeout: { seconds: schedule.timeoutSeconds },
    initialDelay: { seconds: 2 },
    fn: async () => {
      try {
        if (!seeded) {
          await seedHistory(options);
          seeded = true;
        }
      } catch (e) {
        // History is a nicety: the gates must run without it.
        seeded = true;
        logger.error(
          'rollouts: could not seed the rollout history',
          e as Error,
        );
      }
      const result = await loop.run();
      logger.debug(
        `rollouts: gate loop evaluated ${result.evaluated}, acted ${result.actions}, failed ${result.failures}`,
      );
    },
  });
}
