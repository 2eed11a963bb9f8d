import { mockServices } from '@backstage/backend-test-utils';
import type { NotificationService } from '@backstage/plugin-notifications-node';
import type { JsonObject } from '@backstage/types';
import {
  DEMO_SERVICES,
  Simulation,
} from '@tollgate/plugin-rollouts-backend-module-simulator';
import type { ConsumerRelation, EntityLookup } from '../catalog/EntityIndex';
import { RolloutEvents } from '../events/RolloutEvents';
import {
  policiesWith,
  setup,
  sqliteStore,
  theRollout,
} from './__testUtils__/simulatorLoop';

/**
 * Blast radius through the gate loop, against the simulator: the demo's
 * product-catalog release is healthy on its own SLIs but raises the error
 * rate of storefront-bff, which depends on it.
 */

const PRODUCER = DEMO_SERVICES.find(
  s => s.target === 'search/product-catalog',
)!;
const CONSUMER = DEMO_SERVICES.find(
  s => s.target === 'checkout/storefront-bff',
)!;

async function world(opts: {
  blastRadius?: Record<string, unknown>;
  /** what the catalog says consumes the producer */
  consumers: ConsumerRelation[];
}) {
  const { store } = await sqliteStore();
  const clock = { t: Date.UTC(2026, 11, 7, 12, 0, 0) };
  const services = [{ ...PRODUCER, rps: PRODUCER.rps * 4 }, CONSUMER];
  const simulation = new Simulation({
    seed: 11,
    services,
    historyDays: 0,
    idleSeconds: 86_400,
    now: () => new Date(clock.t),
  });
  const entities: EntityLookup = {
    byTarget: async () => ({ entityRef: PRODUCER.entityRef, annotations: {} }),
    byRef: async (ref: string) => ({ entityRef: ref, annotations: {} }),
    all: async () => [],
    consumersOf: async ref =>
      ref === PRODUCER.entityRef ? opts.consumers : [],
  };
  const sent: Array<{
    recipients: { type: string; entityRef: string };
    payload: {
      title: string;
      description: string;
      severity: string;
      link: string;
    };
  }> = [];
  const notifications = {
    send: async (n: any) => {
      sent.push(n);
    },
  } as unknown as NotificationService;
  const { loop } = setup(store, services, clock, simulation, {
    entities,
    events: new RolloutEvents({
      logger: mockServices.logger.mock(),
      notifications,
    }),
    policies: policiesWith({
      slo: { availability: 0.995 },
      gate: {
        promote: { minDurationSeconds: 120, minCanaryRequests: 300 },
        rollout: { minStepSeconds: 60, minStepCanaryRequests: 100 },
        ...(opts.blastRadius ? { blastRadius: opts.blastRadius } : {}),
      },
    } as JsonObject),
  });
  const runFor = async (runs: number) => {
    for (let i = 0; i < runs; i++) {
      clock.t += 10_000;
      await loop.run();
    }
    return theRollout(store, 500);
  };
  /** The notifications sent to an entity. */
  const sentTo = (ref: string) =>
    sent.filter(n => n.recipients.entityRef === ref).map(n => n.payload);
  return { runFor, sentTo };
}

const measuredConsumer: ConsumerRelation = {
  entityRef: CONSUMER.entityRef,
  relation: 'dependsOn',
  entity: {
    entityRef: CONSUMER.entityRef,
    annotations: {
      'tollgate.dev/rollouts': `simulator:${CONSUMER.target}`,
    },
  },
};

