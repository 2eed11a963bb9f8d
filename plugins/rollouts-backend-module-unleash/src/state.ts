/**
 * How Tollgate reads a ramp's state from Unleash, and the marker it keeps
 * there. Pure functions: no HTTP here.
 *
 * Tollgate's whole state lives in the title of the flag's managed
 * `flexibleRollout` strategy, so it reads back the same after a restart:
 *
 * | title                                                    | meaning                                  |
 * |----------------------------------------------------------|------------------------------------------|
 * | `tollgate`                                               | ramp 1, not rolled back                  |
 * | `tollgate#2`                                             | ramp 2 (a ramp restarted after a rollback) |
 * | `tollgate: rolled back from 25% at 2026-11-21T10:00:00.000Z`   | ramp 1, rolled back by Tollgate     |
 * | `tollgate#2: rolled back from 5% at 2026-11-21T10:00:00.000Z`  | ramp 2, rolled back by Tollgate     |
 * | `tollgate#3 release 1.4.0`                               | ramp 3, started by `startRelease` for 1.4.0 |
 *
 * Unleash has no notion of a version: a ramp Tollgate started for a
 * release (a multi-stage promotion's stage) carries the release's version
 * in its title, and the provider reports that as the ramp's version.
 */
import type {
  RolloutStatus,
  RolloutStep,
} from '@tollgate/plugin-rollouts-common';

/** Tollgate's marker, parsed from a strategy title. */
export interface Marker {
  /** Which ramp of this strategy: 1 for the first, +1 after each rollback that was restarted. */
  generation: number;
  /** The version `startRelease` started this ramp for, when it did. */
  release?: string;
  /** Set when Tollgate rolled this ramp back. */
  rolledBack?: { at?: Date; fromWeight?: number };
}

/** A version a marker can carry: 1 to 128 characters, no whitespace. */
export function isReleaseVersion(version: string): boolean {
  return /^\S{1,128}$/.test(version);
}

function escapeRegExp(s: string) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The marker in `title`, or undefined when the title is not Tollgate's. */
export function parseMarker(
  title: string | null | undefined,
  base: string,
): Marker | undefined {
  if (!title) return undefined;
  const re = new RegExp(
    `^${escapeRegExp(base)}(?:#(\\d+))?(?: release (\\S+?))?(?::\\s*rolled back(?: from (\\d+(?:\\.\\d+)?)%)?(?: at (\\S+))?)?\\s*$`,
  );
  const m = re.exec(title.trim());
  if (!m) return undefined;
  const generation = m[1] ? Math.max(1, Number(m[1])) : 1;
  const release = m[2] ? { release: m[2] } : {};
  const rolledBackText = /:\s*rolled back/.test(title);
  if (!rolledBackText) return { generation, ...release };
  const at = m[4] ? new Date(m[4]) : undefined;
  return {
    generation,
    ...release,
    rolledBack: {
      at: at && !Number.isNaN(at.getTime()) ? at : undefined,
      fromWeight: m[3] !== undefined ? Number(m[3]) : undefined,
    },
  };
}

/** The title that carries `marker`. */
export function formatMarker(base: string, marker: Marker): string {
  const generation = marker.generation > 1 ? `#${marker.generation}` : '';
  const release = marker.release ? ` release ${marker.release}` : '';
  if (!marker.rolledBack) return `${base}${generation}${release}`;
  const from =
    marker.rolledBack.fromWeight !== undefined
      ? ` from ${marker.rolledBack.fromWeight}%`
      : '';
  const at = marker.rolledBack.at
    ? ` at ${marker.rolledBack.at.toISOString()}`
    : '';
  return `${base}${generation}${release}: rolled back${from}${at}`;
}

/** The parts of an Unleash feature-environment strategy Tollgate reads. */
export interface UnleashStrategy {
  id: string;
  name: string;
  title?: string | null;
  disabled?: boolean | null;
  sortOrder?: number;
  parameters?: Record<string, string>;
}

/**
 * The strategy Tollgate steps: the first `flexibleRollout` (by sort order)
 * whose title carries Tollgate's marker, else the first `flexibleRollout`.
 */
export function findManagedStrategy(
  strategies: UnleashStrategy[],
  base: string,
): { strategy: UnleashStrategy; marker?: Marker } | undefined {
  const flexible = strategies
    .filter(s => s.name === 'flexibleRollout')
    .sort((a, b) => (a.sortOrder ?? 0) - (b.sortOrder ?? 0));
  for (const strategy of flexible) {
    const marker = parseMarker(strategy.title, base);
    if (marker) return { strategy, marker };
  }
  return flexible[0] ? { strategy: flexible[0] } : undefined;
}

/** The strategy's `rollout` parameter, percent (Unleash stores it as a string). */
export function rolloutPercent(strategy: UnleashStrategy): number {
  const raw = strategy.parameters?.rollout;
  // Unleash fills in 100 when a flexibleRollout is created without it.
  const value = raw === undefined || raw === '' ? 100 : Number(raw);
  if (!Number.isFinite(value)) return 0;
  return Math.min(100, Math.max(0, value));
}

