/**
 * Two replicas: two backend processes on one PostgreSQL, both scheduling
 * the gate loop and both taking people's actions, against one deploy
 * system (the simulator's shared state file). The loop runs in four shards,
 * each a global task on Backstage's scheduler, and both replicas' loops
 * act (the shards spread over them);
 * every decision is acted on once; two people rolling back the same rollout at once on different
 * replicas cause one rollback at the deploy system and both see it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  assertPostgresOrSkip,
  startPostgres,
  type PostgresServer,
  guestToken,
  startPortal,
  type Portal,
} from '@tollgate/test-support';
import {
  api,
  decisionsAppliedTwice,
  deployActionsTwice,
  fastLoopEnv,
  journal,
  postgresDatabase,
  sleep,
} from './support/cluster';

const available = assertPostgresOrSkip('two replicas on PostgreSQL');

describe.runIf(available)('two replicas on one PostgreSQL', () => {
  let pg: PostgresServer;
  let dir: string;
  let replicas: Portal[] = [];

  beforeAll(async () => {
    pg = await startPostgres();
    dir = mkdtempSync(join(tmpdir(), 'tollgate-replicas-'));
  });
  afterAll(async () => {
    await Promise.all(replicas.map(r => r.stop()));
    await pg?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('acts on every decision once, and two simultaneous rollbacks make one', async () => {
    const stateFile = join(dir, 'simulator.json');
    const { host, port, user } = pg.connection('postgres');
    const database = postgresDatabase({ host, port, user }, 'replicas_');
    const env = {
      ...fastLoopEnv(stateFile),
      APP_CONFIG_rollouts_providers_simulator_deployLatencyMs: '300',
      // Four shards of the gate loop, each a global task: the replicas share each tick.
      APP_CONFIG_rollouts_schedule_shards: '4',
      ...database.env,
    };
    // Started one after the other: both migrate the same database.
    replicas = [
      await startPortal(env, { dataDir: join(dir, 'a') }),
      await startPortal(env, { dataDir: join(dir, 'b') }),
    ];
    const [a, b] = replicas;

    // Let both loops run for a while.
    await sleep(25_000);

    // Two on-call engineers, one on each replica, roll back the same rollouts at once.
    const tokens = [await guestToken(a.baseUrl), await guestToken(b.baseUrl)];
    const active = await api(a.baseUrl, '/v1/rollouts?status=active&limit=100');
    const targets = (active.body.items as any[])
      .filter(r => r.target.startsWith('checkout/'))
      .slice(0, 3);
    expect(
      targets.length,
      'active checkout rollouts to roll back',
    ).toBeGreaterThan(0);
    let bothSaw = 0;
    for (const rollout of targets) {
      const results = await Promise.all(
        [a, b].map((replica, i) =>
          api(replica.baseUrl, `/v1/rollouts/${rollout.id}/actions/rollback`, {
            method: 'POST',
            headers: { Authorization: `Bearer ${tokens[i]}` },
            body: JSON.stringify({
              reason: `on-call ${i + 1}: canary pages at 3 a.m.`,
              idempotencyKey: `replica-${i}-${rollout.id}`,
            }),
          }),
        ),
      );
      for (const r of results) {
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        expect(r.body.rollout.status).toBe('rolled-back');
      }
      bothSaw++;
      const rollbacks = journal(stateFile).filter(
        c =>
          c.op === 'rollback' &&
          c.changed &&
          c.target === rollout.target &&
          c.version === rollout.version,
      );
      expect(
        rollbacks,
        `rollbacks of ${rollout.target}@${rollout.version} at the deploy system`,
      ).toHaveLength(1);
    }

    await sleep(10_000);
    // The shards may spread: give the second process's gate loop up to a minute to promote too.
    // Not asserted: Backstage's scheduler tends to hand a frequency task back to the replica that
    // just ran it, so how many processes act varies from run to run (the summary line says).
    const loopActors = () =>
      new Set(
        journal(stateFile)
          .filter(c => c.changed && (c.op === 'setStep' || c.op === 'promote'))
          .map(c => c.pid),
      );
    for (let i = 0; i < 30 && loopActors().size < 2; i++) await sleep(2000);
    const db = database.connect();
    try {
      const rows: Array<{
        rollout_id: string;
        step_index: number;
        verdict: string;
        outcome: string;
      }> = await db('decisions').select(
        'rollout_id',
        'step_index',
        'verdict',
        'outcome',
      );
      expect(decisionsAppliedTwice(rows), 'decisions applied twice').toEqual(
        [],
      );
    } finally {
      await db.destroy();
    }
    const calls = journal(stateFile).filter(c => c.changed);
    expect(deployActionsTwice(calls), 'deploy actions taken twice').toEqual([]);
    const pids = new Set(calls.map(c => c.pid));
    // Gate-loop promotions by process (people's rollbacks aside).
    const loopPids = new Set(
      calls
        .filter(c => c.op === 'setStep' || c.op === 'promote')
        .map(c => c.pid),
    );
    expect(
      [...loopPids].length,
      'processes whose gate loops promoted (the shards spread over both replicas)',
    ).toBe(2);
    for (const replica of replicas) {
      const verify = await api(replica.baseUrl, '/v1/decisions/verify');
      expect(verify.body.ok).toBe(true);
    }
    // eslint-disable-next-line no-console
    console.log(
      `[reliability] replicas: 2 backends, ${calls.length} deploy actions from ${pids.size} process(es) (gate loop promotions from ${loopPids.size}), ${bothSaw} simultaneous double rollbacks → 1 each, 0 actions taken twice`,
    );
  });
});
