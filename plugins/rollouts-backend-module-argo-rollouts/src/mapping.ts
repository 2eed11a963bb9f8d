/**
 * Argo Rollouts → Tollgate: canary steps, step index, weight, status and
 * versions. Pure functions of a Rollout and its ReplicaSets.
 */
import type {
  RolloutStatus,
  RolloutStep,
} from '@tollgate/plugin-rollouts-common';
import type { ProviderRollout } from '@tollgate/plugin-rollouts-node';
import {
  POD_TEMPLATE_HASH_LABEL,
  REVISION_ANNOTATION,
  type ArgoCanaryStep,
  type ArgoRollout,
  type PodTemplate,
  type ReplicaSet,
} from './argoTypes';

/**
 * What an Argo `pause: {}` (a pause without duration) means to Tollgate:
 * `approval` — the step waits for a person's approval (Argo's own meaning);
 * `gate` — Tollgate's gate leaves the step when its verdict is promote.
 *
 * @public
 */
export type IndefinitePauseMode = 'approval' | 'gate';

/** Kinds of canary step, by the one field a step sets. */
export type ArgoStepKind =
  'setWeight' | 'pause' | 'analysis' | 'experiment' | 'other';

export function stepKind(
  step: ArgoCanaryStep | undefined,
): ArgoStepKind | undefined {
  if (!step) return undefined;
  if (typeof step.setWeight === 'number') return 'setWeight';
  if (step.pause) return 'pause';
  if (step.analysis) return 'analysis';
  if (step.experiment) return 'experiment';
  return 'other';
}

const DURATION_UNITS: Record<string, number> = {
  ns: 1e-9,
  us: 1e-6,
  µs: 1e-6,
  ms: 1e-3,
  s: 1,
  m: 60,
  h: 3600,
};

/**
 * Seconds of an Argo pause duration: an integer (seconds) or a Go duration
 * string (`"30s"`, `"5m"`, `"1h30m"`); undefined when absent or unreadable.
 */
export function parseArgoDuration(
  value: string | number | undefined | null,
): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'number')
    return Number.isFinite(value) && value >= 0 ? value : undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const part = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g;
  let seconds = 0;
  let consumed = 0;
  for (const match of text.matchAll(part)) {
    if (match.index !== consumed) return undefined;
    seconds += Number(match[1]) * DURATION_UNITS[match[2]];
    consumed += match[0].length;
  }
  return consumed === text.length && consumed > 0 ? seconds : undefined;
}

/** `ghcr.io/acme/checkout:2.1.0` → `2.1.0`; a digest-only image → `sha256:` and 12 hex digits. */
export function imageVersion(image: string): string {
  const at = image.indexOf('@');
  const name = at >= 0 ? image.slice(0, at) : image;
  const digest = at >= 0 ? image.slice(at + 1) : undefined;
  const colon = name.lastIndexOf(':');
  if (colon > name.lastIndexOf('/')) return name.slice(colon + 1);
  if (digest) return digest.slice(0, digest.indexOf(':') + 13);
  return 'latest';
}

/**
 * The image of the release container: `container` when configured
 * (`releases[].container`) and present, else the container named like the
 * rollout, else the first container.
 */
export function templateImage(
  template: PodTemplate | undefined,
  rolloutName: string,
  container?: string,
): string | undefined {
  const containers = template?.spec?.containers ?? [];
  return (
    (container !== undefined
      ? containers.find(c => c.name === container)
      : undefined) ??
    containers.find(c => c.name === rolloutName) ??
    containers[0]
  )?.image;
}

/**
 * Tollgate's step ladder for an Argo canary, with the index maps both ways.
 * Each `setWeight` is a Tollgate step; a pause, analysis or experiment
 * belongs to the weight before it (weight 0 when none came before). A ladder
 * that does not end at 100% gets a final 100% step: Argo sends all traffic to
 * the new version after its last step.
 */
export interface CanaryLadder {
  steps: RolloutStep[];
  /** Tollgate step index for Argo's `currentStepIndex` (0 … argoSteps.length). */
  tollgateIndexOfArgo: number[];
  /** Argo step index at which each Tollgate step begins (its `setWeight`; `argoSteps.length` for the final 100%). */
  argoIndexOfTollgate: number[];
}

