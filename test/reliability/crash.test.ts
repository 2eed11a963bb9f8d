/**
 * Crash safety: the real backend (SQLite, then PostgreSQL) runs the gate
 * loop against the simulator, whose deploy state lives in a file (it
 * outlives the backend like a real deploy system). It is killed with
 * SIGKILL at random moments and restarted; after every restart the
 * decision log verifies, nothing logged before the kill is gone, and at
 * the end no action was taken twice, none went unlogged and no rollout is
 * stuck with an action in flight.
 *
 * People act at the same time, through the HTTP API as the page does:
 * pauses, resumes, promotions and rollbacks, a burst of them just before
 * each kill so that some are in flight (the simulator answers 400 ms after
 * the deploy took effect). Every action the deploy system received, from
 * the loop or from a person, must be in the log.
 */
import type { Knex } from 'knex';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  assertPostgresOrSkip,
  startPostgres,
  type PostgresServer,
} from '@tollgate/test-support';
import type { SimulatorCall } from '@tollgate/plugin-rollouts-backend-module-simulator';
import {
  api,
  decisionsAppliedTwice,
  deployActionsTwice,
  fastLoopEnv,
  journal,
  postgresDatabase,
  sleep,
  sqliteDatabase,
  startBackend,
  type Database,
} from './support/cluster';

const CRASHES = Number(process.env.TOLLGATE_CRASHES ?? 20);
const SEED = Number(process.env.TOLLGATE_CRASH_SEED ?? Date.now() % 100000);

/** Deterministic per seed: where in the loop's life each kill lands. */
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

interface DecisionRow {
  seq: number;
  hash: string;
  rollout_id: string;
  step_index: number;
  verdict: string;
  outcome: string;
  reasons: string;
  actor: string;
}

async function decisions(db: Knex): Promise<DecisionRow[]> {
  return db('decisions')
    .select(
      'seq',
      'hash',
      'rollout_id',
      'step_index',
      'verdict',
      'outcome',
      'reasons',
      'actor',
    )
    .orderBy('seq');
}

/** The subject the suite's service token acts as (cluster.ts); the log names it `service:…`. */
const PERSON = 'reliability-suite';

/**
 * People acting through the HTTP API while the loop runs: each burst picks
 * a few active rollouts and pauses, resumes, promotes or rolls them back,
 * each request with its own idempotency key, without waiting for the
 * answers (a kill cuts some of them). A rollout is paused at most once,
 * so the deploy system never receives the same call twice legitimately.
 */
class PeopleDriver {
  sent = 0;
  answered = 0;
  applied = 0;
  cut = 0;
  readonly #paused = new Set<string>();
  #inFlight: Promise<void>[] = [];
  constructor(private readonly random: () => number) {}

  async burst(baseUrl: string) {
    const list = await api<{ items: Array<{ id: string; status: string }> }>(
      baseUrl,
      '/v1/rollouts?status=active',
    ).catch(() => undefined);
    const active = list?.status === 200 ? list.body.items : [];
    const n = Math.min(active.length, 1 + Math.floor(this.random() * 3));
    for (let i = 0; i < n; i++) {
      const r = active[Math.floor(this.random() * active.length)];
      let action: string;
      if (r.status === 'paused') action = 'resume';
      else if (!this.#paused.has(r.id) && this.random() < 0.4) {
        action = 'pause';
        this.#paused.add(r.id);
      } else action = this.random() < 0.5 ? 'promote' : 'rollback';
      this.sent++;
      const key = `crash-${SEED}-${this.sent}-${r.id.slice(0, 8)}`;
      this.#inFlight.push(
        api(baseUrl, `/v1/rollouts/${r.id}/actions/${action}`, {
          method: 'POST',
          body: JSON.stringify({
            reason: 'crash suite: a person acts',
            idempotencyKey: key,
          }),
        }).then(
          res => {
            this.answered++;
            if (res.status === 200 && res.body?.decision) this.applied++;
          },
          () => {
            this.cut++;
          },
        ),
      );
    }
  }

  /** Waits for every request of the last burst to be answered or cut. */
  async settle() {
    await Promise.all(this.#inFlight);
    this.#inFlight = [];
  }
}

