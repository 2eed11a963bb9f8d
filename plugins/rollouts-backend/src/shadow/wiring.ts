import type {
  DatabaseService,
  LoggerService,
  SchedulerService,
} from '@backstage/backend-plugin-api';
import type { Config } from '@backstage/config';
import type { RolloutsStore } from '../database/RolloutsStore';
import type { RolloutEvaluator } from '../evaluation/RolloutEvaluator';
import type { PolicyResolver } from '../policy/PolicyResolver';
import { errorMessage } from '../providers/retry';
import { KeptTelemetryStore } from '../replay/KeptTelemetryStore';
import { TelemetryKeeper } from '../replay/TelemetryKeeper';
import { WhatIfService } from '../replay/WhatIfService';
import { readShadowConfig } from './shadowConfig';
import { ShadowRunner } from './ShadowRunner';
import { ShadowStore } from './ShadowStore';

/**
 * Shadow policies and what-if replay, built from config for the plugin:
 * the runner and telemetry keeper the gate loop takes, the stores the
 * routes read, and a daily global task pruning kept telemetry older than
 * `rollouts.telemetry.retentionDays`.
 */
export async function shadowsAndReplay(deps: {
  config: Config;
  database: DatabaseService;
  scheduler: SchedulerService;
  logger: LoggerService;
  policies: PolicyResolver;
  evaluator: RolloutEvaluator;
  store: RolloutsStore;
}) {
  const config = readShadowConfig(deps.config, deps.policies);
  // the rollouts store ran the migrations already
  const db = await deps.database.getClient();
  const kept = new KeptTelemetryStore(db);
  const shadowStore = new ShadowStore(db);
  const shadows = new ShadowRunner({
    evaluator: deps.evaluator,
    config,
    shadows: shadowStore,
    store: deps.store,
  });
  const keeper =
    config.retentionDays > 0
      ? new TelemetryKeeper({ store: kept, now: () => new Date() })
      : undefined;
  await deps.scheduler.scheduleTask({
    id: 'rollouts-kept-telemetry-prune',
    scope: 'global',
    frequency: { hours: 24 },
    timeout: { minutes: 10 },
    initialDelay: { minutes: 1 },
    fn: async () => {
      try {
        const before = new Date(Date.now() - config.retentionDays * 86_400_000);
        const n = await kept.prune(before);
        if (n)
          deps.logger.info(
            `rollouts: pruned ${n} kept telemetry steps older than ${before.toISOString()}`,
          );
      } catch (e) {
        deps.logger.warn(
          `rollouts: could not prune kept telemetry: ${errorMessage(e)}`,
        );
      }
    },
  });
  deps.logger.info(
    `Shadow policies: ${config.shadows.length} configured (plus tollgate.dev/shadow-policy annotations); telemetry kept ${config.retentionDays} days for what-if replay`,
  );
  return {
    shadows,
    keeper,
    shadowStore,
    whatIf: new WhatIfService({ db, kept }),
    /** Where seeded history's telemetry goes: the same store and retention (none when nothing is kept). */
    keptTelemetry:
      config.retentionDays > 0
        ? { store: kept, retentionDays: config.retentionDays }
        : undefined,
  };
}
