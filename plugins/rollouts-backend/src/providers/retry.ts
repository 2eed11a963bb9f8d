/** How provider calls are retried. */
export interface RetryOptions {
  /** Attempts per call (at least one). */
  attempts: number;
  /** First backoff, doubled after each failed attempt. */
  initialBackoffMs: number;
  /** An attempt that has not answered after this long counts as failed (no limit when unset). */
  timeoutMs?: number;
  /**
   * Retries left for a whole loop run, shared by every call that gets the
   * same object: one broken provider cannot stretch a run for everyone.
   */
  budget?: { remaining: number };
  sleep?: (ms: number) => Promise<void>;
}

/** A provider call that did not answer in time. */
export class ProviderTimeoutError extends Error {
  name = 'ProviderTimeoutError';
}

function withTimeout<T>(
  promise: Promise<T>,
  ms: number | undefined,
): Promise<T> {
  if (!ms) return promise;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new ProviderTimeoutError(`no answer within ${ms / 1000} s`)),
      ms,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Calls fn, retrying with exponential backoff within the budget; rethrows the last error. */
export async function withRetry<T>(
  fn: () => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const sleep = options.sleep ?? (ms => new Promise(r => setTimeout(r, ms)));
  let lastError: unknown;
  const attempts = Math.max(1, options.attempts);
  for (let attempt = 0; attempt < attempts; attempt++) {
    try {
      return await withTimeout(Promise.resolve().then(fn), options.timeoutMs);
    } catch (e) {
      lastError = e;
      if (attempt === attempts - 1) break;
      if (options.budget) {
        if (options.budget.remaining <= 0) break;
        options.budget.remaining--;
      }
      await sleep(options.initialBackoffMs * 2 ** attempt);
    }
  }
  throw lastError;
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * True when leaving the current step means full promotion: it is the last
 * step, or the next one sends all traffic (100%) to the new version.
 */
export function promotesFully(rollout: {
  currentStepIndex: number;
  steps: Array<{ weight: number }>;
}): boolean {
  const next = rollout.steps[rollout.currentStepIndex + 1];
  return !next || next.weight >= 100;
}
