export { rolloutsApiRef } from './RolloutsApi';
export type {
  RolloutsApi,
  ListRolloutsRequest,
  RolloutList,
  SummaryRequest,
  RolloutActionResult,
} from './RolloutsApi';
export { RolloutsClient } from './RolloutsClient';
