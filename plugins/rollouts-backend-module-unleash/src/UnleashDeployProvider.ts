import type {
  LoggerService,
  RootConfigService,
} from '@backstage/backend-plugin-api';
import type {
  DeployTargetDescription,
  RolloutStep,
} from '@tollgate/plugin-rollouts-common';
import type {
  ProviderRollout,
  RolloutsDeployProvider,
} from '@tollgate/plugin-rollouts-node';
import {
  CONFIG_KEY,
  DEFAULT_UNLEASH_STEPS,
  parseSteps,
  readUnleashConfig,
  type UnleashDeployProviderOptions,
  type UnleashRollbackMode,
} from './config';
import {
  findManagedStrategy,
  formatMarker,
  isReleaseVersion,
  rampState,
  rampTimes,
  rolloutPercent,
  type UnleashEvent,
  type UnleashStrategy,
} from './state';
import { parseTarget, shortTarget, targetKey, type FlagTarget } from './target';
import { UnleashApiError, UnleashClient } from './UnleashClient';

/** The parts of `GET /api/admin/projects/:project/features/:flag` Tollgate reads. */
interface UnleashFeature {
  name: string;
  project: string;
  archived?: boolean;
  createdAt?: string;
  environments: Array<{
    name: string;
    enabled: boolean;
    strategies?: Array<UnleashStrategy & { constraints?: UnleashConstraint[] }>;
  }>;
}

/** A strategy constraint as the Admin API reports it. */
interface UnleashConstraint {
  contextName: string;
  operator: string;
  values?: string[];
  value?: string;
  inverted?: boolean;
}

function constraintText(c: UnleashConstraint): string {
  const values = c.values?.length ? c.values.join(', ') : (c.value ?? '');
  return `${c.inverted ? 'NOT ' : ''}${c.contextName} ${c.operator} ${values}`.trim();
}

interface Resolved {
  /** The target as the caller (or the config) wrote it. */
  target: string;
  flag: FlagTarget;
  steps: RolloutStep[];
}

const enc = encodeURIComponent;

/** Runs `fn` over `items`, at most `limit` at a time, keeping the order. */
async function mapLimited<T, R>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, worker),
  );
  return out;
}

/**
 * A deploy provider for feature-flag cohorts in Unleash: a rollout is a
 * flag in an environment, exposed through the percentage of its managed
 * `flexibleRollout` strategy, which Tollgate steps up, holds or takes back
 * through the Admin API. Unleash holds all of the state (see `state.ts`), so
 * a new instance reads back exactly what the previous one left.
 *
 * @public
 */
export class UnleashDeployProvider implements RolloutsDeployProvider {
  readonly id: string;
  readonly #client: UnleashClient;
  readonly #defaults: { project: string; environment: string };
  readonly #steps: RolloutStep[];
  readonly #rollbackMode: UnleashRollbackMode;
  readonly #title: string;
  /** Configured flags by target key. */
  readonly #flags = new Map<string, Resolved>();
  readonly #discoveryTag?: { type: string; value: string };
  readonly #logger?: LoggerService;
  readonly #now: () => Date;

  /** Reads `rollouts.providers.unleash`; undefined when it says `enabled: false`. */
  static fromConfig(
    config: RootConfigService,
    options: { logger?: LoggerService } = {},
  ): UnleashDeployProvider | undefined {
    const read = readUnleashConfig(config);
    return read
      ? UnleashDeployProvider.create({ ...read, logger: options.logger })
      : undefined;
  }

  static create(
    options: UnleashDeployProviderOptions & {
      logger?: LoggerService;
      now?: () => Date;
    },
  ): UnleashDeployProvider {
    return new UnleashDeployProvider(options);
  }

