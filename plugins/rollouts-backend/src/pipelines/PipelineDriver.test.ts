import { ROLLOUTS_ANNOTATION } from '@tollgate/plugin-rollouts-common';
import {
  policiesWith,
  sqliteStore,
  STANDARD_POLICY,
} from '../loop/__testUtils__/simulatorLoop';
import {
  ENTITY,
  STAGE_TARGETS,
  replica,
  simulationOf,
  stageAnnotations,
  stageServices,
} from './__testUtils__/pipelineLoop';

async function tick(
  clock: { t: number },
  replicas: Array<ReturnType<typeof replica>>,
  ms = 10_000,
) {
  clock.t += ms;
  for (const r of replicas) {
    await r.loop.run();
    await r.driver.run();
  }
}

describe('multi-stage promotion with the simulator', () => {
  it('starts stage 2 only after stage 1 completed its ladder and soaked, then stage 3', async () => {
    const { knex, store } = await sqliteStore();
    const clock = { t: Date.UTC(2026, 11, 7, 12) };
    const sim = simulationOf(stageServices(), clock);
    const r = replica(knex, store, sim, clock, stageAnnotations('2m'));
    let stage1DoneAt: number | undefined;
    let stage2StartedAt: number | undefined;
    /** prod-eu's release, seen while stage 1 had not completed yet (there must be none) */
    const euBeforeStage1: unknown[] = [];
    for (let i = 0; i < 200; i++) {
      await tick(clock, [r]);
      const [p] = await r.pipelines.list({ entityRef: ENTITY });
      if (!p) continue;
      const eu = await sim.deploy.getRollout(STAGE_TARGETS[1]);
      if (p.stages[0].state !== 'completed') euBeforeStage1.push(eu);
      else stage1DoneAt ??= Date.parse(p.stages[0].completedAt!);
      if (eu && !stage2StartedAt) stage2StartedAt = clock.t;
      if (p.status === 'completed') break;
    }
    expect(euBeforeStage1.length).toBeGreaterThan(3);
    expect(euBeforeStage1.filter(Boolean)).toEqual([]);
    const [p] = await r.pipelines.list({ entityRef: ENTITY });
    expect(p.status).toBe('completed');
    expect(p.stages.map(s => s.state)).toEqual([
      'completed',
      'completed',
      'completed',
    ]);
    // the soak: 2 minutes between stage 1's completion and stage 2's start (one tick of slack)
    expect(stage2StartedAt! - stage1DoneAt!).toBeGreaterThanOrEqual(120_000);
    expect(stage2StartedAt! - stage1DoneAt!).toBeLessThanOrEqual(130_000);
    // the same version ran in every stage
    const versions = await Promise.all(
      STAGE_TARGETS.map(async t => (await sim.deploy.getRollout(t))?.version),
    );
    expect(new Set(versions)).toEqual(new Set([p.version]));
    // every stage start is a decision in the log, on the stage before it
    const log = await store.listDecisions({ limit: 500, withEvidence: false });
    const starts = log.items.filter(d =>
      /stage (prod-eu|prod-us) starts/.test(d.reasons[0]),
    );
    expect(
      starts.map(d => d.reasons[0].match(/stage (\S+) starts/)![1]).sort(),
    ).toEqual(['prod-eu', 'prod-us']);
    expect((await store.verifyDecisions()).ok).toBe(true);
  }, 60_000);

  it("runs the stages of the service's policy (targets filled in for the entity) when the annotation declares none", async () => {
    const { knex, store } = await sqliteStore();
    const clock = { t: Date.UTC(2026, 11, 7, 12) };
    const targets = [
      'staging/shipping-api',
      'eu/shipping-api',
      'us/shipping-api',
    ];
    const sim = simulationOf(stageServices({ targets }), clock);
    const staged = policiesWith({
      ...STANDARD_POLICY,
      stages: [
        { name: 'staging', provider: 'simulator', target: 'staging/{{name}}' },
        { name: 'prod-eu', provider: 'simulator', target: 'eu/{{name}}' },
        { name: 'prod-us', provider: 'simulator', target: 'us/{{name}}' },
      ],
      stageSoak: '1m',
    });
    const r = replica(
      knex,
      store,
      sim,
      clock,
      { [ROLLOUTS_ANNOTATION]: targets.map(t => `simulator:${t}`).join(',') },
      staged,
    );
    const euBeforeStage1: unknown[] = [];
    for (let i = 0; i < 200; i++) {
      await tick(clock, [r]);
      const [p] = await r.pipelines.list({ entityRef: ENTITY });
      if (!p) continue;
      if (p.stages[0].state !== 'completed')
        euBeforeStage1.push(await sim.deploy.getRollout(targets[1]));
      if (p.status === 'completed') break;
    }
    expect(euBeforeStage1.filter(Boolean)).toEqual([]);
    const [p] = await r.pipelines.list({ entityRef: ENTITY });
    expect(p.stages.map(s => [s.name, s.target, s.state])).toEqual([
      ['staging', 'staging/shipping-api', 'completed'],
      ['prod-eu', 'eu/shipping-api', 'completed'],
      ['prod-us', 'us/shipping-api', 'completed'],
    ]);
    expect(p.soakSeconds).toBe(60);
  }, 60_000);

  it('stops the pipeline when stage 1 rolls back: stages 2 and 3 never start and say why', async () => {
    const { knex, store } = await sqliteStore();
    const clock = { t: Date.UTC(2026, 11, 7, 12) };
    const sim = simulationOf(
      stageServices({ firstScenario: 'error-regression' }),
      clock,
    );
    const r = replica(knex, store, sim, clock, stageAnnotations('0s'));
    for (let i = 0; i < 120; i++) {
      await tick(clock, [r]);
      const [p] = await r.pipelines.list({ entityRef: ENTITY });
      if (p?.status === 'stopped') break;
    }
    const [p] = await r.pipelines.list({ entityRef: ENTITY });
    expect(p.status).toBe('stopped');
    expect(p.stoppedReason).toMatch(/^rolled back in staging \(.+\)$/);
    expect(p.stages.map(s => s.state)).toEqual([
      'rolled-back',
      'stopped',
      'stopped',
    ]);
    expect(p.stages[1].note).toBe(`stopped: ${p.stoppedReason}`);
    expect(p.stages[2].note).toBe(`stopped: ${p.stoppedReason}`);
    for (let i = 0; i < 30; i++) await tick(clock, [r]);
    expect(await sim.deploy.getRollout(STAGE_TARGETS[1])).toBeUndefined();
    expect(await sim.deploy.getRollout(STAGE_TARGETS[2])).toBeUndefined();
  }, 60_000);

  it('holds a later stage its deploy system started before its turn, and rolls it back when stage 1 rolls back', async () => {
    const { knex, store } = await sqliteStore();
    const clock = { t: Date.UTC(2026, 11, 7, 12) };
    const sim = simulationOf(stageServices(), clock);
    const r = replica(knex, store, sim, clock, stageAnnotations('0s'));
    await tick(clock, [r]);
    const staging = (await sim.deploy.getRollout(STAGE_TARGETS[0]))!;
    // the deploy system starts the same release on prod-eu by itself
    await sim.deploy.startRelease!(
      STAGE_TARGETS[1],
      staging.version,
      staging.previousVersion,
    );
    await tick(clock, [r]);
    await tick(clock, [r]);
    const eu = (await store.listRollouts({})).find(
      x => x.target === STAGE_TARGETS[1],
    )!;
    expect(eu.status).toBe('paused');
    expect((await sim.deploy.getRollout(STAGE_TARGETS[1]))!.status).toBe(
      'paused',
    );
    expect(eu.lastEvaluation?.reasons[0]).toBe('waiting for stage staging');
    const [held] = await r.pipelines.list({ entityRef: ENTITY });
    expect(held.stages[1]).toMatchObject({
      state: 'held',
      note: 'waiting for stage staging',
    });
    // stage 1 is rolled back (at its deploy system): the held prod-eu release is rolled back too
    await sim.deploy.rollback(STAGE_TARGETS[0], 'bad release');
    await tick(clock, [r]);
    const [p] = await r.pipelines.list({ entityRef: ENTITY });
    expect(p.status).toBe('stopped');
    expect(p.stoppedReason).toBe('rolled back in staging');
    expect(p.stages.map(s => s.state)).toEqual([
      'rolled-back',
      'stopped',
      'stopped',
    ]);
    await tick(clock, [r]);
    const [after] = await r.pipelines.list({ entityRef: ENTITY });
    expect(after.stages.map(s => s.state)).toEqual([
      'rolled-back',
      'rolled-back',
      'stopped',
    ]);
    expect(after.stages[1].note).toBe('stopped: rolled back in staging');
    expect((await sim.deploy.getRollout(STAGE_TARGETS[1]))!.status).toBe(
      'rolled-back',
    );
    const euLog = await store.listDecisions({
      rolloutId: eu.id,
      withEvidence: false,
    });
    expect(euLog.items.find(d => d.verdict === 'rollback')?.reasons[0]).toBe(
      `pipeline stopped: ${p.stoppedReason}`,
    );
  }, 60_000);

  it('resumes a held stage in its turn instead of starting it again', async () => {
    const { knex, store } = await sqliteStore();
    const clock = { t: Date.UTC(2026, 11, 7, 12) };
    const sim = simulationOf(stageServices(), clock);
    const r = replica(knex, store, sim, clock, stageAnnotations('0s'));
    await tick(clock, [r]);
    const staging = (await sim.deploy.getRollout(STAGE_TARGETS[0]))!;
    await sim.deploy.startRelease!(
      STAGE_TARGETS[1],
      staging.version,
      staging.previousVersion,
    );
    for (let i = 0; i < 100; i++) {
      await tick(clock, [r]);
      const [p] = await r.pipelines.list({ entityRef: ENTITY });
      if (p.nextStage >= 2) break;
    }
    const [p] = await r.pipelines.list({ entityRef: ENTITY });
    expect(p.stages[0].state).toBe('completed');
    expect(p.stages[1].startedBy).toBe('deploy-system');
    expect(p.stages[1].state).toBe('running');
    expect((await sim.deploy.getRollout(STAGE_TARGETS[1]))!.status).toBe(
      'progressing',
    );
    const euRows = (await store.listRollouts({})).filter(
      x => x.target === STAGE_TARGETS[1],
    );
    expect(euRows).toHaveLength(1);
  }, 60_000);

  it('starts the next stage early when a person promotes it, once, logged with actor and reason', async () => {
    const { knex, store } = await sqliteStore();
    const clock = { t: Date.UTC(2026, 11, 7, 12) };
    const sim = simulationOf(stageServices(), clock);
    const r = replica(knex, store, sim, clock, stageAnnotations('1h'));
    await tick(clock, [r]);
    const [p] = await r.pipelines.list({ entityRef: ENTITY });
    expect(p.stages[0].state).toBe('running');
    const first = await r.driver.promoteEarly({
      pipelineId: p.id,
      stage: 'prod-eu',
      actor: 'user:default/priya.raman',
      reason: 'hotfix needed in the EU',
    });
    expect(first.started).toBe(true);
    expect(first.pipeline.nextStage).toBe(2);
    expect(first.pipeline.stages[1]).toMatchObject({
      startedBy: 'early-promotion',
    });
    expect((await sim.deploy.getRollout(STAGE_TARGETS[1]))?.version).toBe(
      p.version,
    );
    // idempotent: the same request again starts nothing
    const again = await r.driver.promoteEarly({
      pipelineId: p.id,
      stage: 'prod-eu',
      actor: 'user:default/priya.raman',
      reason: 'hotfix needed in the EU',
    });
    expect(again.started).toBe(false);
    const log = await store.listDecisions({ limit: 100, withEvidence: false });
    const early = log.items.filter(d =>
      d.reasons[0]?.includes('promoted stage prod-eu early'),
    );
    expect(early).toHaveLength(1);
    expect(early[0]).toMatchObject({
      kind: 'manual',
      actor: 'user:default/priya.raman',
      outcome: 'applied',
    });
    expect(early[0].reasons[0]).toContain('hotfix needed in the EU');
    // prod-us is not next until prod-eu completes: it cannot be skipped to
    await expect(
      r.driver.promoteEarly({
        pipelineId: p.id,
        stage: 'nope',
        actor: 'user:default/x',
        reason: 'r',
      }),
    ).rejects.toThrow('stage: the pipeline has no stage "nope"');
    // prod-eu's ladder still runs; stage 1 keeps running its own
    await tick(clock, [r]);
    const [later] = await r.pipelines.list({ entityRef: ENTITY });
    expect(later.stages[1].state).toBe('running');
    // then staging rolls back: the release running early in prod-eu is rolled back too
    await sim.deploy.rollback(STAGE_TARGETS[0], 'bad release');
    await tick(clock, [r]);
    await tick(clock, [r]);
    const [stopped] = await r.pipelines.list({ entityRef: ENTITY });
    expect(stopped.status).toBe('stopped');
    expect(stopped.stages.map(s => s.state)).toEqual([
      'rolled-back',
      'rolled-back',
      'stopped',
    ]);
    expect((await sim.deploy.getRollout(STAGE_TARGETS[1]))!.status).toBe(
      'rolled-back',
    );
  }, 60_000);

  it('settles a stage start interrupted between its claim and its release (a crashed replica)', async () => {
    const { knex, store } = await sqliteStore();
    const clock = { t: Date.UTC(2026, 11, 7, 12) };
    const sim = simulationOf(stageServices(), clock);
    const r = replica(knex, store, sim, clock, stageAnnotations('1h'));
    await tick(clock, [r]);
    const [p] = await r.pipelines.list({ entityRef: ENTITY });
    // a replica claimed the start of prod-eu, called the deploy system, and died before logging it
    await r.pipelines.update(
      p,
      { pendingAction: 'start:1' },
      new Date(clock.t),
    );
    await sim.deploy.startRelease!(
      STAGE_TARGETS[1],
      p.version,
      p.previousVersion,
    );
    // the deploy system runs it: settled and logged on prod-eu's rollout at the next run
    await tick(clock, [r]);
    const settled = (await r.pipelines.get(p.id))!;
    expect(settled.pendingAction).toBeUndefined();
    expect(settled.nextStage).toBe(2);
    const eu = (await store.listRollouts({})).filter(
      x => x.target === STAGE_TARGETS[1],
    );
    expect(eu).toHaveLength(1);
    const euLog = await store.listDecisions({
      rolloutId: eu[0].id,
      withEvidence: false,
    });
    expect(euLog.items.map(d => d.reasons[0])).toContain(
      `pipeline: an interrupted start of stage prod-eu was reconciled with simulator: it runs ${p.version} on ${STAGE_TARGETS[1]}`,
    );
  }, 60_000);

  it('releases a claimed start the deploy system never got only once the claim is a minute old, then starts the stage once', async () => {
    const { knex, store } = await sqliteStore();
    const clock = { t: Date.UTC(2026, 11, 7, 12) };
    const sim = simulationOf(stageServices(), clock);
    const r = replica(knex, store, sim, clock, stageAnnotations('1h'));
    await tick(clock, [r]);
    const [p] = await r.pipelines.list({ entityRef: ENTITY });
    // claimed by a replica that died before calling the deploy system (or is still calling it)
    await r.pipelines.update(
      p,
      { pendingAction: 'start:1' },
      new Date(clock.t),
    );
    await tick(clock, [r], 30_000);
    expect((await r.pipelines.get(p.id))!.pendingAction).toBe('start:1');
    await tick(clock, [r], 40_000);
    expect((await r.pipelines.get(p.id))!.pendingAction).toBeUndefined();
    // the stage was not started by the reconciliation: its turn (1 h soak) has not come
    expect(await sim.deploy.getRollout(STAGE_TARGETS[1])).toBeUndefined();
  }, 60_000);

  it('never starts a stage twice with two replicas', async () => {
    const { knex, store } = await sqliteStore();
    const clock = { t: Date.UTC(2026, 11, 7, 12) };
    const sim = simulationOf(stageServices(), clock);
    const a = replica(knex, store, sim, clock, stageAnnotations('30s'));
    const b = replica(knex, store, sim, clock, stageAnnotations('30s'));
    const calls: string[] = [];
    const start = sim.deploy.startRelease!.bind(sim.deploy);
    sim.deploy.startRelease = async (target, version, previous) => {
      calls.push(`${target}@${version}`);
      return start(target, version, previous);
    };
    for (let i = 0; i < 200; i++) {
      clock.t += 10_000;
      await Promise.all([a.loop.run(), b.loop.run()]);
      await Promise.all([a.driver.run(), b.driver.run()]);
      const [p] = await a.pipelines.list({ entityRef: ENTITY });
      if (p?.status === 'completed') break;
    }
    const [p] = await a.pipelines.list({ entityRef: ENTITY });
    expect(p.status).toBe('completed');
    expect(calls).toEqual([
      `${STAGE_TARGETS[1]}@${p.version}`,
      `${STAGE_TARGETS[2]}@${p.version}`,
    ]);
  }, 60_000);
});
