import type { Config } from '@backstage/config';
import type { UrlReaderService } from '@backstage/backend-plugin-api';
import { InputError, NotFoundError } from '@backstage/errors';
import { POLICY_ANNOTATION } from '@tollgate/plugin-rollouts-common';
import { parsePolicyObject, validatePolicyYaml, type RolloutPolicy } from './policy';

const BUILTIN_STANDARD = {
  slo: { availability: 0.999, latency: { thresholdMs: 300, objective: 0.99 } },
  kpis: [],
  gate: {},
};

/**
 * Finds the policy an entity's rollouts run under: a URL in
 * `tollgate.dev/policy` (read through the UrlReader, cached for a minute),
 * `default:<name>` for a named policy from config, or the configured default.
 */
export class PolicyResolver {
  readonly #named = new Map<string, RolloutPolicy>();
  readonly #defaultName: string;
  readonly #reader?: UrlReaderService;
  readonly #cache = new Map<string, { at: number; policy: RolloutPolicy }>();

  static fromConfig(config: Config, reader?: UrlReaderService): PolicyResolver {
    return new PolicyResolver(config, reader);
  }

  private constructor(config: Config, reader?: UrlReaderService) {
    this.#reader = reader;
    this.#defaultName = config.getOptionalString('rollouts.defaultPolicy') ?? 'standard';
    const policies = config.getOptionalConfig('rollouts.policies');
    for (const name of policies?.keys() ?? []) {
      this.#named.set(
        name,
        parsePolicyObject({ name, ...policies!.getConfig(name).get<object>() }, `rollouts.policies.${name}`),
      );
    }
    if (!this.#named.has('standard')) {
      this.#named.set('standard', parsePolicyObject({ name: 'standard', ...BUILTIN_STANDARD }, 'standard'));
    }
    if (!this.#named.has(this.#defaultName)) {
      throw new InputError(`rollouts.defaultPolicy: no policy named "${this.#defaultName}" under rollouts.policies`);
    }
  }

  named(name: string): RolloutPolicy {
    const policy = this.#named.get(name);
    if (!policy) throw new NotFoundError(`no policy named "${name}"`);
    return policy;
  }

  async forAnnotations(annotations: Record<string, string> | undefined): Promise<RolloutPolicy> {
    const ref = annotations?.[POLICY_ANNOTATION]?.trim();
    if (!ref) return this.named(this.#defaultName);
    if (ref.startsWith('default:')) return this.named(ref.slice('default:'.length));
    if (!this.#reader) throw new InputError(`${POLICY_ANNOTATION}: cannot read ${ref} (no URL reader)`);
    const cached = this.#cache.get(ref);
    if (cached && Date.now() - cached.at < 60_000) return cached.policy;
    const response = await this.#reader.readUrl(ref);
    const text = (await response.buffer()).toString('utf8');
    const { policy, problems } = validatePolicyYaml(text);
    if (!policy) {
      throw new InputError(`policy ${ref} is invalid: ${problems.map(p => `${p.path}: ${p.message}`).join('; ')}`);
    }
    const named = { ...policy, name: policy.name === 'unnamed' ? ref : policy.name };
    this.#cache.set(ref, { at: Date.now(), policy: named });
    return named;
  }
}