/** Index of the highest step whose weight is at most `weight` (0 below the first). */
export function stepIndexFor(steps: RolloutStep[], weight: number): number {
  let index = 0;
  steps.forEach((s, i) => {
    if (s.weight <= weight) index = i;
  });
  return index;
}

/** What the strategy and its environment say about the ramp. */
export interface RampState {
  status: RolloutStatus;
  /** Share of the flag's audience exposed now, percent (0 when the environment or strategy is off). */
  currentWeight: number;
  currentStepIndex: number;
  /** The ramp generation the state belongs to (see {@link Marker}). */
  generation: number;
  /** True when a rolled-back ramp was exposed again outside Tollgate: a new ramp. */
  reexposed: boolean;
  rolledBackAt?: Date;
}

/**
 * The state mapping:
 *
 * - rolled-back marker and nothing exposed (environment off, strategy
 *   disabled or 0%) → `rolled-back`;
 * - nothing exposed otherwise → `pending` (not started, or switched off
 *   outside Tollgate);
 * - 100% exposed → `promoted`;
 * - between → `progressing`, at the highest step at or below the percentage.
 *
 * A rolled-back marker with something exposed means a person exposed the
 * flag again outside Tollgate: that is the next ramp (generation + 1).
 */
export function rampState(input: {
  environmentEnabled: boolean;
  strategy: UnleashStrategy;
  marker?: Marker;
  steps: RolloutStep[];
}): RampState {
  const { environmentEnabled, strategy, marker, steps } = input;
  const percent = rolloutPercent(strategy);
  const exposed = environmentEnabled && !strategy.disabled ? percent : 0;
  const generation = marker?.generation ?? 1;
  if (marker?.rolledBack && exposed === 0) {
    return {
      status: 'rolled-back',
      currentWeight: 0,
      currentStepIndex: stepIndexFor(steps, marker.rolledBack.fromWeight ?? 0),
      generation,
      reexposed: false,
      rolledBackAt: marker.rolledBack.at,
    };
  }
  const reexposed = Boolean(marker?.rolledBack);
  const current = reexposed ? generation + 1 : generation;
  if (exposed === 0) {
    return {
      status: 'pending',
      currentWeight: 0,
      currentStepIndex: 0,
      generation: current,
      reexposed,
    };
  }
  if (exposed >= 100) {
    return {
      status: 'promoted',
      currentWeight: 100,
      currentStepIndex: Math.max(0, steps.length - 1),
      generation: current,
      reexposed,
    };
  }
  return {
    status: 'progressing',
    currentWeight: exposed,
    currentStepIndex: stepIndexFor(steps, exposed),
    generation: current,
    reexposed,
  };
}

/** One entry of Unleash's event search. */
export interface UnleashEvent {
  id: number;
  type: string;
  createdAt: string;
  environment?: string | null;
  data?: Record<string, any> | null;
  preData?: Record<string, any> | null;
}

/**
 * When the current step and the current ramp began, from the flag's events
 * in this environment (newest first). Undefined where the events do not
 * tell (older than the events read, or no access to them).
 */
export function rampTimes(
  events: UnleashEvent[],
  strategyId: string,
  state: RampState,
  base: string,
): { startedAt?: Date; stepStartedAt?: Date } {
  const ours = (e: UnleashEvent) =>
    (e.data?.id ?? e.preData?.id) === strategyId;
  const isAdd = (e: UnleashEvent) =>
    e.type === 'feature-strategy-add' && ours(e);
  const isUpdate = (e: UnleashEvent) =>
    e.type === 'feature-strategy-update' && ours(e);
  const exposureChange = (e: UnleashEvent) =>
    isAdd(e) ||
    e.type === 'feature-environment-enabled' ||
    e.type === 'feature-environment-disabled' ||
    (isUpdate(e) &&
      (e.data?.parameters?.rollout !== e.preData?.parameters?.rollout ||
        Boolean(e.data?.disabled) !== Boolean(e.preData?.disabled)));
  const at = (e: UnleashEvent | undefined) => {
    const d = e ? new Date(e.createdAt) : undefined;
    return d && !Number.isNaN(d.getTime()) ? d : undefined;
  };
  const sorted = [...events].sort((a, b) => b.id - a.id);
  const stepStartedAt = at(sorted.find(exposureChange));

  let startedAt: Date | undefined;
  if (state.reexposed) {
    // The first exposure change after Tollgate's rollback started this ramp.
    const since = state.rolledBackAt?.getTime() ?? 0;
    startedAt = at(
      [...sorted]
        .reverse()
        .find(
          e => exposureChange(e) && new Date(e.createdAt).getTime() > since,
        ),
    );
  } else if (state.generation > 1) {
    // Tollgate wrote the new generation into the title when it restarted the ramp.
    const genOf = (title: unknown) =>
      parseMarker(typeof title === 'string' ? title : undefined, base)
        ?.generation;
    startedAt = at(
      sorted.find(
        e =>
          isUpdate(e) &&
          genOf(e.data?.title) === state.generation &&
          genOf(e.preData?.title) !== state.generation,
      ),
    );
  } else {
    startedAt = at(sorted.find(isAdd));
  }
  return { startedAt, stepStartedAt };
}