async function expectSurvivesCrashes(database: Database, dataDir: string) {
  const stateFile = join(dataDir, 'simulator.json');
  const env = {
    ...fastLoopEnv(stateFile),
    // Each deploy call answers 400 ms after it took effect: kills land mid-action.
    APP_CONFIG_rollouts_providers_simulator_deployLatencyMs: '400',
    ...database.env,
  };
  const random = rng(SEED);
  const people = new PeopleDriver(random);
  const seen = new Map<number, string>();
  let verified = 0;
  let checkedEntries = 0;
  /** Rollouts with an action in flight when the process was killed. */
  let interrupted: InFlight[] = [];
  /** Pipelines with a stage start in flight when the process was killed. */
  let interruptedStarts: InFlight[] = [];
  /** Each claim in flight at a kill (rollout id @ row version) → its rollout id. */
  const claims = new Map<string, string>();
  let reconciliations = 0;
  let peopleLogged = 0;

  for (let i = 0; i <= CRASHES; i++) {
    const backend = await startBackend(env, dataDir);
    const verify = await api(backend.baseUrl, '/v1/decisions/verify');
    expect(
      verify.status,
      `decisions/verify after restart ${i}: ${JSON.stringify(verify.body)}`,
    ).toBe(200);
    expect(verify.body, `decision log after restart ${i}`).toMatchObject({
      ok: true,
    });
    verified++;
    checkedEntries += verify.body.checked;

    const db = database.connect();
    try {
      const now = await decisions(db);
      const bySeq = new Map(now.map(d => [Number(d.seq), d.hash]));
      for (const [seq, hash] of seen) {
        expect(bySeq.get(seq), `decision ${seq} after restart ${i}`).toBe(hash);
      }
    } finally {
      await db.destroy();
    }

    if (i === CRASHES) {
      try {
        // The actions in flight at the last kill are reconciled by this process…
        await waitReconciled(database, 'rollouts', interrupted);
        await waitReconciled(database, 'rollout_pipelines', interruptedStarts);
        const last = await api(backend.baseUrl, '/v1/decisions/verify');
        expect(last.body.ok).toBe(true);
        // …and a graceful stop lets the action it is taking finish: nothing is left in flight.
        await backend.stop();
        expect(
          backend.process.signalCode,
          'the last backend stopped on SIGTERM, not by the SIGKILL fallback',
        ).not.toBe('SIGKILL');
        ({ reconciliations, peopleLogged } = await checkFinalState(
          database,
          stateFile,
          [...claims.values()],
        ));
      } catch (e) {
        // What the last backend said about the loop, to see why it did not settle.
        const lines = backend
          .logs()
          .split('\n')
          .filter(l => /rollouts|task|schedul|error/i.test(l));
        // eslint-disable-next-line no-console
        console.log(
          `[reliability] crash (${database.kind}, seed ${SEED}): the last backend's log:\n${lines.slice(-60).join('\n')}`,
        );
        throw e;
      }
      break;
    }
    // People act while the loop runs and wait for the answers…
    await people.burst(backend.baseUrl);
    await people.settle();
    await sleep(500 + random() * 4000);
    // …and a burst of them with the kill while some are in flight.
    await people.burst(backend.baseUrl);
    await sleep(random() * 450);
    await backend.kill();
    await people.settle();
    const db2 = database.connect();
    try {
      for (const d of await decisions(db2)) seen.set(Number(d.seq), d.hash);
      interrupted = await db2('rollouts')
        .whereNotNull('pending_action')
        .select('id', 'row_version');
      for (const r of interrupted) claims.set(`${r.id}@${r.row_version}`, r.id);
      interruptedStarts = await db2('rollout_pipelines')
        .whereNotNull('pending_action')
        .select('id', 'row_version');
    } finally {
      await db2.destroy();
    }
  }
  const calls = journal(stateFile);
  // eslint-disable-next-line no-console
  console.log(
    `[reliability] crash (${database.kind}, seed ${SEED}): ${CRASHES} kill -9 survived, ${verified} verifications passed over ${checkedEntries} decision checks, ${seen.size} decisions kept, ${calls.filter(c => c.changed).length} deploy actions, ${claims.size} actions in flight at a kill, ${reconciliations} reconciliations logged, 0 lost, 0 duplicated`,
  );
  // eslint-disable-next-line no-console
  console.log(
    `[reliability] crash (${database.kind}, seed ${SEED}): people's actions over HTTP: ${people.sent} sent, ${people.answered} answered (${people.applied} applied), ${people.cut} cut by a kill while in flight, ${peopleLogged} logged as a person's action, 0 lost`,
  );
}

interface InFlight {
  id: string;
  row_version: number;
}

/**
 * Waits until every action in flight at the kill is reconciled: its row no
 * longer carries that claim (once the dead process's hold on the loop
 * expires, after schedule.timeoutSeconds).
 */
async function waitReconciled(
  database: Database,
  table: 'rollouts' | 'rollout_pipelines',
  inFlight: InFlight[],
): Promise<void> {
  if (!inFlight.length) return;
  const db = database.connect();
  try {
    const deadline = Date.now() + 90_000;
    for (;;) {
      const rows: Array<InFlight & { pending_action: string | null }> =
        await db(table)
          .whereIn(
            'id',
            inFlight.map(r => r.id),
          )
          .select('id', 'row_version', 'pending_action');
      const stuck = inFlight.filter(before => {
        const now = rows.find(r => r.id === before.id);
        return (
          now?.pending_action &&
          Number(now.row_version) === Number(before.row_version)
        );
      });
      if (!stuck.length) return;
      if (Date.now() > deadline)
        throw new Error(
          `actions in flight at the kill not reconciled within 90 s: ${JSON.stringify(stuck)}`,
        );
      await sleep(1000);
    }
  } finally {
    await db.destroy();
  }
}

