/**
 * Tollgate's Unleash provider module: feature-flag cohort ramps through
 * Unleash's Admin API.
 *
 * @packageDocumentation
 */
export {
  rolloutsModuleUnleash as default,
  rolloutsModuleUnleash,
} from './module';
export { UnleashDeployProvider } from './UnleashDeployProvider';
export { UnleashApiError } from './UnleashClient';
export {
  DEFAULT_UNLEASH_STEPS,
  type UnleashDeployProviderOptions,
  type UnleashFlagOptions,
  type UnleashRollbackMode,
} from './config';
