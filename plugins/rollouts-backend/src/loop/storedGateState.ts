import type { RolloutGateState } from '@tollgate/plugin-rollouts-engine';

/**
 * The whole-rollout gate's state as the rollouts table keeps it
 * (`gate_state`, plain JSON): the engine's state at the start of the
 * current step (`start`; none at the first step, which starts fresh) and,
 * once a promotion was decided, at that decision (`end`). A process that
 * does not hold the rollout in memory (a restart, another replica, another
 * shard's owner) rebuilds the current step from `start`, or from `end`
 * advanced to the step the deploy system reports, and the step's own
 * telemetry: the same state whoever computes it.
 */
export interface StoredGateState {
  v: 1;
  /** what the state is valid for (rollout, policy, tick length, ladder) */
  key: string;
  start?: StepCheckpoint;
  end?: StepCheckpoint;
}

export interface StepCheckpoint {
  stepIndex: number;
  stepStartedAt: string;
  rs: RolloutGateState;
}

export function parseStoredGateState(
  text: string | undefined,
): StoredGateState | undefined {
  if (!text) return undefined;
  try {
    const s = JSON.parse(text) as StoredGateState;
    return s && s.v === 1 && typeof s.key === 'string' ? s : undefined;
  } catch {
    return undefined;
  }
}

/** The stored text of a kept state: its step's start (as kept, JSON) and, `withEnd`, the state as it is now. */
export function storedText(
  kept: {
    key: string;
    start?: string;
    stepIndex: number;
    stepStartedAt: string;
    rs?: RolloutGateState;
  },
  withEnd: boolean,
): string {
  const out: StoredGateState = { v: 1, key: kept.key };
  // `start` is kept as its JSON text: spliced in, not parsed again
  const end = withEnd
    ? JSON.stringify({
        stepIndex: kept.stepIndex,
        stepStartedAt: kept.stepStartedAt,
        rs: kept.rs!,
      } satisfies StepCheckpoint)
    : undefined;
  const parts = [`"v":1`, `"key":${JSON.stringify(out.key)}`];
  if (kept.start) parts.push(`"start":${kept.start}`);
  if (end) parts.push(`"end":${end}`);
  return `{${parts.join(',')}}`;
}
