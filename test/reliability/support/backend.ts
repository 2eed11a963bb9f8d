/**
 * The rollouts backend in-process for the reliability suites: the real
 * plugin on the test backend's SQLite database, fake deploy and telemetry
 * providers, four catalog entities, mock credentials, a permission mock
 * that lets only owners act (and records every question), and an auditor
 * mock that records every event with its outcome.
 *
 * Requests go through a tiny raw HTTP client so a test controls every byte:
 * unencoded or badly encoded paths, any Content-Type, bodies that are not
 * JSON at all.
 */
import {
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import {
  fakeProvidersModule,
  FakeDeployProvider,
  FakeTelemetryProvider,
  rolloutsPermissionsMock,
} from '@tollgate/plugin-rollouts-node/testUtils';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import rolloutsPlugin from '@tollgate/plugin-rollouts-backend';

export const BASE = '/api/rollouts';

/** Owns component:default/checkout (through team-checkout). */
export const OWNER = 'user:default/priya';
/** Owns component:default/payments. */
export const PAYMENTS_OWNER = 'user:default/omar';
/** Owns nothing: may read, may not act. */
export const STRANGER = 'user:default/mallory';
/** May not even read: every permission is denied. */
export const BLOCKED = 'user:default/eve';

/** The default mock service subject: CI and the controllers (register, judge, act). */
export const CI_SERVICE = 'external:test-service';
/** A service that may read but was granted neither register nor judge. */
export const READONLY_SERVICE = 'external:reporting';

const OWNERS: Record<string, string[]> = {
  'component:default/checkout': [OWNER],
  'component:default/payments': [PAYMENTS_OWNER],
  'component:default/podinfo': [OWNER],
  'component:default/cart': [OWNER],
};

const SERVICE_GRANTS: Record<string, 'all' | 'read'> = {
  [CI_SERVICE]: 'all',
  [READONLY_SERVICE]: 'read',
};

export const headers = {
  none: () => mockCredentials.none.header(),
  user: (ref: string) => mockCredentials.user.header(ref),
  invalidUser: () => mockCredentials.user.invalidHeader(),
  service: () => mockCredentials.service.header(),
  /** A service token for another service subject (the mock reads `sub`). */
  serviceAs: (subject: string) =>
    `Bearer mock-service-token:${JSON.stringify({ sub: subject })}`,
  invalidService: () => mockCredentials.service.invalidHeader(),
  /** A service token issued for another plugin. */
  otherPluginService: () =>
    mockCredentials.service.header({
      onBehalfOf: mockCredentials.service('external:ci'),
      targetPluginId: 'catalog',
    }),
};

export interface PermissionCall {
  permission: string;
  resourceRef?: string;
  principal: string;
  result: 'ALLOW' | 'DENY';
}

export interface AuditRecord {
  eventId: string;
  severityLevel?: string;
  meta?: Record<string, unknown>;
  outcome: 'pending' | 'success' | 'failure';
  error?: Error;
}

function component(
  name: string,
  annotations: Record<string, string>,
  owner: string,
) {
  return {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Component',
    metadata: { name, namespace: 'default', annotations },
    spec: { type: 'service', owner, lifecycle: 'production', system: 'shop' },
  };
}

export interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** The parsed JSON body, or undefined when the body is not JSON. */
  json?: any;
}

