import type {
  AuditorService,
  AuthService,
  BackstageCredentials,
} from '@backstage/backend-plugin-api';
import type express from 'express';

/** The auditor's metadata type (JSON), without depending on @backstage/types. */
type JsonObject = NonNullable<
  Parameters<AuditorService['createEvent']>[0]['meta']
>;

export interface MachineCallAudit<T> {
  /** kebab-case, e.g. `judge`, `evidence-read`, `decision-log-export`. */
  eventId: string;
  request: express.Request;
  /** What was asked (target, rollout id…). */
  meta?: JsonObject;
  /** What to record about a successful answer. */
  outcome?: (result: T) => JsonObject | undefined;
}

/**
 * Runs one call of a machine caller (a controller, a service token) under a
 * low-severity auditor event: success with its outcome, or failure with the
 * error, which is then rethrown.
 */
export async function auditMachineCall<T>(
  auditor: AuditorService,
  audit: MachineCallAudit<T>,
  work: () => Promise<T>,
): Promise<T> {
  const event = await auditor.createEvent({
    eventId: audit.eventId,
    request: audit.request,
    severityLevel: 'low',
    meta: audit.meta,
  });
  try {
    const result = await work();
    await event.success({ meta: audit.outcome?.(result) });
    return result;
  } catch (error) {
    await event.fail({ error: error as Error });
    throw error;
  }
}

/**
 * Like {@link auditMachineCall} for reads, but only when the caller is a
 * service (a token, not a person in the UI): what machines read of the
 * evidence and the decision log is in the audit log. For other callers the
 * work just runs. Decision-log exports can call this with
 * `eventId: 'decision-log-export'`.
 */
export async function auditServiceRead<T>(
  deps: { auditor: AuditorService; auth: AuthService },
  credentials: BackstageCredentials,
  audit: MachineCallAudit<T>,
  work: () => Promise<T>,
): Promise<T> {
  if (!deps.auth.isPrincipal(credentials, 'service')) return work();
  return auditMachineCall(
    deps.auditor,
    {
      ...audit,
      meta: { ...audit.meta, subject: credentials.principal.subject },
    },
    work,
  );
}
