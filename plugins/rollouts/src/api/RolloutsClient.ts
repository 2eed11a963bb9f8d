import type { DiscoveryApi, FetchApi } from '@backstage/core-plugin-api';
import { ResponseError } from '@backstage/errors';
import type {
  AttentionList,
  DecisionEvidence,
  DecisionListEntry,
  DecisionPage,
  RolloutAction,
  RolloutDetail,
  RolloutsSummary,
  RolloutShadow,
  ServiceSummaryPage,
  RolloutTimeseries,
  ShadowSummary,
  WhatIfResult,
  PipelineList,
  RolloutPipeline,
} from '@tollgate/plugin-rollouts-common';
import type {
  WhatIfRequestBody,
  ListRolloutsRequest,
  RolloutList,
  RolloutActionResult,
  RolloutsApi,
  SummaryRequest,
  SummaryServicesRequest,
} from './RolloutsApi';

function query(
  params: Record<string, string | number | boolean | undefined>,
): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** Talks to `@tollgate/plugin-rollouts-backend`. @public */
export class RolloutsClient implements RolloutsApi {
  private readonly discoveryApi: DiscoveryApi;
  private readonly fetchApi: FetchApi;

  constructor(options: { discoveryApi: DiscoveryApi; fetchApi: FetchApi }) {
    this.discoveryApi = options.discoveryApi;
    this.fetchApi = options.fetchApi;
  }

  private async request<T>(path: string, init?: RequestInit): Promise<T> {
    const base = await this.discoveryApi.getBaseUrl('rollouts');
    const res = await this.fetchApi.fetch(`${base}${path}`, init);
    if (!res.ok) {
      throw await ResponseError.fromResponse(res);
    }
    return (await res.json()) as T;
  }

  listRollouts(request: ListRolloutsRequest = {}): Promise<RolloutList> {
    const { entityRef, status, limit, offset, owner, system, q } = request;
    return this.request(
      `/v1/rollouts${query({ entityRef, status, limit, offset, owner, system, q })}`,
    );
  }

  getRollout(id: string): Promise<RolloutDetail> {
    return this.request(`/v1/rollouts/${encodeURIComponent(id)}`);
  }

  listDecisions(
    id: string,
    options: { limit?: number; before?: number } = {},
  ): Promise<DecisionPage<DecisionListEntry>> {
    return this.request(
      `/v1/rollouts/${encodeURIComponent(id)}/decisions${query({ limit: options.limit, before: options.before })}`,
    );
  }

  getTimeseries(id: string): Promise<RolloutTimeseries> {
    return this.request(`/v1/rollouts/${encodeURIComponent(id)}/timeseries`);
  }

  getDecisionEvidence(id: string, seq: number): Promise<DecisionEvidence> {
    return this.request(
      `/v1/rollouts/${encodeURIComponent(id)}/decisions/${encodeURIComponent(String(seq))}/evidence`,
    );
  }

  performAction(
    id: string,
    action: RolloutAction,
    body: { reason: string; idempotencyKey: string },
  ): Promise<RolloutActionResult> {
    return this.request(
      `/v1/rollouts/${encodeURIComponent(id)}/actions/${encodeURIComponent(action)}`,
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          reason: body.reason,
          idempotencyKey: body.idempotencyKey,
        }),
      },
    );
  }

  getAttention(): Promise<AttentionList> {
    return this.request('/v1/attention');
  }

  async getReport(id: string): Promise<string> {
    const base = await this.discoveryApi.getBaseUrl('rollouts');
    const res = await this.fetchApi.fetch(
      `${base}/v1/rollouts/${encodeURIComponent(id)}/report`,
    );
    if (!res.ok) throw await ResponseError.fromResponse(res);
    return res.text();
  }

  getShadowSummary(request: { days?: number } = {}): Promise<ShadowSummary> {
    return this.request(`/v1/shadow${query({ days: request.days })}`);
  }

  getRolloutShadow(id: string): Promise<RolloutShadow> {
    return this.request(`/v1/rollouts/${encodeURIComponent(id)}/shadow`);
  }

  runWhatIf(body: WhatIfRequestBody): Promise<WhatIfResult> {
    return this.request('/v1/policies/whatif', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
  }

  listPipelines(entityRef: string): Promise<PipelineList> {
    return this.request(`/v1/pipelines${query({ entityRef })}`);
  }

  promoteStage(
    pipelineId: string,
    body: { stage: string; reason: string },
  ): Promise<{ pipeline: RolloutPipeline; started: boolean }> {
    return this.request(
      `/v1/pipelines/${encodeURIComponent(pipelineId)}/promote`,
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      },
    );
  }

  getSummary(request: SummaryRequest = {}): Promise<RolloutsSummary> {
    return this.request(
      `/v1/summary${query({ owner: request.owner, system: request.system, days: request.days })}`,
    );
  }

  listSummaryServices(
    request: SummaryServicesRequest = {},
  ): Promise<ServiceSummaryPage> {
    const { owner, system, days, q, sort, order, offset, limit } = request;
    return this.request(
      `/v1/summary/services${query({
        owner,
        system,
        days,
        q,
        sort,
        order,
        offset,
        limit,
        // a flag is sent only when set: `active=false` would mean the same as leaving it out
        active: request.active ? 'true' : undefined,
        budgeted: request.budgeted ? 'true' : undefined,
      })}`,
    );
  }
}
