import type { Config } from '@backstage/config';
import { InputError } from '@backstage/errors';
import { stringifyEntityRef, parseEntityRef } from '@backstage/catalog-model';
import type { PolicyResolver } from '../policy/PolicyResolver';

/** The annotation naming an entity's shadow policy: `default:<name>` or a policy file URL. */
export const SHADOW_POLICY_ANNOTATION = 'tollgate.dev/shadow-policy';

/** `rollouts.shadowPolicies` and `rollouts.telemetry.retentionDays`, validated. */
export interface ShadowConfig {
  /** In order: the first entry whose services match applies. */
  shadows: Array<{ policy: string; services?: Set<string> }>;
  /** Days kept telemetry is kept (0: none is kept). */
  retentionDays: number;
}

/** `[kind:][namespace/]name`, as the API's schemas accept them. */
const ENTITY_REF = /^([a-z0-9_-]+:)?([a-z0-9_.-]+\/)?[a-z0-9_.-]+$/i;

function fail(path: string, message: string): never {
  throw new InputError(`${path}: ${message}`);
}

/**
 * Reads the shadow policies and the telemetry retention; every problem is
 * an error naming the key (`rollouts.shadowPolicies[1].policy: …`), at
 * startup, as for `rollouts.defaultPolicy`.
 */
export function readShadowConfig(
  config: Config,
  policies: Pick<PolicyResolver, 'named'>,
): ShadowConfig {
  const retention = config.getOptional<unknown>(
    'rollouts.telemetry.retentionDays',
  );
  if (
    retention !== undefined &&
    (typeof retention !== 'number' ||
      !Number.isFinite(retention) ||
      retention < 0 ||
      retention > 3660)
  )
    fail(
      'rollouts.telemetry.retentionDays',
      `must be a number of days from 0 to 3660, got ${JSON.stringify(retention)}`,
    );
  const raw = config.getOptional<unknown>('rollouts.shadowPolicies');
  if (raw !== undefined && !Array.isArray(raw))
    fail('rollouts.shadowPolicies', 'must be a list of {policy, services?}');
  const shadows = ((raw as unknown[] | undefined) ?? []).map((e, i) => {
    const at = `rollouts.shadowPolicies[${i}]`;
    if (!e || typeof e !== 'object' || Array.isArray(e))
      fail(at, 'must be a mapping {policy, services?}');
    const entry = e as Record<string, unknown>;
    for (const k of Object.keys(entry))
      if (k !== 'policy' && k !== 'services')
        fail(`${at}.${k}`, 'unknown key (policy, services)');
    if (typeof entry.policy !== 'string' || !entry.policy)
      fail(`${at}.policy`, 'must name a policy under rollouts.policies');
    try {
      policies.named(entry.policy);
    } catch (err) {
      fail(`${at}.policy`, (err as Error).message);
    }
    let services: Set<string> | undefined;
    if (entry.services !== undefined) {
      if (!Array.isArray(entry.services))
        fail(`${at}.services`, 'must be a list of entity refs');
      services = new Set(
        entry.services.map((s, j) => {
          try {
            if (typeof s !== 'string' || !ENTITY_REF.test(s))
              throw new Error('not an entity ref');
            return stringifyEntityRef(
              parseEntityRef(s, { defaultKind: 'component' }),
            );
          } catch {
            return fail(
              `${at}.services[${j}]`,
              `must be an entity ref like component:default/checkout-api, got ${JSON.stringify(s)}`,
            );
          }
        }),
      );
    }
    return { policy: entry.policy, services };
  });
  return {
    shadows,
    retentionDays: (retention as number | undefined) ?? 30,
  };
}

/**
 * The shadow policy reference of a service: its annotation, else the first
 * configured shadow whose services include it; undefined for none.
 */
export function shadowPolicyRef(
  config: ShadowConfig,
  entityRef: string,
  annotations: Record<string, string> | undefined,
): string | undefined {
  const annotated = annotations?.[SHADOW_POLICY_ANNOTATION]?.trim();
  if (annotated) return annotated;
  const hit = config.shadows.find(
    s => !s.services || s.services.has(entityRef),
  );
  return hit ? `default:${hit.policy}` : undefined;
}

/** The name a shadow is stored and shown under: `<name>` for `default:<name>`, else the reference (a URL). */
export function shadowName(ref: string): string {
  const name = ref.startsWith('default:') ? ref.slice(8) : ref;
  return name.length <= 128 ? name : `${name.slice(0, 119)}…${name.length}`;
}
