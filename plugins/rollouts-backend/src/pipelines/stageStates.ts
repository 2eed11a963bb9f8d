import {
  isActiveStatus,
  type PipelineStage,
  type RolloutPipeline,
  type StageDeclaration,
} from '@tollgate/plugin-rollouts-common';
import type { StoredRollout } from '../database/RolloutsStore';

/** Compares targets after the provider's normalization. */
export type SameTarget = (
  stage: Pick<StageDeclaration, 'provider' | 'target'>,
  rollout: Pick<StoredRollout, 'provider' | 'target'>,
) => boolean;

/** The index of the stage whose target the rollout runs on, or -1. */
export function stageIndexOf(
  stages: StageDeclaration[],
  rollout: Pick<StoredRollout, 'provider' | 'target'>,
  same: SameTarget,
): number {
  return stages.findIndex(s => same(s, rollout));
}

/** The release's rollout on each stage's target (the newest, when several). */
export function stageRollouts(
  p: Pick<RolloutPipeline, 'stages' | 'version'>,
  rollouts: StoredRollout[],
  same: SameTarget,
): Array<StoredRollout | undefined> {
  return p.stages.map(
    s =>
      rollouts
        .filter(r => r.version === p.version && same(s, r))
        .sort((a, b) => b.startedAt.localeCompare(a.startedAt))[0],
  );
}

/** A stage's rollout ended badly: rolled back, aborted or failed. */
export function endedBadly(r: StoredRollout): boolean {
  return (
    r.status === 'rolled-back' ||
    r.status === 'aborted' ||
    r.status === 'failed' ||
    r.watch?.state === 'rolled-back'
  );
}

/**
 * A stage's rollout completed its ladder (promoted to full). Its bake
 * window may still run: harm found there rolls it back, and that stops
 * the pipeline like any rollback.
 */
export function completed(r: StoredRollout): boolean {
  return r.status === 'promoted' && r.watch?.state !== 'rolled-back';
}

/** When a completed rollout completed its ladder. */
export function completedAt(r: StoredRollout): string {
  return r.finishedAt ?? r.updatedAt;
}

/**
 * The stages as their rollouts say now. Started stages (before
 * `nextStage`) follow their rollout; a later stage whose deploy system
 * started the release already is `held`.
 */
export function refreshStages(
  p: Pick<RolloutPipeline, 'stages' | 'nextStage' | 'status'>,
  rows: Array<StoredRollout | undefined>,
): PipelineStage[] {
  return p.stages.map((s, i) => {
    const r = rows[i];
    if (!r) return s;
    const base: PipelineStage = {
      ...s,
      rolloutId: r.id,
      startedAt: s.startedAt ?? r.startedAt,
    };
    if (endedBadly(r)) return { ...base, state: 'rolled-back' };
    if (p.status === 'stopped' && i >= p.nextStage)
      return { ...base, state: 'stopped' };
    if (i >= p.nextStage) {
      return {
        ...base,
        state: 'held',
        startedBy: 'deploy-system',
        note: `waiting for stage ${p.stages[i - 1].name}`,
      };
    }
    if (completed(r))
      return {
        ...base,
        state: 'completed',
        completedAt: completedAt(r),
        note: undefined,
      };
    return { ...base, state: 'running', note: undefined };
  });
}

/**
 * Why a rollout on a stage's target may not move now (held by the gate
 * loop and paused by the driver), or undefined when it may.
 */
export function stageHoldReason(
  stages: StageDeclaration[],
  stage: number,
  pipeline:
    Pick<RolloutPipeline, 'status' | 'nextStage' | 'stoppedReason'> | undefined,
  version: string,
): string | undefined {
  if (stage <= 0) return undefined;
  const before = stages[stage - 1].name;
  if (!pipeline)
    return `waiting for stage ${before}: ${version} has not been through it`;
  if (pipeline.status === 'stopped')
    return `stopped: ${pipeline.stoppedReason ?? 'the pipeline stopped'}`;
  if (stage >= pipeline.nextStage) return `waiting for stage ${before}`;
  return undefined;
}

/** The stages a stop leaves behind: not-yet-started ones say why. */
export function stoppedStages(
  stages: PipelineStage[],
  from: number,
  reason: string,
): PipelineStage[] {
  return stages.map((s, i) => {
    if (i <= from || s.state === 'completed' || s.state === 'rolled-back')
      return s;
    return { ...s, state: 'stopped', note: `stopped: ${reason}` };
  });
}

/** True when the rollout still runs (so a stop rolls it back). */
export function stillRuns(r: StoredRollout | undefined): r is StoredRollout {
  return Boolean(r && isActiveStatus(r.status));
}
