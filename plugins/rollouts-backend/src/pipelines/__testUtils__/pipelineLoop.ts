import { mockServices } from '@backstage/backend-test-utils';
import {
  Simulation,
  type SimulatedService,
} from '@tollgate/plugin-rollouts-backend-module-simulator';
import {
  ROLLOUTS_ANNOTATION,
  STAGES_ANNOTATION,
  STAGE_SOAK_ANNOTATION,
} from '@tollgate/plugin-rollouts-common';
import type { Knex } from 'knex';
import { Actuator } from '../../actuator/Actuator';
import type { EntityLookup } from '../../catalog/EntityIndex';
import type { DatabaseRolloutsStore } from '../../database/DatabaseRolloutsStore';
import { DecisionWriter } from '../../decisions/DecisionWriter';
import { RolloutEvents } from '../../events/RolloutEvents';
import { GateLoop } from '../../loop/GateLoop';
import { policies as standardPolicies } from '../../loop/__testUtils__/simulatorLoop';
import type { PolicyResolver } from '../../policy/PolicyResolver';
import { ProviderRegistry } from '../../providers/ProviderRegistry';
import { PipelineDriver } from '../PipelineDriver';
import { PipelineStore } from '../PipelineStore';

export const ENTITY = 'component:default/shipping-api';
export const STAGE_TARGETS = ['staging/ship', 'eu/ship', 'us/ship'];

/** Three stages of one service: staging starts releases itself, eu and us only when told (unless `autoStart`). */
export function stageServices(
  o: {
    firstScenario?: SimulatedService['firstScenario'];
    autoStart?: number[];
    targets?: string[];
  } = {},
): SimulatedService[] {
  return (o.targets ?? STAGE_TARGETS).map((target, i) => ({
    target,
    entityRef: ENTITY,
    rps: 3000,
    errorRate: 0.002,
    latencyMedianMs: 60,
    conversionRate: 0.03,
    orderValueMean: 60,
    orderValueSd: 25,
    firstScenario: i === 0 ? (o.firstScenario ?? 'healthy') : 'healthy',
    manualStart: !(i === 0 || o.autoStart?.includes(i)),
  }));
}

export function stageAnnotations(soak = '2m'): Record<string, string> {
  return {
    [ROLLOUTS_ANNOTATION]: STAGE_TARGETS.map(t => `simulator:${t}`).join(','),
    [STAGES_ANNOTATION]: `staging=simulator:${STAGE_TARGETS[0]}, prod-eu=simulator:${STAGE_TARGETS[1]}, prod-us=simulator:${STAGE_TARGETS[2]}`,
    [STAGE_SOAK_ANNOTATION]: soak,
  };
}

/** One replica: its gate loop and pipeline driver, on a shared store and simulation. */
export function replica(
  knex: Knex,
  store: DatabaseRolloutsStore,
  simulation: Simulation,
  clock: { t: number },
  annotations: Record<string, string>,
  policies: PolicyResolver = standardPolicies,
) {
  const now = () => new Date(clock.t);
  const providers = new ProviderRegistry();
  providers.addDeploy(simulation.deploy);
  providers.addTelemetry(simulation.telemetry);
  const entity = { entityRef: ENTITY, annotations };
  const entities: EntityLookup = {
    byTarget: async () => entity,
    byRef: async () => entity,
    all: async () => [entity],
  };
  const events = new RolloutEvents({ logger: mockServices.logger.mock() });
  const actuator = new Actuator({
    store,
    providers,
    events,
    decisions: new DecisionWriter({ now }),
    now,
  });
  const retry = { attempts: 2, initialBackoffMs: 1 };
  const pipelines = new PipelineStore(knex, store);
  const driver = new PipelineDriver({
    store,
    pipelines,
    providers,
    entities,
    policies,
    actuator,
    logger: mockServices.logger.mock(),
    retry,
    now,
  });
  const loop = new GateLoop({
    store,
    providers,
    entities,
    policies,
    events,
    logger: mockServices.logger.mock(),
    telemetryStepSeconds: 10,
    retry,
    now,
    actuator,
    holdReason: (r, a) => driver.holdReason(r, a),
  });
  return { loop, driver, pipelines };
}

export function simulationOf(
  services: SimulatedService[],
  clock: { t: number },
) {
  return new Simulation({
    seed: 11,
    services,
    historyDays: 0,
    steps: [{ weight: 20, minDurationSeconds: 60 }, { weight: 100 }],
    idleSeconds: 3600,
    now: () => new Date(clock.t),
  });
}
