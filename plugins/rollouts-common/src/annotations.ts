/**
 * Catalog annotations Tollgate reads.
 *
 * @public
 */
export const ROLLOUTS_ANNOTATION = 'tollgate.dev/rollouts';
/** Where the service's gate policy YAML lives (a URL read through UrlReader), or `default:<name>`. @public */
export const POLICY_ANNOTATION = 'tollgate.dev/policy';
/** A runbook URL shown beside the on-call controls. @public */
export const RUNBOOK_ANNOTATION = 'tollgate.dev/runbook';
/** Which telemetry provider serves the entity's rollouts (defaults to the deploy provider's id, then config). @public */
export const TELEMETRY_ANNOTATION = 'tollgate.dev/telemetry';

/** A `provider:target` pair from the rollouts annotation. @public */
export interface RolloutsAnnotationTarget {
  provider: string;
  target: string;
}

/**
 * Parses `tollgate.dev/rollouts`: one or more comma-separated
 * `provider:target` pairs, e.g. `argo-rollouts:payments/checkout-api`.
 * Throws an error naming the annotation when a pair is malformed.
 *
 * @public
 */
export function parseRolloutsAnnotation(
  value: string | undefined,
): RolloutsAnnotationTarget[] {
  if (value === undefined || value.trim() === '') {
    return [];
  }
  return value.split(',').map(raw => {
    const part = raw.trim();
    const idx = part.indexOf(':');
    if (idx <= 0 || idx === part.length - 1) {
      throw new Error(
        `annotation ${ROLLOUTS_ANNOTATION}: "${part}" is not of the form <provider>:<target>`,
      );
    }
    return {
      provider: part.slice(0, idx).trim(),
      target: part.slice(idx + 1).trim(),
    };
  });
}

/** True when an entity carries the Tollgate rollouts annotation. @public */
export function hasRolloutsAnnotation(entity: {
  metadata: { annotations?: Record<string, string> };
}): boolean {
  return Boolean(entity.metadata.annotations?.[ROLLOUTS_ANNOTATION]);
}