export function mapCanarySteps(
  argoSteps: ArgoCanaryStep[],
  indefinitePause: IndefinitePauseMode,
): CanaryLadder {
  const steps: RolloutStep[] = [];
  const tollgateIndexOfArgo: number[] = [];
  const argoIndexOfTollgate: number[] = [];
  argoSteps.forEach((step, i) => {
    if (stepKind(step) === 'setWeight') {
      steps.push({ weight: step.setWeight! });
      argoIndexOfTollgate.push(i);
    } else {
      if (steps.length === 0) {
        steps.push({ weight: 0 });
        argoIndexOfTollgate.push(0);
      }
      const current = steps[steps.length - 1];
      if (step.pause) {
        const seconds = parseArgoDuration(step.pause.duration);
        if (seconds !== undefined) {
          current.minDurationSeconds = Math.ceil(
            (current.minDurationSeconds ?? 0) + seconds,
          );
        } else if (indefinitePause === 'approval') {
          current.requiresApproval = true;
        }
      }
    }
    tollgateIndexOfArgo.push(steps.length - 1);
  });
  if (steps.length === 0 || steps[steps.length - 1].weight < 100) {
    steps.push({ weight: 100 });
    argoIndexOfTollgate.push(argoSteps.length);
  }
  tollgateIndexOfArgo.push(steps.length - 1);
  return { steps, tollgateIndexOfArgo, argoIndexOfTollgate };
}

export function canarySteps(ro: ArgoRollout): ArgoCanaryStep[] {
  return ro.spec.strategy.canary?.steps ?? [];
}

/**
 * Argo's step index as the controller will see it: `status.currentStepIndex`,
 * plus one when the current step is a pause that was released (the controller
 * paused it, `controllerPause`, and someone cleared `pauseConditions`) — the
 * controller completes that step on its next reconcile.
 */
export function effectiveArgoIndex(ro: ArgoRollout): number {
  const steps = canarySteps(ro);
  const raw = Math.min(
    Math.max(ro.status?.currentStepIndex ?? 0, 0),
    steps.length,
  );
  const released =
    stepKind(steps[raw]) === 'pause' &&
    ro.status?.controllerPause === true &&
    !ro.status.pauseConditions?.length &&
    !ro.spec.paused;
  return released ? raw + 1 : raw;
}

function condition(ro: ArgoRollout, type: string) {
  return ro.status?.conditions?.find(c => c.type === type);
}

/** True when the new revision is the stable one: Argo finished the update. */
export function isFullyPromoted(ro: ArgoRollout): boolean {
  const s = ro.status;
  return Boolean(
    s?.currentPodHash && s.stableRS && s.stableRS === s.currentPodHash,
  );
}

/** Tollgate status of an Argo Rollout (see the mapping table in the README). */
export function mapStatus(
  ro: ArgoRollout,
  indefinitePause: IndefinitePauseMode,
): RolloutStatus {
  const s = ro.status;
  if (!s?.currentPodHash) return 'pending';
  if (s.abort) return 'rolled-back';
  if (isFullyPromoted(ro)) return 'promoted';
  const invalid = condition(ro, 'InvalidSpec')?.status === 'True';
  const timedOut =
    condition(ro, 'Progressing')?.reason === 'ProgressDeadlineExceeded';
  if (invalid || timedOut || s.phase === 'Degraded') return 'failed';
  if (ro.spec.paused) return 'paused';
  if (s.promoteFull) return 'progressing';
  const reasons = (s.pauseConditions ?? []).map(p => p.reason);
  if (reasons.some(r => r.startsWith('Inconclusive')))
    return 'awaiting-approval';
  if (reasons.includes('CanaryPauseStep') && indefinitePause === 'approval') {
    const step = canarySteps(ro)[s.currentStepIndex ?? 0];
    if (step?.pause && parseArgoDuration(step.pause.duration) === undefined)
      return 'awaiting-approval';
  }
  return 'progressing';
}

/** Weight on the new version, percent: Argo's traffic weights when it routes traffic, else the step's `setWeight`. */
export function mapWeight(ro: ArgoRollout, status: RolloutStatus): number {
  if (status === 'rolled-back') return 0;
  if (status === 'promoted') return 100;
  const actual = ro.status?.canary?.weights?.canary?.weight;
  if (typeof actual === 'number') return actual;
  if (ro.status?.promoteFull) return 100;
  const steps = canarySteps(ro);
  const index = effectiveArgoIndex(ro);
  if (index >= steps.length) return 100;
  for (let i = index; i >= 0; i--) {
    if (stepKind(steps[i]) === 'setWeight') return steps[i].setWeight!;
  }
  return 0;
}

