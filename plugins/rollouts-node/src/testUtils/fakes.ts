import type {
  RolloutStep,
  TelemetryTick,
} from '@tollgate/plugin-rollouts-common';
import type {
  ProviderRollout,
  RolloutsDeployProvider,
  RolloutsTelemetryProvider,
  TelemetryRequest,
  TelemetryResult,
} from '../providers';

/**
 * An in-memory deploy provider for tests: it keeps rollouts in a map,
 * records every call, and can be told to fail.
 *
 * @public
 */
export class FakeDeployProvider implements RolloutsDeployProvider {
  readonly id: string;
  readonly calls: Array<{ method: string; target: string; arg?: unknown }> = [];
  /** When set, every mutating call throws this error. */
  failWith?: Error;
  readonly #rollouts = new Map<string, ProviderRollout>();

  constructor(id = 'fake') {
    this.id = id;
  }

  add(rollout: Partial<ProviderRollout> & { target: string }): ProviderRollout {
    const now = new Date();
    const steps: RolloutStep[] = rollout.steps ?? [
      { weight: 1 },
      { weight: 5 },
      { weight: 25 },
      { weight: 100 },
    ];
    const full: ProviderRollout = {
      externalId: `${rollout.target}@${rollout.version ?? 'v2'}`,
      version: 'v2',
      previousVersion: 'v1',
      status: 'progressing',
      steps,
      currentStepIndex: 0,
      currentWeight: steps[0].weight,
      startedAt: now,
      stepStartedAt: now,
      ...rollout,
    };
    this.#rollouts.set(full.target, full);
    return full;
  }

  async listRollouts() {
    return [...this.#rollouts.values()].map(r => ({ ...r }));
  }

  async getRollout(target: string) {
    const r = this.#rollouts.get(target);
    return r ? { ...r } : undefined;
  }

  #mutate(
    method: string,
    target: string,
    arg: unknown,
    fn: (r: ProviderRollout) => void,
  ) {
    this.calls.push({ method, target, arg });
    if (this.failWith) throw this.failWith;
    const r = this.#rollouts.get(target);
    if (!r) throw new Error(`fake provider: no rollout for target ${target}`);
    fn(r);
    return { ...r };
  }

  async setStep(target: string, stepIndex: number) {
    return this.#mutate('setStep', target, stepIndex, r => {
      r.currentStepIndex = stepIndex;
      r.currentWeight = r.steps[stepIndex].weight;
      r.stepStartedAt = new Date();
    });
  }

  async promote(target: string) {
    return this.#mutate('promote', target, undefined, r => {
      r.status = 'promoted';
      r.currentWeight = 100;
      r.finishedAt = new Date();
    });
  }

  async rollback(target: string, reason: string) {
    return this.#mutate('rollback', target, reason, r => {
      r.status = 'rolled-back';
      r.currentWeight = 0;
      r.finishedAt = new Date();
    });
  }

  async pause(target: string) {
    return this.#mutate('pause', target, undefined, r => {
      r.status = 'paused';
    });
  }

  async resume(target: string) {
    return this.#mutate('resume', target, undefined, r => {
      r.status = 'progressing';
    });
  }
}

/**
 * A telemetry provider for tests that answers from a function of the
 * request, or fails when told to.
 *
 * @public
 */
export class FakeTelemetryProvider implements RolloutsTelemetryProvider {
  readonly id: string;
  readonly requests: TelemetryRequest[] = [];
  failWith?: Error;

  constructor(
    id: string,
    private readonly answer: (req: TelemetryRequest) => TelemetryTick[],
  ) {
    this.id = id;
  }

  async getCohortTelemetry(
    request: TelemetryRequest,
  ): Promise<TelemetryResult> {
    this.requests.push(request);
    if (this.failWith) throw this.failWith;
    return { ticks: this.answer(request), lagSeconds: 0 };
  }
}
