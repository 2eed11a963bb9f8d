import {
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import {
  FakeDeployProvider,
  FakeTelemetryProvider,
  fakeProvidersModule,
  rolloutsPermissionsMock,
  catalogComponent,
} from '@tollgate/plugin-rollouts-node/testUtils';
import knexFactory from 'knex';
import { generateKeyPairSync } from 'node:crypto';
import request from 'supertest';
import { DatabaseRolloutsStore } from '../database/DatabaseRolloutsStore';
import {
  CheckpointSigner,
  checkpointPublicKey,
} from '../database/decisionCheckpoints';
import { verifyExportText } from '../database/decisionExport';
import { rolloutsPlugin } from '../plugin';

const OWNER = 'user:default/priya';
const STRANGER = 'user:default/mallory';
const CHECKOUT = 'component:default/checkout';

const component = (name: string, target: string) =>
  catalogComponent(name, { rollouts: `fake:${target}` });

async function startBackend(checkpoints?: { privateKey: string }) {
  const deploy = new FakeDeployProvider('fake');
  deploy.add({ target: 'shop/checkout', version: '2.1.0' });
  const auditor = mockServices.auditor.mock();
  const knex = knexFactory({
    client: 'better-sqlite3',
    connection: ':memory:',
    useNullAsDefault: true,
  });
  // Everyone may read, except the stranger checkout's decisions.
  const permissions = rolloutsPermissionsMock(
    q =>
      (q.permission === 'rollouts.rollout.read' &&
        !(q.userEntityRef === STRANGER && q.resourceRef === CHECKOUT)) ||
      q.principalType === 'service',
  );
  const { server } = await startTestBackend({
    features: [
      rolloutsPlugin,
      fakeProvidersModule({
        deploy: [deploy],
        telemetry: [new FakeTelemetryProvider('fake', () => [])],
      }),
      catalogServiceMock.factory({
        entities: [component('checkout', 'shop/checkout')],
      }),
      permissions.factory,
      auditor.factory,
      mockServices.database.factory({ knex }),
      mockServices.rootConfig.factory({
        data: {
          rollouts: {
            schedule: { frequencySeconds: 3600 },
            ...(checkpoints
              ? { decisionLog: { checkpoints: { ...checkpoints, every: 2 } } }
              : {}),
          },
        },
      }),
    ],
  });
  const { body: rollout } = await request(server)
    .post('/api/rollouts/v1/rollouts')
    .set('Authorization', mockCredentials.service.header())
    .send({
      entityRef: CHECKOUT,
      provider: 'fake',
      target: 'shop/checkout',
      version: '2.1.0',
    })
    .expect(201);
  // Gate decisions with evidence snapshots, as the gate loop logs them (a store of the same configuration).
  await DatabaseRolloutsStore.fromKnex(knex, {
    checkpoints: checkpoints
      ? new CheckpointSigner(checkpoints.privateKey, 2)
      : undefined,
  }).appendDecisions(
    [1, 2, 3].map(i => ({
      rolloutId: rollout.id,
      entityRef: CHECKOUT,
      stepIndex: 0,
      verdict: 'continue' as const,
      kind: 'automatic' as const,
      actor: 'scheduler',
      reasons: [`look ${i}`],
      evidence: { score: i / 10, signals: [{ name: 'error rate' }] },
      policyHash: null,
      outcome: 'none' as const,
    })),
  );
  return { server, auditor, rollout, knex };
}

describe('decision log routes', () => {
  it('lists decisions without evidence, and answers one entry’s evidence to whoever may read the rollout', async () => {
    const { server, rollout } = await startBackend();
    const page = await request(server)
      .get(`/api/rollouts/v1/rollouts/${rollout.id}/decisions`)
      .set('Authorization', mockCredentials.user.header(OWNER))
      .expect(200);
    expect(page.body.items.map((d: any) => [d.seq, d.hasEvidence])).toEqual([
      [4, true],
      [3, true],
      [2, true],
      [1, false],
    ]);
    expect(page.body.items.some((d: any) => 'evidence' in d)).toBe(false);

    const one = await request(server)
      .get(`/api/rollouts/v1/rollouts/${rollout.id}/decisions/3/evidence`)
      .set('Authorization', mockCredentials.user.header(OWNER))
      .expect(200);
    expect(one.body).toEqual({
      seq: 3,
      evidence: { score: 0.2, signals: [{ name: 'error rate' }] },
    });
    await request(server)
      .get(`/api/rollouts/v1/rollouts/${rollout.id}/decisions/1/evidence`)
      .set('Authorization', mockCredentials.user.header(OWNER))
      .expect(200, { seq: 1, evidence: null });
    await request(server)
      .get(`/api/rollouts/v1/rollouts/${rollout.id}/decisions/99/evidence`)
      .set('Authorization', mockCredentials.user.header(OWNER))
      .expect(404);
    await request(server)
      .get(`/api/rollouts/v1/rollouts/${rollout.id}/decisions/x1/evidence`)
      .set('Authorization', mockCredentials.user.header(OWNER))
      .expect(400);
    await request(server)
      .get(`/api/rollouts/v1/rollouts/${rollout.id}/decisions/3/evidence`)
      .set('Authorization', mockCredentials.user.header(STRANGER))
      .expect(403);
  });

  it('exports the log as NDJSON that verifies with the served checkpoint key, audited; entries a caller may not read are redacted', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const { server, auditor } = await startBackend({
      privateKey: String(privateKey.export({ type: 'pkcs8', format: 'pem' })),
    });
    const key = await request(server)
      .get('/api/rollouts/v1/decisions/checkpoint-key')
      .set('Authorization', mockCredentials.user.header(OWNER))
      .expect(200);
    expect(key.text).toBe(publicKey.export({ type: 'spki', format: 'pem' }));

    const exported = await request(server)
      .get('/api/rollouts/v1/decisions/export')
      .set('Authorization', mockCredentials.user.header(OWNER))
      .buffer(true)
      .parse((res, done) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString('utf8')));
        res.on('end', () => done(null, text));
      })
      .expect(200)
      .expect('Content-Type', /application\/x-ndjson/);
    expect(
      verifyExportText(exported.body, {
        publicKey: checkpointPublicKey(key.text),
      }),
    ).toMatchObject({
      ok: true,
      entries: 4,
      redacted: 0,
      checkpoints: 2,
      signaturesVerified: 2,
    });
    expect(auditor.createEvent).toHaveBeenCalledWith(
      expect.objectContaining({
        eventId: 'decision-log-export',
        severityLevel: 'low',
      }),
    );

    const redacted = await request(server)
      .get('/api/rollouts/v1/decisions/export?after=1&limit=2')
      .set('Authorization', mockCredentials.user.header(STRANGER))
      .buffer(true)
      .parse((res, done) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString('utf8')));
        res.on('end', () => done(null, text));
      })
      .expect(200);
    expect(redacted.body).not.toContain('look 1');
    expect(verifyExportText(redacted.body)).toMatchObject({
      ok: true,
      entries: 2,
      redacted: 2,
      firstSeq: 2,
    });
    await request(server)
      .get('/api/rollouts/v1/decisions/export?limit=0')
      .set('Authorization', mockCredentials.user.header(OWNER))
      .expect(400);
  });

  it('says there is no checkpoint key when none is configured', async () => {
    const { server } = await startBackend();
    const res = await request(server)
      .get('/api/rollouts/v1/decisions/checkpoint-key')
      .set('Authorization', mockCredentials.user.header(OWNER))
      .expect(404);
    expect(res.body.error.message).toContain(
      'rollouts.decisionLog.checkpoints.privateKey',
    );
  });
});