function toDate(value: string | Date | undefined): Date | undefined {
  if (!value) return undefined;
  const d = value instanceof Date ? value : new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

function revisionOf(rs: ReplicaSet): number {
  const n = Number(rs.metadata.annotations?.[REVISION_ANNOTATION]);
  return Number.isFinite(n) ? n : -1;
}

function byHash(
  replicaSets: ReplicaSet[],
  hash: string | undefined,
): ReplicaSet | undefined {
  return hash
    ? replicaSets.find(
        rs => rs.metadata.labels?.[POD_TEMPLATE_HASH_LABEL] === hash,
      )
    : undefined;
}

function finishedAt(ro: ArgoRollout, status: RolloutStatus): Date | undefined {
  switch (status) {
    case 'promoted': {
      const completed = condition(ro, 'Completed');
      const at =
        completed?.status === 'True'
          ? completed.lastTransitionTime
          : condition(ro, 'Progressing')?.lastUpdateTime;
      return toDate(at);
    }
    case 'rolled-back':
      return (
        toDate(ro.status?.abortedAt) ??
        toDate(condition(ro, 'Progressing')?.lastTransitionTime)
      );
    case 'failed':
      return toDate(
        condition(ro, 'InvalidSpec')?.lastTransitionTime ??
          condition(ro, 'Progressing')?.lastTransitionTime,
      );
    default:
      return undefined;
  }
}

export interface MapContext {
  cluster: string;
  /** The target Tollgate names this rollout by (`<cluster>/<ns>/<name>` or `<ns>/<name>`). */
  target: string;
  /** ReplicaSets the rollout controls; empty when they could not be read. */
  replicaSets: ReplicaSet[];
  indefinitePause: IndefinitePauseMode;
  /** When a key (an externalId, or an externalId and step) was first seen; a stand-in for times Argo does not record. */
  firstSeen(key: string): Date;
  /** The container whose image tag is the version (`releases[].container`); default: named like the rollout, else the first. */
  container?: string;
}

/** `<cluster>/<namespace>/<name>@<currentPodHash>`: one id per revision of a rollout. */
export function externalIdOf(cluster: string, ro: ArgoRollout): string {
  const revision =
    ro.status?.currentPodHash ?? `generation-${ro.metadata.generation ?? 0}`;
  return `${cluster}/${ro.metadata.namespace}/${ro.metadata.name}@${revision}`;
}

/** The Tollgate view of a canary Rollout; undefined for a blue-green one (not supported). */
export function mapRollout(
  ro: ArgoRollout,
  ctx: MapContext,
): ProviderRollout | undefined {
  if (!ro.spec.strategy.canary) return undefined;
  const ladder = mapCanarySteps(canarySteps(ro), ctx.indefinitePause);
  const status = mapStatus(ro, ctx.indefinitePause);
  const last = ladder.steps.length - 1;
  const currentStepIndex =
    status === 'promoted' || ro.status?.promoteFull
      ? last
      : ladder.tollgateIndexOfArgo[effectiveArgoIndex(ro)];

  const name = ro.metadata.name;
  const current = byHash(ctx.replicaSets, ro.status?.currentPodHash);
  const image = templateImage(
    ro.spec.template ?? current?.spec?.template,
    name,
    ctx.container,
  );
  const version = image
    ? imageVersion(image)
    : (ro.status?.currentPodHash ?? 'unknown');

  let previous: ReplicaSet | undefined;
  if (!isFullyPromoted(ro)) {
    previous = byHash(ctx.replicaSets, ro.status?.stableRS);
  } else if (current) {
    // Fully promoted: the previous version is the newest older revision.
    const older = ctx.replicaSets.filter(
      rs => revisionOf(rs) >= 0 && revisionOf(rs) < revisionOf(current),
    );
    previous = older.sort((a, b) => revisionOf(b) - revisionOf(a))[0];
  }
  const previousImage = templateImage(
    previous?.spec?.template,
    name,
    ctx.container,
  );
  let previousVersion: string | undefined;
  if (previousImage) previousVersion = imageVersion(previousImage);
  else if (!isFullyPromoted(ro)) previousVersion = ro.status?.stableRS;

  const externalId = externalIdOf(ctx.cluster, ro);
  const pausedSince = toDate(ro.status?.pauseConditions?.[0]?.startTime);
  return {
    externalId,
    target: ctx.target,
    version,
    previousVersion,
    status,
    steps: ladder.steps,
    currentStepIndex,
    currentWeight: mapWeight(ro, status),
    startedAt:
      toDate(current?.metadata.creationTimestamp) ?? ctx.firstSeen(externalId),
    stepStartedAt:
      pausedSince ?? ctx.firstSeen(`${externalId}#${currentStepIndex}`),
    finishedAt: finishedAt(ro, status),
  };
}
