import {
  createBackendModule,
  type BackendFeature,
  type BackstageCredentials,
  type PermissionsService,
} from '@backstage/backend-plugin-api';
import { mockServices, type ServiceMock } from '@backstage/backend-test-utils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import {
  rolloutsDeployProvidersExtensionPoint,
  rolloutsTelemetryProvidersExtensionPoint,
} from '../extensions';
import type {
  RolloutsDeployProvider,
  RolloutsTelemetryProvider,
} from '../providers';

/**
 * A backend module of the rollouts plugin that registers the given
 * providers (fakes, fault-injecting wrappers, a simulator's): the way a
 * test backend gets deploy and telemetry providers.
 *
 * @public
 */
export function fakeProvidersModule(options: {
  deploy?: RolloutsDeployProvider[];
  telemetry?: RolloutsTelemetryProvider[];
  /** Module id (default `fake-providers`). */
  moduleId?: string;
}): BackendFeature {
  return createBackendModule({
    pluginId: 'rollouts',
    moduleId: options.moduleId ?? 'fake-providers',
    register(env) {
      env.registerInit({
        deps: {
          deploy: rolloutsDeployProvidersExtensionPoint,
          telemetry: rolloutsTelemetryProvidersExtensionPoint,
        },
        async init({ deploy, telemetry }) {
          deploy.addDeployProvider(...(options.deploy ?? []));
          telemetry.addTelemetryProvider(...(options.telemetry ?? []));
        },
      });
    },
  });
}

/** One permission question a {@link rolloutsPermissionsMock} was asked. @public */
export interface PermissionQuestion {
  /** The permission's name, e.g. `rollouts.rollout.rollback`. */
  permission: string;
  /** The catalog entity ref, for resource permissions. */
  resourceRef?: string;
  /** Who asks: `user`, `service` or `none`. */
  principalType: string;
  /** The user's entity ref, for users. */
  userEntityRef?: string;
  /** The service's subject, for services. */
  subject?: string;
}

/**
 * A permissions service mock that answers each question with `allow`, and
 * records every question and its answer in `calls`. Use its `factory` in
 * a test backend.
 *
 * @public
 */
export function rolloutsPermissionsMock(
  allow: (question: PermissionQuestion) => boolean,
): ServiceMock<PermissionsService> & {
  calls: Array<PermissionQuestion & { result: 'ALLOW' | 'DENY' }>;
} {
  const calls: Array<PermissionQuestion & { result: 'ALLOW' | 'DENY' }> = [];
  const answer = async (
    requests: Array<{ permission: { name: string }; resourceRef?: string }>,
    options?: { credentials: BackstageCredentials },
  ) =>
    requests.map(r => {
      const principal = (options?.credentials.principal ?? {}) as {
        type?: string;
        userEntityRef?: string;
        subject?: string;
      };
      const question: PermissionQuestion = {
        permission: r.permission.name,
        resourceRef: r.resourceRef,
        principalType: principal.type ?? 'none',
        userEntityRef: principal.userEntityRef,
        subject: principal.subject,
      };
      const allowed = allow(question);
      calls.push({ ...question, result: allowed ? 'ALLOW' : 'DENY' });
      return {
        result: allowed ? AuthorizeResult.ALLOW : AuthorizeResult.DENY,
      };
    });
  const mock = mockServices.permissions.mock({
    authorize: answer as PermissionsService['authorize'],
  });
  return Object.assign(mock, { calls });
}

/**
 * A catalog Component whose rollouts Tollgate gates: `tollgate.dev/rollouts`
 * set to `rollouts` (e.g. `fake:shop/checkout`), in the default namespace,
 * with the given owner and any further annotations. What test catalogs are
 * built of.
 *
 * @public
 */
export function catalogComponent(
  name: string,
  o: {
    rollouts: string;
    owner?: string;
    annotations?: Record<string, string>;
  },
) {
  return {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Component',
    metadata: {
      name,
      namespace: 'default',
      annotations: { 'tollgate.dev/rollouts': o.rollouts, ...o.annotations },
    },
    spec: {
      type: 'service',
      owner: o.owner ?? 'group:default/team',
      lifecycle: 'production',
    },
  };
}
