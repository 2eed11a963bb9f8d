import type { LoggerService } from '@backstage/backend-plugin-api';
import type { PolicyResolver } from './PolicyResolver';

/** Says at startup which configured policies are invalid (each holds every rollout that uses it). */
export function warnAboutBrokenPolicies(
  policies: PolicyResolver,
  logger: LoggerService,
): void {
  for (const broken of policies.brokenPolicies()) {
    logger.warn(
      `rollouts: policy "${broken.name}" (${
        broken.where
      }) is invalid and holds every rollout that uses it: ${broken.problems
        .map(p => `${p.path}: ${p.message}`)
        .join('; ')}`,
    );
  }
}
