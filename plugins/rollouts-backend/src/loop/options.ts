import type { LoggerService } from '@backstage/backend-plugin-api';
import type { Actuator } from '../actuator/Actuator';
import type { EntityLookup } from '../catalog/EntityIndex';
import type { RolloutsStore, StoredRollout } from '../database/RolloutsStore';
import type { RolloutEvents } from '../events/RolloutEvents';
import type { RolloutEvaluator } from '../evaluation/RolloutEvaluator';
import type { PolicyResolver } from '../policy/PolicyResolver';
import type { ProviderRegistry } from '../providers/ProviderRegistry';
import type { RetryOptions } from '../providers/retry';
import type { TelemetryKeeper } from '../replay/TelemetryKeeper';
import type { ShadowRunner } from '../shadow/ShadowRunner';

export interface GateLoopOptions {
  /**
   * Why a rollout may not move now (a multi-stage promotion's later stage
   * before its turn, a broken stages declaration): it is held with the reason.
   */
  holdReason?: (
    rollout: StoredRollout,
    annotations: Record<string, string> | undefined,
  ) => Promise<string | undefined>;
  store: RolloutsStore;
  providers: ProviderRegistry;
  entities: EntityLookup;
  policies: PolicyResolver;
  events: RolloutEvents;
  logger: LoggerService;
  telemetryStepSeconds: number;
  defaultTelemetryProvider?: string;
  retry: RetryOptions;
  /** Retries one run may spend across all rollouts (default 100): a broken provider cannot stall the run. */
  retryBudgetPerRun?: number;
  /** Clock, injectable for tests. */
  now?: () => Date;
  /** Evaluations written per transaction (rollout rows and their decisions); default 500. */
  batchSize?: number;
  /** The plugin's actuator and evaluator; built from the options above when left out. */
  actuator?: Actuator;
  evaluator?: RolloutEvaluator;
  /** Shadow policies evaluated beside the enforced one, never acted on (`shadow/`). */
  shadows?: ShadowRunner;
  /** Keeps the telemetry each step was judged on, for what-if replay (`replay/`). */
  keeper?: TelemetryKeeper;
}