  private constructor(
    options: UnleashDeployProviderOptions & {
      logger?: LoggerService;
      now?: () => Date;
    },
  ) {
    this.id = options.id ?? 'unleash';
    this.#defaults = {
      project: options.project ?? 'default',
      environment: options.environment ?? 'production',
    };
    this.#steps = options.steps
      ? parseSteps(options.steps, `${CONFIG_KEY}.steps`)
      : [...DEFAULT_UNLEASH_STEPS];
    this.#rollbackMode = options.rollbackMode ?? 'both';
    this.#title = options.strategyTitle ?? 'tollgate';
    this.#logger = options.logger;
    this.#now = options.now ?? (() => new Date());
    this.#client = new UnleashClient({
      baseUrl: options.baseUrl,
      apiToken: options.apiToken,
      timeoutMs: (options.timeoutSeconds ?? 10) * 1000,
      tokenConfigKey: `${CONFIG_KEY}.apiToken`,
      timeoutConfigKey: `${CONFIG_KEY}.timeoutSeconds`,
    });
    options.flags?.forEach((f, i) => {
      const flag = parseTarget(f.target, this.#defaults);
      const steps = f.steps
        ? parseSteps(f.steps, `${CONFIG_KEY}.flags[${i}].steps`)
        : this.#steps;
      this.#flags.set(targetKey(flag), {
        target: f.target.trim(),
        flag,
        steps,
      });
    });
    if (options.discovery?.enabled !== false) {
      const tag = options.discovery?.tag ?? 'tollgate:managed';
      const idx = tag.indexOf(':');
      if (idx <= 0 || idx === tag.length - 1) {
        throw new Error(
          `${CONFIG_KEY}.discovery.tag must be <type>:<value>, e.g. tollgate:managed, not "${tag}"`,
        );
      }
      this.#discoveryTag = {
        type: tag.slice(0, idx),
        value: tag.slice(idx + 1),
      };
    }
  }

  /**
   * The configured flags, then every flag carrying the discovery tag: one
   * rollout per environment where it has a Tollgate strategy (or, when it
   * has none yet, a flexibleRollout in the default environment). A
   * configured flag that no longer exists is left out with a warning; any
   * other failure throws, so a partial list never ends rollouts.
   */
  async listRollouts(): Promise<ProviderRollout[]> {
    const features = new Map<string, Promise<UnleashFeature | undefined>>();
    const feature = (project: string, flag: string) => {
      const key = `${project}/${flag}`;
      if (!features.has(key)) {
        features.set(
          key,
          this.#getFeature({
            project,
            flag,
            environment: this.#defaults.environment,
          }).catch(e => {
            if (e instanceof UnleashApiError && e.status === 404)
              return undefined;
            throw e;
          }),
        );
      }
      return features.get(key)!;
    };

    const wanted: Resolved[] = [...this.#flags.values()];
    const seen = new Set(this.#flags.keys());
    if (this.#discoveryTag) {
      const tagged = await this.#searchTagged(this.#discoveryTag);
      const found = await mapLimited(tagged, 4, async t => ({
        t,
        f: await feature(t.project, t.name),
      }));
      for (const { t, f } of found) {
        if (!f || f.archived) continue;
        const marked = f.environments.filter(
          env => findManagedStrategy(env.strategies ?? [], this.#title)?.marker,
        );
        // the environments with Tollgate's strategy, else the default environment when the flag has it
        let envs = marked.map(env => env.name);
        if (
          !envs.length &&
          f.environments.some(env => env.name === this.#defaults.environment)
        )
          envs = [this.#defaults.environment];
        for (const environment of envs) {
          const flag = { project: t.project, flag: t.name, environment };
          if (seen.has(targetKey(flag))) continue;
          seen.add(targetKey(flag));
          wanted.push({
            target: shortTarget(flag, this.#defaults),
            flag,
            steps: this.#steps,
          });
        }
      }
    }

    const rollouts = await mapLimited(wanted, 4, async r => {
      const f = await feature(r.flag.project, r.flag.flag);
      if (!f || f.archived) {
        this.#logger?.warn(
          `unleash: flag ${r.flag.flag} in project ${r.flag.project} (target ${r.target}) was not found or is archived; skipping it`,
        );
        return undefined;
      }
      const env = f.environments.find(e => e.name === r.flag.environment);
      if (!env) {
        this.#logger?.warn(
          `unleash: flag ${r.flag.flag} has no environment ${r.flag.environment} (target ${r.target}); skipping it`,
        );
        return undefined;
      }
      return this.#toRollout(r, f);
    });
    return rollouts.filter((r): r is ProviderRollout => Boolean(r));
  }

  /** The ramp at `target`, undefined when the flag has no flexibleRollout strategy in that environment. */
  /** The full form, `<project>/<flag>@<environment>`: every accepted spelling of one flag ramp compares equal. */
  normalizeTarget(target: string): string {
    return targetKey(parseTarget(target, this.#defaults));
  }

  async getRollout(target: string): Promise<ProviderRollout | undefined> {
    const r = this.#resolve(target);
    const feature = await this.#getFeature(r.flag);
    this.#environment(feature, r);
    return this.#toRollout(r, feature);
  }

  /**
   * The flag's cohort as Unleash's Admin API reports it: whether the flag
   * is on in the environment, and the managed strategy's name, title,
   * percentage (`rollout`), stickiness, group id and constraints. Reads only.
   */
  async describeTarget(target: string): Promise<DeployTargetDescription> {
    const r = this.#resolve(target);
    const feature = await this.#getFeature(r.flag);
    const env = this.#environment(feature, r);
    const strategies = env.strategies ?? [];
    const base: DeployTargetDescription = {
      provider: this.id,
      target: r.target,
      kind: 'feature-flag',
      enabled: env.enabled,
      details: {
        project: r.flag.project,
        flag: r.flag.flag,
        environment: r.flag.environment,
        strategies: strategies.length,
      },
    };
    const managed = findManagedStrategy(strategies, this.#title);
    if (!managed) return base;
    const strategy = managed.strategy as UnleashStrategy & {
      constraints?: UnleashConstraint[];
    };
    const p = strategy.parameters ?? {};
    const state = rampState({
      environmentEnabled: env.enabled,
      strategy,
      marker: managed.marker,
      steps: r.steps,
    });
    return {
      ...base,
      strategy: strategy.name,
      ...(strategy.title ? { strategyTitle: strategy.title } : {}),
      strategyDisabled: Boolean(strategy.disabled),
      percentage: rolloutPercent(strategy),
      ...(p.stickiness ? { stickiness: p.stickiness } : {}),
      ...(p.groupId ? { groupId: p.groupId } : {}),
      constraints: (strategy.constraints ?? []).map(constraintText),
      details: { ...base.details, rampStatus: state.status },
    };
  }

  async setStep(target: string, stepIndex: number): Promise<ProviderRollout> {
    const r = this.#resolve(target);
    const step = Number.isInteger(stepIndex) ? r.steps[stepIndex] : undefined;
    if (!step) {
      throw new Error(
        `unleash ${r.target}: there is no step ${stepIndex}; the ramp has ${r.steps.length} steps (${r.steps.map(s => `${s.weight}%`).join(' → ')})`,
      );
    }
    return this.#expose(r, step.weight);
  }

  async promote(target: string): Promise<ProviderRollout> {
    return this.#expose(this.#resolve(target), 100);
  }

  /**
   * Takes the flag back per `rollbackMode` and writes Tollgate's
   * rolled-back marker into the strategy title (with the percentage it
   * left and the time), so the rollback reads back after a restart. A ramp
   * already rolled back is left as it is.
   */
  async rollback(target: string, _reason: string): Promise<ProviderRollout> {
    const r = this.#resolve(target);
    const feature = await this.#getFeature(r.flag);
    const env = this.#environment(feature, r);
    const managed = findManagedStrategy(env.strategies ?? [], this.#title);
    if (!managed) {
      throw new Error(
        `unleash ${r.target}: flag ${r.flag.flag} has no flexibleRollout strategy in environment ${r.flag.environment}, so there is no ramp to roll back`,
      );
    }
    const state = rampState({
      environmentEnabled: env.enabled,
      strategy: managed.strategy,
      marker: managed.marker,
      steps: r.steps,
    });
    if (state.status !== 'rolled-back') {
      const title = formatMarker(this.#title, {
        generation: state.generation,
        release: managed.marker?.release,
        rolledBack: { at: this.#now(), fromWeight: state.currentWeight },
      });
      const path = `${this.#strategiesPath(r.flag)}/${enc(managed.strategy.id)}`;
      if (this.#rollbackMode === 'disable') {
        // Switch off first: the marker alone must never sit on an exposed flag.
        if (env.enabled)
          await this.#client.request('POST', `${this.#envPath(r.flag)}/off`);
        await this.#client.request('PATCH', path, [
          { op: 'add', path: '/title', value: title },
        ]);
      } else {
        await this.#client.request('PATCH', path, [
          { op: 'add', path: '/parameters/rollout', value: '0' },
          { op: 'add', path: '/title', value: title },
        ]);
        if (this.#rollbackMode === 'both' && env.enabled) {
          await this.#client.request('POST', `${this.#envPath(r.flag)}/off`);
        }
      }
    }
    return this.#mustGet(r);
  }

  /**
   * Starts a ramp of the flag for `version` at the ladder's first step: the
   * managed strategy (created when there is none) gets the first step's
   * percentage and a new ramp generation whose marker carries `version`
   * (`tollgate#3 release 1.4.0`), and the flag goes on in the environment.
   * Unleash has no versions: the version is Tollgate's label of the ramp,
   * which the provider then reports as the ramp's version. When the ramp
   * already is `version`'s, it is returned as it is (idempotent); while
   * another ramp is under way (between 0 and 100 %), it refuses. A flag at
   * 100 % for an earlier release ramps again from the first step.
   */
  async startRelease(
    target: string,
    version: string,
    _previousVersion?: string,
  ): Promise<ProviderRollout> {
    const r = this.#resolve(target);
    if (!isReleaseVersion(version)) {
      throw new Error(
        `unleash ${r.target}: version "${version}" cannot label a ramp (1 to 128 characters, no spaces)`,
      );
    }
    const feature = await this.#getFeature(r.flag);
    const env = this.#environment(feature, r);
    const managed = findManagedStrategy(env.strategies ?? [], this.#title);
    const first = r.steps[0].weight;
    if (!managed)
      return this.#expose(r, first, { generation: 1, release: version });
    if (managed.marker?.release === version) return this.#mustGet(r);
    const state = rampState({
      environmentEnabled: env.enabled,
      strategy: managed.strategy,
      marker: managed.marker,
      steps: r.steps,
    });
    if (state.status === 'progressing') {
      const running = managed.marker?.release ?? 'a ramp';
      throw new Error(
        `unleash ${r.target}: ${running} is still ramping at ${state.currentWeight}%; ${version} cannot start before it is promoted or rolled back`,
      );
    }
    // A new ramp (a new externalId), so the earlier one stays as it ended.
    return this.#expose(r, first, {
      generation: state.generation + 1,
      release: version,
    });
  }

  /**
   * Sets the managed strategy to `weight`% and makes sure the flag is on in
   * the environment; with `start`, the ramp's marker becomes that
   * generation and release (else the marker's release is kept).
   */
  async #expose(
    r: Resolved,
    weight: number,
    start?: { generation: number; release: string },
  ): Promise<ProviderRollout> {
    const feature = await this.#getFeature(r.flag);
    const env = this.#environment(feature, r);
    const managed = findManagedStrategy(env.strategies ?? [], this.#title);
    if (!managed) {
      // No ramp yet: start one with Tollgate's own strategy.
      await this.#client.request('POST', this.#strategiesPath(r.flag), {
        name: 'flexibleRollout',
        title: formatMarker(this.#title, start ?? { generation: 1 }),
        parameters: { rollout: String(weight) },
        constraints: [],
      });
    } else {
      const state = rampState({
        environmentEnabled: env.enabled,
        strategy: managed.strategy,
        marker: managed.marker,
        steps: r.steps,
      });
      // After a rollback, exposing the flag again starts the next ramp.
      const generation =
        state.status === 'rolled-back'
          ? state.generation + 1
          : state.generation;
      const marker = start ?? {
        generation,
        release: managed.marker?.release,
      };
      const patch: Array<{ op: string; path: string; value: unknown }> = [
        { op: 'add', path: '/parameters/rollout', value: String(weight) },
        {
          op: 'add',
          path: '/title',
          value: formatMarker(this.#title, marker),
        },
      ];
      if (managed.strategy.disabled)
        patch.push({ op: 'add', path: '/disabled', value: false });
      await this.#client.request(
        'PATCH',
        `${this.#strategiesPath(r.flag)}/${enc(managed.strategy.id)}`,
        patch,
      );
    }
    // The percentage is set before the flag goes on, so no stale percentage is ever exposed.
    if (!env.enabled)
      await this.#client.request('POST', `${this.#envPath(r.flag)}/on`);
    return this.#mustGet(r);
  }

  async #mustGet(r: Resolved): Promise<ProviderRollout> {
    const feature = await this.#getFeature(r.flag);
    const rollout = await this.#toRollout(r, feature);
    if (!rollout) {
      throw new Error(
        `unleash ${r.target}: the managed strategy disappeared while Tollgate changed it`,
      );
    }
    return rollout;
  }

  async #toRollout(
    r: Resolved,
    feature: UnleashFeature,
  ): Promise<ProviderRollout | undefined> {
    const env = feature.environments.find(e => e.name === r.flag.environment);
    if (!env) return undefined;
    const managed = findManagedStrategy(env.strategies ?? [], this.#title);
    if (!managed) return undefined;
    const state = rampState({
      environmentEnabled: env.enabled,
      strategy: managed.strategy,
      marker: managed.marker,
      steps: r.steps,
    });
    const strategyId = managed.strategy.id;
    const times = rampTimes(
      await this.#events(r.flag),
      strategyId,
      state,
      this.#title,
    );
    const created = feature.createdAt
      ? new Date(feature.createdAt)
      : this.#now();
    const stepStartedAt = times.stepStartedAt ?? times.startedAt ?? created;
    const startedAt =
      times.startedAt ?? (state.generation === 1 ? created : stepStartedAt);
    const ramp = state.generation > 1 ? `#r${state.generation}` : '';
    let finishedAt: Date | undefined;
    if (state.status === 'rolled-back')
      finishedAt = state.rolledBackAt ?? stepStartedAt;
    if (state.status === 'promoted') finishedAt = stepStartedAt;
    return {
      externalId: `${targetKey(r.flag)}#${strategyId}${ramp}`,
      target: r.target,
      // a ramp startRelease began carries its version; any other is named by flag, strategy and ramp
      version:
        managed.marker?.release ??
        `${r.flag.flag}#${strategyId.slice(0, 8)}${ramp}`,
      status: state.status,
      steps: r.steps,
      currentStepIndex: state.currentStepIndex,
      currentWeight: state.currentWeight,
      startedAt,
      stepStartedAt,
      ...(finishedAt ? { finishedAt } : {}),
    };
  }

  #resolve(target: string): Resolved {
    const flag = parseTarget(target, this.#defaults);
    const configured = this.#flags.get(targetKey(flag));
    return {
      target: target.trim(),
      flag,
      steps: configured?.steps ?? this.#steps,
    };
  }

  #featurePath(t: FlagTarget) {
    return `/api/admin/projects/${enc(t.project)}/features/${enc(t.flag)}`;
  }

  #envPath(t: FlagTarget) {
    return `${this.#featurePath(t)}/environments/${enc(t.environment)}`;
  }

  #strategiesPath(t: FlagTarget) {
    return `${this.#envPath(t)}/strategies`;
  }

  /** The flag; a 404 says whether the project or the flag is missing. */
  async #getFeature(t: FlagTarget): Promise<UnleashFeature> {
    const path = this.#featurePath(t);
    let feature: UnleashFeature;
    try {
      feature = await this.#client.request<UnleashFeature>('GET', path);
    } catch (e) {
      if (!(e instanceof UnleashApiError) || e.status !== 404) throw e;
      const projectMissing = await this.#client
        .request('GET', `/api/admin/projects/${enc(t.project)}/overview`)
        .then(() => false)
        .catch(p => p instanceof UnleashApiError && p.status === 404);
      const what = projectMissing
        ? `project "${t.project}" not found`
        : `flag "${t.flag}" not found in project "${t.project}"`;
      throw new UnleashApiError(
        `Unleash: ${what} (GET ${path}: HTTP 404${e.unleashMessage ? `, ${e.unleashMessage}` : ''})`,
        {
          method: 'GET',
          path,
          status: 404,
          unleashMessage: e.unleashMessage,
        },
      );
    }
    if (feature.archived) {
      throw new UnleashApiError(
        `Unleash: flag "${t.flag}" in project "${t.project}" is archived (GET ${path})`,
        {
          method: 'GET',
          path,
          status: 404,
        },
      );
    }
    return feature;
  }

  #environment(feature: UnleashFeature, r: Resolved) {
    const env = feature.environments.find(e => e.name === r.flag.environment);
    if (!env) {
      const path = this.#envPath(r.flag);
      throw new UnleashApiError(
        `Unleash: environment "${r.flag.environment}" not found for flag "${r.flag.flag}" in project "${r.flag.project}" ` +
          `(it has ${feature.environments.map(e => e.name).join(', ') || 'no environments'}; target ${r.target})`,
        { method: 'GET', path, status: 404 },
      );
    }
    return env;
  }

  /** Flags carrying the discovery tag, in every project the token can see. */
  async #searchTagged(tag: {
    type: string;
    value: string;
  }): Promise<Array<{ name: string; project: string }>> {
    const out: Array<{ name: string; project: string }> = [];
    for (let offset = 0; ;) {
      const query = new URLSearchParams({
        tag: `INCLUDE:${tag.type}:${tag.value}`,
        limit: '100',
        offset: String(offset),
      });
      const page = await this.#client.request<{
        features: Array<{ name: string; project: string }>;
        total: number;
      }>('GET', `/api/admin/search/features?${query}`);
      out.push(
        ...page.features.map(f => ({ name: f.name, project: f.project })),
      );
      offset += page.features.length;
      if (page.features.length === 0 || offset >= page.total) return out;
    }
  }

  /** The newest events of the flag in the environment, for the ramp's times; [] when they cannot be read. */
  async #events(t: FlagTarget): Promise<UnleashEvent[]> {
    const query = new URLSearchParams({
      feature: `IS:${t.flag}`,
      project: `IS:${t.project}`,
      environment: `IS:${t.environment}`,
      limit: '100',
    });
    try {
      const res = await this.#client.request<{ events: UnleashEvent[] }>(
        'GET',
        `/api/admin/search/events?${query}`,
      );
      return res?.events ?? [];
    } catch (e) {
      this.#logger?.warn(
        `unleash: could not read the events of ${targetKey(t)} for the ramp's times: ${(e as Error).message}`,
      );
      return [];
    }
  }
}