describe('GateLoop: blast radius', () => {
  it("holds a release its own gate would promote when its consumer's burn rises with the canary's step, naming the consumer", async () => {
    const w = await world({
      consumers: [
        measuredConsumer,
        {
          entityRef: 'component:default/reporting-job',
          relation: 'consumesApi',
          via: 'api:default/product-catalog-api',
        },
      ],
    });
    const { rollout, log } = await w.runFor(30);
    expect(rollout.status).toBe('progressing');
    expect(rollout.currentStepIndex).toBe(0);
    expect(rollout.lastEvaluation?.verdict).toBe('hold');
    expect(rollout.lastEvaluation?.rule).toBe('blast-radius');
    expect(rollout.lastEvaluation?.reasons[0]).toMatch(
      /^consumer component:default\/storefront-bff error-budget burn rose from 0\.\d+× to \d+(\.\d)?× with the 1 % step/,
    );
    const hold = log.find(d => d.verdict === 'hold');
    // the decision log says which rule held it, then names the consumer
    expect(hold?.reasons[0]).toMatch(/^rule: blast-radius/);
    expect(hold?.reasons[1]).toContain(`consumer ${CONSUMER.entityRef}`);
    const ev = (hold?.evidence as any)?.blastRadius;
    expect(ev.harmed).toEqual([CONSUMER.entityRef]);
    expect(ev.action).toBe('hold');
    // the consumer without Tollgate's annotation is listed, not measured, and holds nothing
    expect(
      ev.consumers.map((c: any) => [c.entityRef, c.status, c.relation]),
    ).toEqual([
      [CONSUMER.entityRef, 'harm', 'dependsOn'],
      ['component:default/reporting-job', 'not-measured', 'consumesApi'],
    ]);
    expect(ev.consumers[0].burnDuring).toBeGreaterThan(
      ev.consumers[0].burnBefore * 4,
    );
    // the consumer's owners hear of it once, with their own burn; the owners of the release hear of the hold
    const toConsumer = w.sentTo(CONSUMER.entityRef);
    expect(toConsumer).toHaveLength(1);
    expect(toConsumer[0]).toMatchObject({
      title: `product-catalog ${rollout.version} is on hold: it raised your service's error-budget burn`,
      description: ev.consumers[0].reason,
      severity: 'high',
      link: '/catalog/default/component/product-catalog/rollouts',
    });
    expect(toConsumer[0].description).toMatch(/burn rose from/);
    expect(w.sentTo('component:default/reporting-job')).toEqual([]);
    expect(w.sentTo(PRODUCER.entityRef).map(n => n.title)).toEqual([
      `Rollout of ${rollout.version} on hold`,
    ]);
  });

  it('without the relation in the catalog the same release walks on (its own SLIs are healthy)', async () => {
    const w = await world({ consumers: [] });
    const { rollout } = await w.runFor(30);
    expect(rollout.currentStepIndex).toBeGreaterThan(0);
    expect((rollout.evidence as any)?.blastRadius).toBeUndefined();
  });

  it('rolls the release back with onConsumerHarm: rollback, the consumer named in the decision', async () => {
    const w = await world({
      consumers: [measuredConsumer],
      blastRadius: { onConsumerHarm: 'rollback' },
    });
    const { rollout, log } = await w.runFor(30);
    expect(rollout.status).toBe('rolled-back');
    const rollback = log.find(d => d.verdict === 'rollback');
    expect(rollback?.reasons.join(' ')).toContain(
      `consumer ${CONSUMER.entityRef} error-budget burn rose`,
    );
    expect(w.sentTo(CONSUMER.entityRef).map(n => n.title)).toEqual([
      `product-catalog ${rollout.version} was rolled back: it raised your service's error-budget burn`,
    ]);
  });

  it('a consumer whose telemetry is missing is not measured and does not hold', async () => {
    const w = await world({
      consumers: [
        {
          ...measuredConsumer,
          entity: {
            entityRef: CONSUMER.entityRef,
            annotations: { 'tollgate.dev/rollouts': 'simulator:nowhere/gone' },
          },
        },
      ],
    });
    const { rollout } = await w.runFor(30);
    const c = (rollout.evidence as any)?.blastRadius?.consumers?.[0];
    expect(c.status).toBe('not-measured');
    expect(c.reason).toMatch(/^telemetry unavailable: .*no telemetry/);
    expect(rollout.currentStepIndex).toBeGreaterThan(0);
  });
});
