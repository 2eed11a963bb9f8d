/**
 * Real Tollgate backends for the reliability suite: the demo backend
 * process with a fast gate loop, the simulator keeping its deploy state in
 * a shared file, and SQLite or PostgreSQL underneath.
 */
import knexFactory, { type Knex } from 'knex';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SimulatorCall } from '@tollgate/plugin-rollouts-backend-module-simulator';
import { startPortal, type Portal } from '@tollgate/test-support';

export const SERVICE_TOKEN = `reliability-${randomBytes(12).toString('hex')}`;

export interface Database {
  kind: 'sqlite' | 'postgres';
  /** APP_CONFIG_ overrides pointing the backend at it. */
  env: Record<string, string>;
  /** A direct connection to the rollouts plugin's database, for checks. */
  connect: () => Knex;
}

export function sqliteDatabase(dataDir: string): Database {
  return {
    kind: 'sqlite',
    env: {},
    connect: () =>
      knexFactory({
        client: 'better-sqlite3',
        connection: { filename: join(dataDir, 'rollouts.sqlite') },
        useNullAsDefault: true,
      }),
  };
}

export function postgresDatabase(
  connection: { host: string; port: number; user: string; password?: string },
  prefix: string,
): Database {
  return {
    kind: 'postgres',
    env: {
      APP_CONFIG_backend_database_client: 'pg',
      APP_CONFIG_backend_database_connection: JSON.stringify(connection),
      APP_CONFIG_backend_database_prefix: prefix,
    },
    connect: () =>
      knexFactory({
        client: 'pg',
        connection: { ...connection, database: `${prefix}rollouts` },
      }),
  };
}

/** Backend config for a gate loop that acts within seconds. */
export function fastLoopEnv(stateFile: string): Record<string, string> {
  return {
    APP_CONFIG_rollouts_schedule_frequencySeconds: '1',
    APP_CONFIG_rollouts_schedule_timeoutSeconds: '15',
    APP_CONFIG_rollouts_telemetry_stepSeconds: '1',
    APP_CONFIG_rollouts_retries_initialBackoffMs: '50',
    APP_CONFIG_rollouts_providers_simulator_trafficScale: '20',
    APP_CONFIG_rollouts_providers_simulator_idleSeconds: '2',
    APP_CONFIG_rollouts_providers_simulator_historyDays: '0',
    APP_CONFIG_rollouts_providers_simulator_stateFile: stateFile,
    APP_CONFIG_rollouts_providers_simulator_steps: JSON.stringify([
      { weight: 5, minDurationSeconds: 2 },
      { weight: 25, minDurationSeconds: 2 },
      { weight: 50, minDurationSeconds: 2 },
      { weight: 100 },
    ]),
    APP_CONFIG_rollouts_policies_standard_gate_promote_minDurationSeconds: '2',
    APP_CONFIG_rollouts_notifications_enabled: 'false',
    APP_CONFIG_backend_auth_externalAccess: JSON.stringify([
      {
        type: 'static',
        options: { token: SERVICE_TOKEN, subject: 'reliability-suite' },
      },
    ]),
  };
}

export async function startBackend(
  env: Record<string, string>,
  dataDir: string,
): Promise<Portal> {
  return startPortal(env, { dataDir, waitForCatalog: false });
}

export async function api<T = any>(
  baseUrl: string,
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${baseUrl}/api/rollouts${path}`, {
    ...init,
    headers: {
      Authorization: `Bearer ${SERVICE_TOKEN}`,
      'content-type': 'application/json',
      ...(init.headers ?? {}),
    },
  });
  const text = await res.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body };
}

export function journal(stateFile: string): SimulatorCall[] {
  try {
    return JSON.parse(readFileSync(stateFile, 'utf8')).journal;
  } catch {
    return [];
  }
}

export const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

/** Keys of gate decisions applied more than once: one promote per step, one rollback per rollout. */
export function decisionsAppliedTwice(
  rows: Array<{
    rollout_id: string;
    step_index: number;
    verdict: string;
    outcome: string;
  }>,
): string[] {
  const applied = new Map<string, number>();
  for (const d of rows) {
    if (
      d.outcome !== 'applied' ||
      (d.verdict !== 'promote' && d.verdict !== 'rollback')
    )
      continue;
    const key =
      d.verdict === 'rollback'
        ? `${d.rollout_id} rollback`
        : `${d.rollout_id} promote@${d.step_index}`;
    applied.set(key, (applied.get(key) ?? 0) + 1);
  }
  return [...applied].filter(([, n]) => n > 1).map(([k, n]) => `${k} ×${n}`);
}

/** Deploy-system actions that took effect more than once for the same rollout and step. */
export function deployActionsTwice(calls: SimulatorCall[]): string[] {
  const byAction = new Map<string, number>();
  for (const c of calls) {
    if (!c.changed) continue;
    const key = `${c.target}@${c.version} ${c.op}${c.stepIndex ?? ''}`;
    byAction.set(key, (byAction.get(key) ?? 0) + 1);
  }
  return [...byAction].filter(([, n]) => n > 1).map(([k, n]) => `${k} ×${n}`);
}
