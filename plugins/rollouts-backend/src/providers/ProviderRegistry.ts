import { NotFoundError } from '@backstage/errors';
import type {
  RolloutsDeployProvider,
  RolloutsTelemetryProvider,
} from '@tollgate/plugin-rollouts-node';

/** The providers modules registered, looked up by id. */
export class ProviderRegistry {
  readonly #deploy = new Map<string, RolloutsDeployProvider>();
  readonly #telemetry = new Map<string, RolloutsTelemetryProvider>();

  addDeploy(provider: RolloutsDeployProvider) {
    if (this.#deploy.has(provider.id)) {
      throw new Error(
        `a rollouts deploy provider with id "${provider.id}" is already registered; each module must use its own id`,
      );
    }
    this.#deploy.set(provider.id, provider);
  }

  addTelemetry(provider: RolloutsTelemetryProvider) {
    if (this.#telemetry.has(provider.id)) {
      throw new Error(
        `a rollouts telemetry provider with id "${provider.id}" is already registered; each module must use its own id`,
      );
    }
    this.#telemetry.set(provider.id, provider);
  }

  deployProviders(): RolloutsDeployProvider[] {
    return [...this.#deploy.values()];
  }

  /** False for rollouts another controller drives (Flagger, Argo with Tollgate as its judge). */
  hasDeploy(id: string): boolean {
    return this.#deploy.has(id);
  }

  /** The deploy provider's one spelling of a target; as written when it has none or cannot parse it. */
  normalizeTarget(providerId: string, target: string): string {
    const provider = this.#deploy.get(providerId);
    if (!provider?.normalizeTarget) return target;
    try {
      return provider.normalizeTarget(target);
    } catch {
      return target;
    }
  }

  deploy(id: string): RolloutsDeployProvider {
    const p = this.#deploy.get(id);
    if (!p) throw new NotFoundError(`no deploy provider "${id}" is installed`);
    return p;
  }

  /** The annotation's choice, else the deploy provider's namesake, else the default, else the only one. */
  telemetryFor(
    deployProviderId: string,
    annotated?: string,
    fallback?: string,
  ): RolloutsTelemetryProvider {
    for (const id of [annotated, deployProviderId, fallback]) {
      if (id && this.#telemetry.has(id)) return this.#telemetry.get(id)!;
    }
    if (annotated)
      throw new NotFoundError(
        `no telemetry provider "${annotated}" is installed`,
      );
    if (this.#telemetry.size === 1) return [...this.#telemetry.values()][0];
    throw new NotFoundError(
      `no telemetry provider for rollouts of "${deployProviderId}"; set rollouts.telemetry.defaultProvider`,
    );
  }
}