/** The verdicts a deploy-system call is logged under: the loop's and a person's. */
const VERDICTS_FOR_CALL: Record<SimulatorCall['op'], string[]> = {
  setStep: ['promote', 'approve'],
  promote: ['promote', 'approve'],
  rollback: ['rollback'],
  pause: ['pause'],
  resume: ['resume'],
  // a multi-stage promotion's next stage: logged on the stage before it
  startRelease: ['observe'],
};

/** Checks the end state; returns how many reconciliations the log holds. */
async function checkFinalState(
  database: Database,
  stateFile: string,
  interruptedIds: string[],
): Promise<{ reconciliations: number; peopleLogged: number }> {
  const db = database.connect();
  try {
    const rows = await decisions(db);
    const rollouts: Array<{
      id: string;
      target: string;
      version: string;
      status: string;
      current_step_index: number;
      pending_action: string | null;
    }> = await db('rollouts').select(
      'id',
      'target',
      'version',
      'status',
      'current_step_index',
      'pending_action',
    );

    // No rollout stuck with an action in flight.
    expect(
      rollouts.filter(r => r.pending_action),
      'rollouts with an action in flight',
    ).toEqual([]);
    // …and no pipeline stuck with a stage start in flight.
    expect(
      await db('rollout_pipelines')
        .whereNotNull('pending_action')
        .select('id', 'entity_ref', 'version', 'pending_action'),
      'pipelines with a stage start in flight',
    ).toEqual([]);

    // No gate decision acted on twice, and the deploy system never received the same action twice…
    expect(decisionsAppliedTwice(rows), 'decisions applied twice').toEqual([]);
    const calls = journal(stateFile).filter(c => c.changed);
    expect(deployActionsTwice(calls), 'deploy actions taken twice').toEqual([]);

    // …and every action it took is in the decision log: applied, or reconciled after a crash.
    const unlogged: string[] = [];
    for (const c of calls) {
      const rollout = rollouts.find(
        r => r.target === c.target && r.version === c.version,
      );
      if (!rollout) {
        unlogged.push(`${c.target}@${c.version} ${c.op}: no rollout row`);
        continue;
      }
      const verdicts = VERDICTS_FOR_CALL[c.op];
      const logged = rows.some(
        d =>
          d.rollout_id === rollout.id &&
          ((verdicts.includes(d.verdict) && d.outcome === 'applied') ||
            (d.verdict === 'observe' &&
              d.reasons.includes('was reconciled with'))),
      );
      if (!logged) {
        unlogged.push(`${c.target}@${c.version} ${c.op}${c.stepIndex ?? ''}`);
        // what the log and the deploy system say about it, to see why
        // eslint-disable-next-line no-console
        console.log(
          `[reliability] unlogged ${JSON.stringify(c)}; rollout ${JSON.stringify(rollout)}; its log: ${JSON.stringify(
            rows
              .filter(d => d.rollout_id === rollout.id)
              .map(d => [d.seq, d.verdict, d.outcome, d.actor, d.reasons]),
          )}; its calls: ${JSON.stringify(
            journal(stateFile).filter(
              x => x.target === c.target && x.version === c.version,
            ),
          )}`,
        );
      }
    }
    expect(unlogged, 'deploy actions missing from the decision log').toEqual(
      [],
    );
    expect(calls.length, 'the loop acted at all').toBeGreaterThan(3);

    // Every action in flight at a kill was reconciled (logged) by a later process.
    const reconciliations = rows.filter(
      d => d.verdict === 'observe' && d.reasons.includes('was reconciled with'),
    );
    const missing = [...new Set(interruptedIds)].filter(
      id =>
        reconciliations.filter(d => d.rollout_id === id).length <
        interruptedIds.filter(x => x === id).length,
    );
    expect(
      missing,
      'rollouts whose interrupted action was never reconciled',
    ).toEqual([]);
    const peopleLogged = rows.filter(
      d => d.actor.endsWith(PERSON) && d.outcome === 'applied',
    ).length;
    expect(
      peopleLogged,
      "people's actions were applied and logged",
    ).toBeGreaterThan(0);
    return { reconciliations: reconciliations.length, peopleLogged };
  } finally {
    await db.destroy();
  }
}

describe('crash safety (kill -9 at random moments)', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'tollgate-crash-'));
  });
  afterEach(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  it(`SQLite: ${CRASHES} crashes, nothing lost, nothing duplicated, nothing stuck`, async () => {
    await expectSurvivesCrashes(sqliteDatabase(dataDir), dataDir);
  });

  describe('PostgreSQL', () => {
    let pg: PostgresServer | undefined;
    const available = assertPostgresOrSkip('crash safety on PostgreSQL');
    beforeAll(async () => {
      if (available) pg = await startPostgres();
    });
    afterAll(async () => {
      await pg?.stop();
    });
    it.runIf(available)(
      `PostgreSQL: ${CRASHES} crashes, nothing lost, nothing duplicated, nothing stuck`,
      async () => {
        const { host, port, user } = pg!.connection('postgres');
        await expectSurvivesCrashes(
          postgresDatabase({ host, port, user }, 'crash_'),
          dataDir,
        );
      },
    );
  });
});
