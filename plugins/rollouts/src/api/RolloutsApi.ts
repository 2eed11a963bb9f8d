import { createApiRef } from '@backstage/core-plugin-api';
import type {
  AttentionList,
  DecisionEntry,
  DecisionEvidence,
  DecisionListEntry,
  DecisionPage,
  Rollout,
  RolloutAction,
  RolloutDetail,
  RolloutStatus,
  RolloutsSummary,
  RolloutShadow,
  ServiceSort,
  ServiceSummaryPage,
  RolloutTimeseries,
  ShadowSummary,
  WhatIfResult,
  PipelineList,
  RolloutPipeline,
} from '@tollgate/plugin-rollouts-common';

/** Body of `POST /v1/policies/whatif`: a candidate policy (object or YAML) and past rollouts to replay. @public */
export interface WhatIfRequestBody {
  policy?: unknown;
  yaml?: string;
  selection?: {
    services?: string[];
    from?: string;
    to?: string;
    limit?: number;
  };
}

/** Filter of `GET /v1/rollouts`. @public */
export interface ListRolloutsRequest {
  entityRef?: string;
  status?: 'active' | 'finished' | RolloutStatus;
  limit?: number;
  /** Rows to skip: the page after `offset / limit` pages. */
  offset?: number;
  /** Only services of this owner / system (catalog refs). */
  owner?: string;
  system?: string;
  /** Only rollouts whose service or version contains this text. */
  q?: string;
}

/** A page of `GET /v1/rollouts`: the rows and how many all pages hold. @public */
export interface RolloutList {
  items: Rollout[];
  total?: number;
}

/** Filter of `GET /v1/summary`. @public */
export interface SummaryRequest {
  owner?: string;
  system?: string;
  days?: number;
}

/** Filter, search, order and page of `GET /v1/summary/services`. @public */
export interface SummaryServicesRequest extends SummaryRequest {
  /** Only services whose entity ref contains this text. */
  q?: string;
  sort?: ServiceSort;
  /** Default: largest figures first, names A to Z. */
  order?: 'asc' | 'desc';
  offset?: number;
  /** At most 100 (default 20). */
  limit?: number;
  /** Only services with an active rollout carrying KPI evidence. */
  active?: boolean;
  /** Only services with a known error-budget share. */
  budgeted?: boolean;
}

/** Answer of an action. @public */
export interface RolloutActionResult {
  rollout: Rollout;
  decision?: DecisionEntry;
  alreadyInState?: boolean;
  replayed?: boolean;
}

/** Tollgate's backend, as the frontend sees it. @public */
export interface RolloutsApi {
  listRollouts(request?: ListRolloutsRequest): Promise<RolloutList>;
  getRollout(id: string): Promise<RolloutDetail>;
  /** A page of the rollout's decisions, without their evidence snapshots. */
  listDecisions(
    id: string,
    options?: { limit?: number; before?: number },
  ): Promise<DecisionPage<DecisionListEntry>>;
  /** One decision's evidence snapshot. */
  getDecisionEvidence(id: string, seq: number): Promise<DecisionEvidence>;
  performAction(
    id: string,
    action: RolloutAction,
    body: { reason: string; idempotencyKey: string },
  ): Promise<RolloutActionResult>;
  /** The portfolio figures; `services` holds a first slice only (see `listSummaryServices`). */
  getSummary(request?: SummaryRequest): Promise<RolloutsSummary>;
  /** A page of the summary's service rows, filtered, sorted and paged by the backend. */
  listSummaryServices(
    request?: SummaryServicesRequest,
  ): Promise<ServiceSummaryPage>;
  /** What needs a person now (the on-call view). */
  getAttention(): Promise<AttentionList>;
  /** The post-rollout report, Markdown. */
  getReport(id: string): Promise<string>;
  /** The current (or a finished rollout's last) step interval by interval, as the gate saw it. */
  getTimeseries(id: string): Promise<RolloutTimeseries>;
  /** The shadow policies' disagreements with the enforced ones (`GET /v1/shadow`). */
  getShadowSummary(request?: { days?: number }): Promise<ShadowSummary>;
  /** A rollout's shadow policies and their would-have entries (`GET /v1/rollouts/:id/shadow`). */
  getRolloutShadow(id: string): Promise<RolloutShadow>;
  /** Replays past rollouts under a candidate policy (`POST /v1/policies/whatif`). */
  runWhatIf(body: WhatIfRequestBody): Promise<WhatIfResult>;
  /** The service's stages and its releases' pipelines, newest first (`GET /v1/pipelines`). */
  listPipelines(entityRef: string): Promise<PipelineList>;
  /** Starts a pipeline's next stage early (`POST /v1/pipelines/:id/promote`); `started` false when it had started already. */
  promoteStage(
    pipelineId: string,
    body: { stage: string; reason: string },
  ): Promise<{ pipeline: RolloutPipeline; started: boolean }>;
}

/** @public */
export const rolloutsApiRef = createApiRef<RolloutsApi>({
  id: 'plugin.rollouts.service',
});
