/**
 * Tollgate frontend: the service Rollouts tab, the executive rollout
 * dashboard and the on-call controls.
 *
 * @packageDocumentation
 */
export {
  rolloutsPlugin,
  RolloutsPage,
  OnCallPage,
  EntityRolloutsContent,
  EntityRolloutsCard,
  isRolloutsAvailable,
} from './plugin';
export { rolloutsApiRef, RolloutsClient } from './api';
export type {
  RolloutsApi,
  ListRolloutsRequest,
  RolloutList,
  SummaryRequest,
  SummaryServicesRequest,
  RolloutActionResult,
} from './api';
export { onCallRouteRef, rootRouteRef } from './routes';
