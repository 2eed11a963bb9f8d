import { mockCredentials, mockServices } from '@backstage/backend-test-utils';
import { rolloutsPermissionsMock } from '@tollgate/plugin-rollouts-node/testUtils';
import express from 'express';
import Router from 'express-promise-router';
import request from 'supertest';
import { sqliteStore } from '../loop/__testUtils__/simulatorLoop';
import {
  ENTITY,
  STAGE_TARGETS,
  replica,
  simulationOf,
  stageAnnotations,
  stageServices,
} from '../pipelines/__testUtils__/pipelineLoop';
import { pipelineRoutes } from './pipelineRoutes';

const STATUS: Record<string, number> = {
  InputError: 400,
  NotAllowedError: 403,
  NotFoundError: 404,
  ConflictError: 409,
};

const OWNER = 'user:default/priya';
const VIEWER = 'user:default/viewer';

async function setup() {
  const { knex, store } = await sqliteStore();
  const clock = { t: Date.UTC(2026, 11, 7, 12) };
  const sim = simulationOf(stageServices(), clock);
  const r = replica(knex, store, sim, clock, stageAnnotations('1h'));
  clock.t += 10_000;
  await r.loop.run();
  await r.driver.run();
  const permissions = rolloutsPermissionsMock(
    q => q.permission !== 'rollouts.stage.promote' || q.userEntityRef === OWNER,
  );
  const router = Router();
  router.use(express.json());
  pipelineRoutes(router, {
    pipelines: r.pipelines,
    driver: r.driver,
    entities: {
      byRef: async () => ({
        entityRef: ENTITY,
        annotations: stageAnnotations('1h'),
      }),
      byTarget: async () => undefined,
      all: async () => [],
    },
    httpAuth: mockServices.httpAuth(),
    permissions,
    auditor: mockServices.auditor.mock(),
  });
  const app = express().use(router);
  // the backend's error middleware, as far as these routes need it
  app.use(
    (
      err: Error,
      _req: express.Request,
      res: express.Response,
      _next: express.NextFunction,
    ) => {
      res
        .status(STATUS[err.name] ?? 500)
        .json({ error: { name: err.name, message: err.message } });
    },
  );
  return { app, sim, store };
}

describe('pipeline routes', () => {
  it('lists the pipeline and lets only people with rollouts.stage.promote start the next stage early', async () => {
    const { app, sim, store } = await setup();
    const list = await request(app)
      .get(`/v1/pipelines?entityRef=${encodeURIComponent(ENTITY)}`)
      .set('Authorization', mockCredentials.user.header(VIEWER));
    expect(list.status).toBe(200);
    expect(list.body.stages.map((s: { name: string }) => s.name)).toEqual([
      'staging',
      'prod-eu',
      'prod-us',
    ]);
    expect(list.body.soakSeconds).toBe(3600);
    const [p] = list.body.items;
    expect(p.stages.map((s: { state: string }) => s.state)).toEqual([
      'running',
      'waiting',
      'waiting',
    ]);

    const denied = await request(app)
      .post(`/v1/pipelines/${p.id}/promote`)
      .set('Authorization', mockCredentials.user.header(VIEWER))
      .send({ stage: 'prod-eu', reason: 'go' });
    expect(denied.status).toBe(403);
    expect(denied.body.error.message).toContain('rollouts.stage.promote');
    expect(await sim.deploy.getRollout(STAGE_TARGETS[1])).toBeUndefined();

    const noReason = await request(app)
      .post(`/v1/pipelines/${p.id}/promote`)
      .set('Authorization', mockCredentials.user.header(OWNER))
      .send({ stage: 'prod-eu' });
    expect(noReason.status).toBe(400);
    expect(noReason.body.error.message).toContain('reason');

    const ok = await request(app)
      .post(`/v1/pipelines/${p.id}/promote`)
      .set('Authorization', mockCredentials.user.header(OWNER))
      .send({ stage: 'prod-eu', reason: 'EU customers need the fix' });
    expect(ok.status).toBe(200);
    expect(ok.body.started).toBe(true);
    expect(ok.body.pipeline.stages[1].startedBy).toBe('early-promotion');
    expect((await sim.deploy.getRollout(STAGE_TARGETS[1]))?.version).toBe(
      p.version,
    );

    const again = await request(app)
      .post(`/v1/pipelines/${p.id}/promote`)
      .set('Authorization', mockCredentials.user.header(OWNER))
      .send({ stage: 'prod-eu', reason: 'EU customers need the fix' });
    expect(again.status).toBe(200);
    expect(again.body.started).toBe(false);

    const log = await store.listDecisions({ limit: 50, withEvidence: false });
    const early = log.items.filter(d => d.reasons[0]?.includes('early'));
    expect(early.map(d => d.actor)).toEqual([OWNER]);
  }, 30_000);
});
