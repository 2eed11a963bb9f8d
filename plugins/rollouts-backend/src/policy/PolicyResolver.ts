import type { Config } from '@backstage/config';
import type { UrlReaderService } from '@backstage/backend-plugin-api';
import { InputError, NotFoundError } from '@backstage/errors';
import { POLICY_ANNOTATION } from '@tollgate/plugin-rollouts-common';
import {
  validatePolicyObject,
  validatePolicyYaml,
  type PolicyProblem,
  type RolloutPolicy,
} from './policy';

const BUILTIN_STANDARD = {
  slo: { availability: 0.999, latency: { thresholdMs: 300, objective: 0.99 } },
  kpis: [],
  gate: {},
};

/** A named policy from config that does not validate: kept with its problems, so its rollouts hold. */
export interface BrokenPolicy {
  name: string;
  /** Where it came from, e.g. `rollouts.policies.legacy`. */
  where: string;
  problems: PolicyProblem[];
}

const describe = (problems: PolicyProblem[]) =>
  problems.map(p => `${p.path}: ${p.message}`).join('; ');

/**
 * Finds the policy an entity's rollouts run under: a URL in
 * `tollgate.dev/policy` (read through the UrlReader, cached for a minute),
 * `default:<name>` for a named policy from config, or the configured default.
 *
 * A named policy in config that does not validate does not stop the plugin:
 * it is kept with its problems, asking for it throws an error that names
 * each field, and the gate loop holds the rollouts that use it.
 */
export class PolicyResolver {
  readonly #named = new Map<string, RolloutPolicy>();
  readonly #broken = new Map<string, BrokenPolicy>();
  readonly #defaultName: string;
  readonly #reader?: UrlReaderService;
  readonly #cache = new Map<string, { at: number; policy: RolloutPolicy }>();

  static fromConfig(config: Config, reader?: UrlReaderService): PolicyResolver {
    return new PolicyResolver(config, reader);
  }

  private constructor(config: Config, reader?: UrlReaderService) {
    this.#reader = reader;
    this.#defaultName =
      config.getOptionalString('rollouts.defaultPolicy') ?? 'standard';
    const policies = config.getOptionalConfig('rollouts.policies');
    for (const name of policies?.keys() ?? []) {
      const where = `rollouts.policies.${name}`;
      const raw = policies!.get<unknown>(name);
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
        this.#broken.set(name, {
          name,
          where,
          problems: [{ path: '(root)', message: 'a policy must be a mapping' }],
        });
        continue;
      }
      const { policy, problems } = validatePolicyObject({ name, ...raw });
      if (policy) this.#named.set(name, policy);
      else this.#broken.set(name, { name, where, problems });
    }
    if (!this.#named.has('standard') && !this.#broken.has('standard')) {
      this.#named.set(
        'standard',
        validatePolicyObject({ name: 'standard', ...BUILTIN_STANDARD }).policy!,
      );
    }
    if (
      !this.#named.has(this.#defaultName) &&
      !this.#broken.has(this.#defaultName)
    ) {
      throw new InputError(
        `rollouts.defaultPolicy: no policy named "${this.#defaultName}" under rollouts.policies`,
      );
    }
  }

  /** Named policies from config that did not validate, each with every problem and its field path. */
  brokenPolicies(): BrokenPolicy[] {
    return [...this.#broken.values()];
  }

  named(name: string): RolloutPolicy {
    const policy = this.#named.get(name);
    if (policy) return policy;
    const broken = this.#broken.get(name);
    if (broken)
      throw new InputError(
        `the policy "${name}" (${broken.where}) is invalid: ${describe(broken.problems)}`,
      );
    throw new NotFoundError(`no policy named "${name}"`);
  }

  async forAnnotations(
    annotations: Record<string, string> | undefined,
  ): Promise<RolloutPolicy> {
    const ref = annotations?.[POLICY_ANNOTATION]?.trim();
    if (!ref) return this.named(this.#defaultName);
    if (ref.startsWith('default:')) {
      const name = ref.slice('default:'.length);
      try {
        return this.named(name);
      } catch (e) {
        if (e instanceof NotFoundError) {
          throw new NotFoundError(
            `${POLICY_ANNOTATION}: no policy named "${name}" under rollouts.policies`,
          );
        }
        throw e;
      }
    }
    if (!this.#reader)
      throw new InputError(
        `${POLICY_ANNOTATION}: cannot read ${ref} (no URL reader)`,
      );
    const cached = this.#cache.get(ref);
    if (cached && Date.now() - cached.at < 60_000) return cached.policy;
    const response = await this.#reader.readUrl(ref);
    const text = (await response.buffer()).toString('utf8');
    const { policy, problems } = validatePolicyYaml(text);
    if (!policy) {
      throw new InputError(`policy ${ref} is invalid: ${describe(problems)}`);
    }
    const named = {
      ...policy,
      name: policy.name === 'unnamed' ? ref : policy.name,
    };
    this.#cache.set(ref, { at: Date.now(), policy: named });
    return named;
  }
}
