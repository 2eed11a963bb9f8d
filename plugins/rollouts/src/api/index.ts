export { rolloutsApiRef } from './RolloutsApi';
export type {
  RolloutsApi,
  ListRolloutsRequest,
  RolloutList,
  SummaryRequest,
  SummaryServicesRequest,
  RolloutActionResult,
  WhatIfRequestBody,
} from './RolloutsApi';
export { RolloutsClient } from './RolloutsClient';
