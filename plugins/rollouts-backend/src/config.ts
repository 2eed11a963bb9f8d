import type { Config } from '@backstage/config';
import type { RetryOptions } from './providers/retry';

/**
 * Every `rollouts.*` key the backend reads, with its default, read in one
 * place (the schema with the keys' documentation is `config.d.ts`).
 */
export interface RolloutsBackendConfig {
  /** `rollouts.schedule`: how often the gate loop runs, how long a run may take, and in how many shards. */
  schedule: {
    frequencySeconds: number;
    timeoutSeconds: number;
    shards: number;
  };
  /** `rollouts.retries`: provider calls. */
  retry: RetryOptions;
  /** `rollouts.retries.budgetPerRun`: retries one gate-loop run may spend across all rollouts. */
  retryBudgetPerRun: number;
  /** `rollouts.telemetry.stepSeconds`: interval length asked from telemetry providers. */
  telemetryStepSeconds: number;
  /** `rollouts.telemetry.defaultProvider`. */
  defaultTelemetryProvider?: string;
  /** `rollouts.judge.maxEvaluationAgeSeconds`: an evaluation younger than this is reused. */
  judgeMaxEvaluationAgeSeconds: number;
  /** `rollouts.slo.windowDays`: the window the dashboard's error-budget shares are taken over. */
  sloWindowDays: number;
  /** `rollouts.notifications.enabled`. */
  notificationsEnabled: boolean;
  /** How long a graceful stop waits for the run in progress, milliseconds. */
  shutdownGraceMs: number;
  /** `rollouts.decisionLog.checkpoints`: sign the chain head every `every` entries (absent: no checkpoints). */
  checkpoints?: { privateKeyPem: string; every: number };
}

export function readRolloutsConfig(config: Config): RolloutsBackendConfig {
  const telemetryStepSeconds =
    config.getOptionalNumber('rollouts.telemetry.stepSeconds') ?? 60;
  const frequencySeconds =
    config.getOptionalNumber('rollouts.schedule.frequencySeconds') ?? 60;
  // A replica that dies mid-run holds the loop until this timeout: keep it
  // a few runs long, not minutes.
  const timeoutSeconds =
    config.getOptionalNumber('rollouts.schedule.timeoutSeconds') ??
    Math.max(30, 3 * frequencySeconds);
  return {
    schedule: {
      frequencySeconds,
      timeoutSeconds,
      shards: config.getOptionalNumber('rollouts.schedule.shards') ?? 1,
    },
    retry: {
      attempts: config.getOptionalNumber('rollouts.retries.attempts') ?? 3,
      initialBackoffMs:
        config.getOptionalNumber('rollouts.retries.initialBackoffMs') ?? 200,
      timeoutMs:
        (config.getOptionalNumber('rollouts.retries.timeoutSeconds') ?? 30) *
        1000,
    },
    retryBudgetPerRun:
      config.getOptionalNumber('rollouts.retries.budgetPerRun') ?? 100,
    telemetryStepSeconds,
    defaultTelemetryProvider: config.getOptionalString(
      'rollouts.telemetry.defaultProvider',
    ),
    judgeMaxEvaluationAgeSeconds:
      config.getOptionalNumber('rollouts.judge.maxEvaluationAgeSeconds') ??
      telemetryStepSeconds,
    sloWindowDays: readSloWindowDays(config),
    notificationsEnabled:
      config.getOptionalBoolean('rollouts.notifications.enabled') ?? true,
    // A graceful stop (SIGTERM on a rolling restart) lets the run in progress
    // finish its action and write its evaluations, and starts no new one.
    shutdownGraceMs: Math.min(timeoutSeconds, 30) * 1000,
    checkpoints: readCheckpoints(config),
  };
}

function readSloWindowDays(config: Config): number {
  const days = config.getOptionalNumber('rollouts.slo.windowDays') ?? 30;
  if (!Number.isInteger(days) || days < 1 || days > 366) {
    throw new Error(
      `rollouts.slo.windowDays: expected a whole number of days from 1 to 366, got ${days}`,
    );
  }
  return days;
}

function readCheckpoints(config: Config): RolloutsBackendConfig['checkpoints'] {
  const privateKeyPem = config.getOptionalString(
    'rollouts.decisionLog.checkpoints.privateKey',
  );
  if (!privateKeyPem) return undefined;
  return {
    privateKeyPem,
    every:
      config.getOptionalNumber('rollouts.decisionLog.checkpoints.every') ??
      1000,
  };
}
