/** Calls fn, retrying with exponential backoff; rethrows the last error. */
export async function withRetry<T>(
  fn: () => Promise<T>,
  options: { attempts: number; initialBackoffMs: number; sleep?: (ms: number) => Promise<void> },
): Promise<T> {
  const sleep = options.sleep ?? (ms => new Promise(r => setTimeout(r, ms)));
  let lastError: unknown;
  for (let attempt = 0; attempt < Math.max(1, options.attempts); attempt++) {
    try {
      return await fn();
    } catch (e) {
      lastError = e;
      if (attempt < options.attempts - 1) {
        await sleep(options.initialBackoffMs * 2 ** attempt);
      }
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
export function promotesFully(rollout: { currentStepIndex: number; steps: Array<{ weight: number }> }): boolean {
  const next = rollout.steps[rollout.currentStepIndex + 1];
  return !next || next.weight >= 100;
}
