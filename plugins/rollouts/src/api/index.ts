export { rolloutsApiRef } from './RolloutsApi';
export type {
  RolloutsApi,
  ListRolloutsRequest,
  SummaryRequest,
  RolloutActionResult,
} from './RolloutsApi';
export { RolloutsClient } from './RolloutsClient';