export interface RawRequest {
  method: string;
  /** Path under /api/rollouts, sent byte for byte (encode it yourself). */
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export interface ReliabilityBackend {
  port: number;
  deploy: FakeDeployProvider;
  telemetry: FakeTelemetryProvider;
  permissionCalls: PermissionCall[];
  auditEvents: AuditRecord[];
  send(req: RawRequest): Promise<Response>;
  /** JSON convenience: sets Content-Type and serialises the body. */
  call(
    method: string,
    path: string,
    auth: string | undefined,
    body?: unknown,
  ): Promise<Response>;
  stop(): Promise<void>;
}

export async function startReliabilityBackend(
  options: { config?: Record<string, unknown> } = {},
): Promise<ReliabilityBackend> {
  const deploy = new FakeDeployProvider('fake');
  deploy.add({
    target: 'shop/checkout',
    version: '2.1.0',
    previousVersion: '2.0.9',
  });
  deploy.add({
    target: 'shop/payments',
    version: '7.0.0',
    previousVersion: '6.9.3',
  });
  const telemetry = new FakeTelemetryProvider('fake', () => []);
  const fakeModule = fakeProvidersModule({
    moduleId: 'reliability-fakes',
    deploy: [deploy],
    telemetry: [telemetry],
  });

  const permissionCalls: PermissionCall[] = [];
  const permissions = rolloutsPermissionsMock(q => {
    let allowed: boolean;
    if (q.principalType === 'service') {
      const grant = SERVICE_GRANTS[q.subject ?? ''];
      allowed =
        grant === 'all' ||
        (grant === 'read' && q.permission === 'rollouts.rollout.read');
    } else if (q.principalType === 'user') {
      if (q.userEntityRef === BLOCKED) allowed = false;
      else if (q.permission === 'rollouts.rollout.read') allowed = true;
      else if (
        q.permission === 'rollouts.rollout.register' ||
        q.permission === 'rollouts.judge' ||
        q.permission === 'rollouts.decisions.verify'
      )
        allowed = false;
      else
        allowed = (OWNERS[q.resourceRef ?? ''] ?? []).includes(
          q.userEntityRef ?? '',
        );
    } else {
      allowed = false;
    }
    permissionCalls.push({
      permission: q.permission,
      resourceRef: q.resourceRef,
      principal:
        q.principalType === 'user' ? q.userEntityRef! : `service:${q.subject}`,
      result: allowed ? 'ALLOW' : 'DENY',
    });
    return allowed;
  });

  const auditEvents: AuditRecord[] = [];
  const auditor = mockServices.auditor.mock({
    createEvent: async (o: any) => {
      const record: AuditRecord = {
        eventId: o.eventId,
        severityLevel: o.severityLevel,
        meta: o.meta,
        outcome: 'pending',
      };
      auditEvents.push(record);
      return {
        success: async (s?: any) => {
          record.outcome = 'success';
          record.meta = { ...record.meta, ...s?.meta };
        },
        fail: async (f: any) => {
          record.outcome = 'failure';
          record.error = f?.error;
          record.meta = { ...record.meta, ...f?.meta };
        },
      };
    },
  } as any);

  const { server } = await startTestBackend({
    features: [
      rolloutsPlugin,
      fakeModule,
      catalogServiceMock.factory({
        entities: [
          component(
            'checkout',
            {
              'tollgate.dev/rollouts': 'fake:shop/checkout',
              'tollgate.dev/runbook': 'https://runbooks.example/checkout',
            },
            'group:default/team-checkout',
          ),
          component(
            'payments',
            { 'tollgate.dev/rollouts': 'fake:shop/payments' },
            'group:default/team-payments',
          ),
          component(
            'podinfo',
            { 'tollgate.dev/rollouts': 'flagger:test/podinfo' },
            'group:default/team-checkout',
          ),
          component(
            'cart',
            { 'tollgate.dev/rollouts': 'argo-rollouts:shop/cart' },
            'group:default/team-checkout',
          ),
        ],
      }),
      permissions.factory,
      auditor.factory,
      // No Authorization header means no credentials, as in production (the
      // test backend's default would be a user).
      mockServices.httpAuth.factory({
        defaultCredentials: mockCredentials.none(),
      }),
      mockServices.rootConfig.factory({
        data: {
          rollouts: {
            schedule: { frequencySeconds: 3600 },
            retries: { attempts: 1, initialBackoffMs: 1 },
            ...options.config,
          },
        },
      }),
    ],
  });

  const port = (server.address() as AddressInfo).port;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

  const send = (req: RawRequest): Promise<Response> =>
    new Promise((resolve, reject) => {
      const body =
        req.body === undefined || Buffer.isBuffer(req.body)
          ? req.body
          : Buffer.from(req.body, 'utf8');
      const h: Record<string, string | number> = { ...req.headers };
      if (body !== undefined) h['Content-Length'] = body.length;
      const r = http.request(
        {
          host: '127.0.0.1',
          port,
          method: req.method,
          path: `${BASE}${req.path}`,
          headers: h,
          agent,
        },
        res => {
          const chunks: Buffer[] = [];
          res.on('data', c => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let json: any;
            if (
              /application\/json/.test(
                String(res.headers['content-type'] ?? ''),
              )
            ) {
              try {
                json = JSON.parse(text);
              } catch {
                json = undefined;
              }
            }
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              text,
              json,
            });
          });
          res.on('error', reject);
        },
      );
      r.on('error', reject);
      if (body !== undefined) r.write(body);
      r.end();
    });

  const call = (
    method: string,
    path: string,
    auth: string | undefined,
    body?: unknown,
  ) =>
    send({
      method,
      path,
      headers: {
        ...(auth ? { Authorization: auth } : {}),
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  return {
    port,
    deploy,
    telemetry,
    permissionCalls,
    auditEvents,
    send,
    call,
    stop: async () => {
      agent.destroy();
    },
  };
}

/** Registers a rollout of `component:default/<name>` from CI and returns its id. */
export async function registerRollout(
  b: ReliabilityBackend,
  name: 'checkout' | 'payments',
  version: string,
): Promise<string> {
  const target = `shop/${name}`;
  const res = await b.call('POST', '/v1/rollouts', headers.service(), {
    entityRef: `component:default/${name}`,
    provider: 'fake',
    target,
    version,
  });
  if (res.status !== 201 && res.status !== 200) {
    throw new Error(`could not register a rollout: ${res.status} ${res.text}`);
  }
  return res.json.id;
}

/** The decision log's size and health, as the API reports it (to CI: verifying is a service permission here). */
export async function decisionLog(
  b: ReliabilityBackend,
): Promise<{ ok: boolean; checked: number }> {
  const res = await b.call('GET', '/v1/decisions/verify', headers.service());
  if (res.status !== 200)
    throw new Error(`verify failed: ${res.status} ${res.text}`);
  return res.json;
}

/** Every rollout id the owner can see. */
export async function rolloutIds(b: ReliabilityBackend): Promise<string[]> {
  const res = await b.call(
    'GET',
    '/v1/rollouts?limit=1000',
    headers.user(OWNER),
  );
  if (res.status !== 200)
    throw new Error(`list failed: ${res.status} ${res.text}`);
  return res.json.items.map((r: any) => r.id).sort();
}
