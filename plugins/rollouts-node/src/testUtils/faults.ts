import type {
  ProviderRollout,
  RolloutsDeployProvider,
  RolloutsTelemetryProvider,
  TelemetryRequest,
  TelemetryResult,
} from '../providers';

/**
 * What can go wrong at a provider:
 * - `latency`: answers, late;
 * - `hang`: does not answer (for `ms`, a minute by default);
 * - `http-5xx`: the system answers with a server error;
 * - `reset`: the connection is reset;
 * - `wrong-data`: answers with data that cannot be right (more errors than
 *   requests, negative or non-finite counts; a step that does not exist).
 *
 * @public
 */
export type Fault =
  | { kind: 'latency'; ms: number }
  | { kind: 'hang'; ms?: number }
  | { kind: 'http-5xx'; status?: number }
  | { kind: 'reset' }
  | { kind: 'wrong-data' };

/** One call a wrapped provider received. @public */
export interface ProviderCall {
  provider: 'deploy' | 'telemetry';
  method: string;
  target?: string;
  /** 1-based count of calls to this method on this target. */
  n: number;
}

/** Decides the fault (if any) for each call. @public */
export type FaultPlan = (call: ProviderCall) => Fault | undefined;

/** @public */
export const faultPlans = {
  none: (): FaultPlan => () => undefined,
  /** The fault on every call matching `where`. */
  always:
    (
      fault: Fault,
      where: (call: ProviderCall) => boolean = () => true,
    ): FaultPlan =>
    call =>
      where(call) ? fault : undefined,
  /** Fails `failing` calls, then answers `healthy` calls, and so on. */
  flapping:
    (
      fault: Fault,
      failing: number,
      healthy: number,
      where: (call: ProviderCall) => boolean = () => true,
    ): FaultPlan =>
    call =>
      where(call) && (call.n - 1) % (failing + healthy) < failing
        ? fault
        : undefined,
  /** The first `count` matching calls fail, later ones succeed. */
  first:
    (
      fault: Fault,
      count: number,
      where: (call: ProviderCall) => boolean = () => true,
    ): FaultPlan =>
    call =>
      where(call) && call.n <= count ? fault : undefined,
};

/**
 * Wraps deploy and telemetry providers so that tests can make them slow,
 * silent, failing, flapping or wrong, call by call, and counts what it did.
 *
 * @public
 */
export class FaultInjector {
  plan: FaultPlan;
  readonly injected: Record<Fault['kind'], number> = {
    latency: 0,
    hang: 0,
    'http-5xx': 0,
    reset: 0,
    'wrong-data': 0,
  };
  readonly calls: ProviderCall[] = [];
  readonly #counts = new Map<string, number>();

  constructor(plan: FaultPlan = faultPlans.none()) {
    this.plan = plan;
  }

  async #enter(
    provider: ProviderCall['provider'],
    method: string,
    target?: string,
  ): Promise<Fault | undefined> {
    const key = `${provider}.${method}.${target ?? ''}`;
    const n = (this.#counts.get(key) ?? 0) + 1;
    this.#counts.set(key, n);
    const call = { provider, method, target, n };
    this.calls.push(call);
    const fault = this.plan(call);
    if (!fault) return undefined;
    this.injected[fault.kind]++;
    switch (fault.kind) {
      case 'latency':
        await new Promise(r => setTimeout(r, fault.ms));
        return undefined;
      case 'hang':
        await new Promise(r => setTimeout(r, fault.ms ?? 60_000));
        throw Object.assign(new Error(`${method}: socket hang up`), {
          code: 'ECONNRESET',
        });
      case 'http-5xx': {
        const status = fault.status ?? 503;
        throw Object.assign(
          new Error(`${method}: request failed with status ${status}`),
          { statusCode: status },
        );
      }
      case 'reset':
        throw Object.assign(new Error(`${method}: read ECONNRESET`), {
          code: 'ECONNRESET',
        });
      default:
        return fault;
    }
  }

  deploy(inner: RolloutsDeployProvider): RolloutsDeployProvider {
    // Wrong data from a deploy system: a step that does not exist, a weight that is no percentage.
    const corrupt = (r: ProviderRollout): ProviderRollout => ({
      ...r,
      currentStepIndex: r.steps.length + 7,
      currentWeight: -5,
    });
    const wrap =
      <A extends unknown[]>(
        method: string,
        fn: (...args: A) => Promise<ProviderRollout>,
      ) =>
      async (...args: A): Promise<ProviderRollout> => {
        const fault = await this.#enter('deploy', method, args[0] as string);
        const result = await fn(...args);
        return fault ? corrupt(result) : result;
      };
    return {
      id: inner.id,
      listRollouts: async () => {
        const fault = await this.#enter('deploy', 'listRollouts');
        const list = await inner.listRollouts();
        return fault ? list.map(corrupt) : list;
      },
      getRollout: async target => {
        const fault = await this.#enter('deploy', 'getRollout', target);
        const r = await inner.getRollout(target);
        return fault && r ? corrupt(r) : r;
      },
      setStep: wrap('setStep', (t: string, i: number) => inner.setStep(t, i)),
      promote: wrap('promote', (t: string) => inner.promote(t)),
      rollback: wrap('rollback', (t: string, reason: string) =>
        inner.rollback(t, reason),
      ),
      pause: inner.pause
        ? wrap('pause', (t: string) => inner.pause!(t))
        : undefined,
      resume: inner.resume
        ? wrap('resume', (t: string) => inner.resume!(t))
        : undefined,
      listHistory: inner.listHistory ? () => inner.listHistory!() : undefined,
    };
  }

  telemetry(inner: RolloutsTelemetryProvider): RolloutsTelemetryProvider {
    return {
      id: inner.id,
      getCohortTelemetry: async (
        request: TelemetryRequest,
      ): Promise<TelemetryResult> => {
        const fault = await this.#enter(
          'telemetry',
          'getCohortTelemetry',
          request.target,
        );
        const result = await inner.getCohortTelemetry(request);
        if (!fault) return result;
        // Corrupt data: more canary errors than requests, a negative and a NaN count.
        return {
          ...result,
          ticks: result.ticks.map((t, i) => ({
            ...t,
            canary: t.canary && {
              ...t.canary,
              errors: (t.canary.requests ?? 0) + 50,
              requests:
                i % 3 === 1 ? -(t.canary.requests ?? 1) : t.canary.requests,
            },
            baseline: t.baseline && {
              ...t.baseline,
              errors: i % 3 === 2 ? Number.NaN : t.baseline.errors,
            },
          })),
        };
      },
    };
  }
}
