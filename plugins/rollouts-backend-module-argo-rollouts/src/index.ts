/**
 * Tollgate's Argo Rollouts deploy provider module.
 *
 * @packageDocumentation
 */
export {
  rolloutsModuleArgoRollouts as default,
  rolloutsModuleArgoRollouts,
} from './module';
export {
  ArgoRolloutsDeployProvider,
  type ArgoRolloutsDeployProviderOptions,
} from './ArgoRolloutsDeployProvider';
export { type ArgoRolloutsClusterConfig } from './KubeClusterClient';
export {
  readArgoRolloutsConfig,
  type ArgoRolloutsProviderConfig,
} from './config';
export { ArgoRolloutsError } from './errors';
export { type IndefinitePauseMode } from './mapping';
