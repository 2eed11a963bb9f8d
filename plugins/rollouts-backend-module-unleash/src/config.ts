import type { RootConfigService } from '@backstage/backend-plugin-api';
import type { RolloutStep } from '@tollgate/plugin-rollouts-common';

/** Where the provider's configuration lives. */
export const CONFIG_KEY = 'rollouts.providers.unleash';

/** The default ramp: 1% → 5% → 25% → 100%. @public */
export const DEFAULT_UNLEASH_STEPS: readonly RolloutStep[] = [
  { weight: 1 },
  { weight: 5 },
  { weight: 25 },
  { weight: 100 },
];

/**
 * How a rollback takes the flag away: `zero` sets the managed strategy to
 * 0%, `disable` switches the flag off in the environment, `both` does both
 * (the default).
 *
 * @public
 */
export type UnleashRollbackMode = 'zero' | 'disable' | 'both';

/** One flag the provider manages without discovery. @public */
export interface UnleashFlagOptions {
  /** `[<project>/]<flag>[@<environment>]`; the provider reports the target exactly as written here. */
  target: string;
  /** This flag's ramp, when it differs from the provider's. */
  steps?: RolloutStep[];
}

/** @public */
export interface UnleashDeployProviderOptions {
  /** Provider id, the `<id>:` of `tollgate.dev/rollouts` (default `unleash`). */
  id?: string;
  /** Unleash's base URL, e.g. `https://unleash.example.com`. */
  baseUrl: string;
  /** An admin API token (or a service account / personal access token with the same rights). */
  apiToken: string;
  /** Project of targets that name none (default `default`). */
  project?: string;
  /** Environment of targets that name none (default `production`). */
  environment?: string;
  /** The ramp (default 1 → 5 → 25 → 100). */
  steps?: RolloutStep[];
  /** Default `both`. */
  rollbackMode?: UnleashRollbackMode;
  /** Title of the managed flexibleRollout strategy, and prefix of Tollgate's marker (default `tollgate`). */
  strategyTitle?: string;
  /** Timeout of each Admin API call, seconds (default 10). */
  timeoutSeconds?: number;
  /** Flags to manage, in addition to those discovered by tag. */
  flags?: UnleashFlagOptions[];
  /** Tag discovery: flags carrying the tag `<type>:<value>` are managed (default on, tag `tollgate:managed`). */
  discovery?: { enabled?: boolean; tag?: string };
}

/** Reads a list of steps (percentages, or `{ weight, minDurationSeconds, requiresApproval }`), naming `key` in errors. */
export function parseSteps(raw: unknown, key: string): RolloutStep[] {
  if (!Array.isArray(raw) || raw.length === 0) {
    throw new Error(
      `${key} must be a non-empty list of percentages, e.g. [1, 5, 25, 100]`,
    );
  }
  const steps = raw.map((item, i): RolloutStep => {
    const o = (
      typeof item === 'number' ? { weight: item } : item
    ) as Partial<RolloutStep> | null;
    if (
      !o ||
      typeof o !== 'object' ||
      !Number.isInteger(o.weight) ||
      o.weight! < 1 ||
      o.weight! > 100
    ) {
      throw new Error(
        `${key}[${i}] must be a whole percentage from 1 to 100 (or { weight, minDurationSeconds, requiresApproval })`,
      );
    }
    const step: RolloutStep = { weight: o.weight! };
    if (typeof o.minDurationSeconds === 'number')
      step.minDurationSeconds = o.minDurationSeconds;
    if (typeof o.requiresApproval === 'boolean')
      step.requiresApproval = o.requiresApproval;
    return step;
  });
  steps.forEach((s, i) => {
    if (i > 0 && s.weight <= steps[i - 1].weight) {
      throw new Error(
        `${key} must rise step by step: ${steps[i - 1].weight}% is followed by ${s.weight}%`,
      );
    }
  });
  return steps;
}

/** Reads `rollouts.providers.unleash`; undefined when it says `enabled: false`. */
export function readUnleashConfig(
  config: RootConfigService,
): UnleashDeployProviderOptions | undefined {
  const c = config.getOptionalConfig(CONFIG_KEY);
  if (c?.getOptionalBoolean('enabled') === false) return undefined;
  if (!c) {
    throw new Error(
      `${CONFIG_KEY} is missing: the Unleash provider needs at least ${CONFIG_KEY}.baseUrl and ${CONFIG_KEY}.apiToken ` +
        '(or set enabled: false)',
    );
  }
  const rollbackMode = c.getOptionalString('rollbackMode');
  if (
    rollbackMode !== undefined &&
    !['zero', 'disable', 'both'].includes(rollbackMode)
  ) {
    throw new Error(
      `${CONFIG_KEY}.rollbackMode must be zero, disable or both, not "${rollbackMode}"`,
    );
  }
  const timeoutSeconds = c.getOptionalNumber('timeoutSeconds');
  if (timeoutSeconds !== undefined && !(timeoutSeconds > 0)) {
    throw new Error(
      `${CONFIG_KEY}.timeoutSeconds must be a positive number of seconds`,
    );
  }
  const steps = c.getOptional('steps');
  const flags = c.getOptionalConfigArray('flags')?.map((f, i) => {
    const flagSteps = f.getOptional('steps');
    return {
      target: f.getString('target'),
      steps:
        flagSteps === undefined
          ? undefined
          : parseSteps(flagSteps, `${CONFIG_KEY}.flags[${i}].steps`),
    };
  });
  const d = c.getOptionalConfig('discovery');
  return {
    id: c.getOptionalString('id'),
    baseUrl: c.getString('baseUrl'),
    apiToken: c.getString('apiToken'),
    project: c.getOptionalString('project'),
    environment: c.getOptionalString('environment'),
    steps:
      steps === undefined
        ? undefined
        : parseSteps(steps, `${CONFIG_KEY}.steps`),
    rollbackMode: rollbackMode as UnleashRollbackMode | undefined,
    strategyTitle: c.getOptionalString('strategyTitle'),
    timeoutSeconds,
    flags,
    discovery: d
      ? {
          enabled: d.getOptionalBoolean('enabled'),
          tag: d.getOptionalString('tag'),
        }
      : undefined,
  };
}
