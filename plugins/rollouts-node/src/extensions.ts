import { createExtensionPoint } from '@backstage/backend-plugin-api';
import type {
  RolloutsDeployProvider,
  RolloutsTelemetryProvider,
} from './providers';

/**
 * Lets a module add deploy providers to the rollouts backend.
 *
 * @public
 */
export interface RolloutsDeployProvidersExtensionPoint {
  addDeployProvider(...providers: RolloutsDeployProvider[]): void;
}

/** @public */
export const rolloutsDeployProvidersExtensionPoint =
  createExtensionPoint<RolloutsDeployProvidersExtensionPoint>({
    id: 'rollouts.deploy-providers',
  });

/**
 * Lets a module add telemetry providers to the rollouts backend.
 *
 * @public
 */
export interface RolloutsTelemetryProvidersExtensionPoint {
  addTelemetryProvider(...providers: RolloutsTelemetryProvider[]): void;
}

/** @public */
export const rolloutsTelemetryProvidersExtensionPoint =
  createExtensionPoint<RolloutsTelemetryProvidersExtensionPoint>({
    id: 'rollouts.telemetry-providers',
  });
