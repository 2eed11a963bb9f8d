import type { DeployTargetDescription } from '@tollgate/plugin-rollouts-common';
import type { ArgoRollout } from './argoTypes';
import {
  canarySteps,
  effectiveArgoIndex,
  mapStatus,
  mapWeight,
  stepKind,
  templateImage,
  type IndefinitePauseMode,
} from './mapping';

type Details = NonNullable<DeployTargetDescription['details']>;

function put(details: Details, key: string, value: unknown) {
  if (
    typeof value === 'string' ||
    typeof value === 'number' ||
    typeof value === 'boolean'
  )
    details[key] = value;
}

/** The traffic router(s) a canary names (`istio`, `nginx`, `smi`, `alb`, a plugin…), or `replica count` without one. */
function trafficRouter(canary: Record<string, unknown>): string {
  const routing = canary.trafficRouting;
  if (!routing || typeof routing !== 'object') return 'replica count';
  const names = Object.keys(routing).flatMap(k => {
    const value = (routing as Record<string, unknown>)[k];
    if (k === 'plugins' && value && typeof value === 'object')
      return Object.keys(value).map(p => `plugin ${p}`);
    return value === undefined || value === null ? [] : [k];
  });
  return names.length ? names.join(', ') : 'replica count';
}

/**
 * What an Argo Rollout exposes the new version to, as the controller
 * reports it: the canary strategy and how traffic is split (a traffic
 * router's weights, or the share of pods), the canary's current weight, the
 * step it is at, and whether it is paused, aborted or running an analysis.
 * Read only; the tab's debug view shows it beside the metrics.
 */
export function describeRollout(
  ro: ArgoRollout,
  target: string,
  provider: string,
  indefinitePause: IndefinitePauseMode,
): DeployTargetDescription {
  const canary = ro.spec.strategy.canary;
  const status = mapStatus(ro, indefinitePause);
  const steps = canarySteps(ro);
  const index = effectiveArgoIndex(ro);
  const details: Details = {};
  put(details, 'phase', ro.status?.phase);
  put(details, 'message', ro.status?.message || undefined);
  put(details, 'trafficRouting', canary ? trafficRouter(canary) : undefined);
  put(details, 'canaryService', canary?.canaryService);
  put(details, 'stableService', canary?.stableService);
  if (steps.length) {
    details.step = `${Math.min(index + 1, steps.length)}/${steps.length}`;
    put(details, 'stepKind', stepKind(steps[index]));
  }
  put(details, 'paused', Boolean(ro.spec.paused));
  put(details, 'aborted', Boolean(ro.status?.abort));
  put(details, 'stableHash', ro.status?.stableRS);
  put(details, 'canaryHash', ro.status?.currentPodHash);
  put(
    details,
    'image',
    templateImage(ro.spec.template, ro.metadata.name) ?? undefined,
  );
  const analysis = (ro.status?.canary as Record<string, unknown> | undefined)
    ?.currentStepAnalysisRunStatus as
    { name?: string; status?: string } | undefined;
  if (analysis?.status)
    details.analysis = `${analysis.name ?? 'analysis run'}: ${analysis.status}`;
  const pauses = (ro.status?.pauseConditions ?? []).map(p => p.reason);
  if (pauses.length) details.pauseConditions = pauses.join(', ');
  return {
    provider,
    target,
    kind: ro.spec.strategy.blueGreen
      ? 'argo-rollout (blue-green)'
      : 'argo-rollout',
    strategy: canary ? 'canary' : 'blueGreen',
    // Argo has no on/off switch: the rollout runs unless paused or aborted.
    enabled: !ro.spec.paused && !ro.status?.abort,
    percentage: mapWeight(ro, status),
    details,
  };
}
