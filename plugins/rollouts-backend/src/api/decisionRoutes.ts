import type {
  AuditorService,
  AuthService,
  BackstageCredentials,
  HttpAuthService,
  LoggerService,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import { InputError, NotFoundError } from '@backstage/errors';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import {
  exportDecisionsQuerySchema,
  rolloutReadPermission,
  type DecisionEvidence,
} from '@tollgate/plugin-rollouts-common';
import type express from 'express';
import { once } from 'node:events';
import { requirePermission } from '../actions/rolloutAction';
import {
  exportLines,
  exportLineText,
  type ExportLine,
} from '../database/decisionExport';
import type { RolloutsStore } from '../database/RolloutsStore';
import { auditServiceRead } from './audit';
import { parse, quote, rolloutIdParam } from './errors';

export interface DecisionRoutesOptions {
  store: RolloutsStore;
  auth: AuthService;
  httpAuth: HttpAuthService;
  permissions: PermissionsService;
  auditor: AuditorService;
  logger?: LoggerService;
}

/** Entries an export holds unless `limit` says otherwise. */
const DEFAULT_EXPORT_LIMIT = 100_000;

/**
 * The decision log's routes besides the rollout's list: one entry's
 * evidence, the export anyone can verify (`verify-log`), and the public key
 * of the signed checkpoints.
 */
export function decisionRoutes(
  router: express.Router,
  o: DecisionRoutesOptions,
) {
  const { store, auth, httpAuth, permissions, auditor } = o;

  // One decision's evidence snapshot: lists leave it out, the timeline asks when a row is opened.
  router.get('/v1/rollouts/:id/decisions/:seq/evidence', async (req, res) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    const id = rolloutIdParam(req);
    const seq = Number(req.params.seq);
    if (
      !/^[1-9][0-9]{0,15}$/.test(req.params.seq) ||
      !Number.isSafeInteger(seq)
    ) {
      throw new InputError(
        `seq: must be a positive integer, got ${quote(req.params.seq)}`,
      );
    }
    // A service token reading evidence is audited (a person's page is not).
    const body = await auditServiceRead(
      { auditor, auth },
      credentials,
      { eventId: 'evidence-read', request: req, meta: { rolloutId: id, seq } },
      async (): Promise<DecisionEvidence> => {
        const rollout = await store.getRollout(id);
        if (!rollout) throw new NotFoundError(`id: no rollout with id ${id}`);
        await requirePermission(
          permissions,
          credentials,
          rolloutReadPermission,
          rollout.entityRef,
        );
        const found = await store.getDecisionEvidence(rollout.id, seq);
        if (!found) {
          throw new NotFoundError(`seq: rollout ${id} has no decision ${seq}`);
        }
        return { seq, evidence: found.evidence };
      },
    );
    res.json(body);
  });

  // The public key the checkpoints verify with. Not a secret; any signed-in caller may fetch it.
  router.get('/v1/decisions/checkpoint-key', async (req, res) => {
    await httpAuth.credentials(req, { allow: ['user', 'service'] });
    const pem = store.checkpointPublicKeyPem();
    if (!pem) {
      throw new NotFoundError(
        'no checkpoint key: rollouts.decisionLog.checkpoints.privateKey is not configured, so no checkpoints are signed',
      );
    }
    res.type('application/x-pem-file').send(pem);
  });

  // The log as NDJSON, every column as stored (see database/decisionExport.ts).
  // Each entry needs the same permission as reading it in a rollout's
  // decisions (rollouts.rollout.read on its entity); entries the caller may
  // not read are exported redacted (seq and hashes only), so the chain still links.
  router.get('/v1/decisions/export', async (req, res) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    const query = parse(exportDecisionsQuerySchema, req.query, 'query');
    const after = query.after ?? 0;
    const limit = query.limit ?? DEFAULT_EXPORT_LIMIT;
    const event = await auditor.createEvent({
      eventId: 'decision-log-export',
      request: req,
      severityLevel: 'low',
      meta: { after, limit },
    });
    let entries = 0;
    let redacted = 0;
    let lastSeq = after;
    try {
      const lines = exportLines(store, {
        after,
        limit,
        readable: await readableRefs(credentials),
      });
      // the first line (the head) is read before anything is sent, so a failing database is an ordinary error answer
      const first = await lines.next();
      res.status(200).type('application/x-ndjson');
      res.setHeader('Cache-Control', 'no-store');
      const write = async (line: ExportLine) => {
        if (!res.write(exportLineText(line))) {
          await Promise.race([once(res, 'drain'), once(res, 'close')]);
        }
      };
      if (!first.done) await write(first.value);
      for await (const line of lines) {
        if (res.destroyed) throw new Error('the caller went away');
        if (line.type === 'entry') {
          entries++;
          lastSeq = Number(line.columns.seq);
          if (line.redacted) redacted++;
        }
        await write(line);
      }
      res.end();
      await event.success({ meta: { entries, redacted, lastSeq } });
    } catch (error) {
      await event.fail({ error: error as Error, meta: { entries, redacted } });
      if (!res.headersSent) throw error;
      // Cut short: the export has no end line, which verify-log reports.
      o.logger?.error(`decision log export failed after ${entries} entries`, {
        error: String(error),
      });
      res.destroy();
    }
  });

  /** Whether the caller may read decisions of an entity (rollouts.rollout.read), asked once per entity. */
  async function readableRefs(credentials: BackstageCredentials) {
    const known = new Map<string, Promise<boolean>>();
    return (ref: string): Promise<boolean> => {
      let allowed = known.get(ref);
      if (!allowed) {
        allowed = permissions
          .authorize(
            [{ permission: rolloutReadPermission, resourceRef: ref }],
            {
              credentials,
            },
          )
          .then(([d]) => d.result === AuthorizeResult.ALLOW);
        known.set(ref, allowed);
      }
      return allowed;
    };
  }
}
