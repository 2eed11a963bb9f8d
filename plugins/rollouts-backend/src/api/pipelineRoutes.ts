import type {
  AuditorService,
  HttpAuthService,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import { InputError, NotAllowedError, NotFoundError } from '@backstage/errors';
import {
  rolloutReadPermission,
  rolloutStagePromotePermission,
  type PipelineList,
  type RolloutPipeline,
} from '@tollgate/plugin-rollouts-common';
import type express from 'express';
import { z } from 'zod/v3';
import { actorOf, requirePermission } from '../actions/rolloutAction';
import type { EntityLookup } from '../catalog/EntityIndex';
import type { PipelineDriver } from '../pipelines/PipelineDriver';
import type { PipelineStore, StoredPipeline } from '../pipelines/PipelineStore';
import { parse } from './errors';

export interface PipelineRoutesOptions {
  pipelines: PipelineStore;
  driver: PipelineDriver;
  entities: EntityLookup;
  httpAuth: HttpAuthService;
  permissions: PermissionsService;
  auditor: AuditorService;
}

const promoteRequestSchema = z
  .object({
    /** The stage to start; the next one when left out. */
    stage: z.string().min(1).optional(),
    reason: z.string().trim().min(1, 'a reason is required').max(2000),
  })
  .strict();

/** A pipeline as the API returns it (without the claim bookkeeping). */
export function publicPipeline(p: StoredPipeline): RolloutPipeline {
  const { rowVersion: _v, pendingAction: _a, ...rest } = p;
  return rest;
}

/**
 * Multi-stage promotion: `GET /v1/pipelines?entityRef=` (the entity's
 * stages and its releases' pipelines, newest first; `rollouts.rollout.read`)
 * and `POST /v1/pipelines/:id/promote` (start the next stage early;
 * `rollouts.stage.promote` on the entity, logged with actor and reason;
 * a stage that started already is not started again).
 */
export function pipelineRoutes(
  router: express.Router,
  o: PipelineRoutesOptions,
) {
  const { httpAuth, permissions, auditor } = o;

  router.get('/v1/pipelines', async (req, res) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    const entityRef = req.query.entityRef;
    if (typeof entityRef !== 'string' || !entityRef) {
      throw new InputError('entityRef: one catalog entity ref is required');
    }
    await requirePermission(
      permissions,
      credentials,
      rolloutReadPermission,
      entityRef,
    );
    const body: PipelineList = { items: [] };
    const entity = await o.entities.byRef(entityRef);
    try {
      const decl = await o.driver.declaration(entityRef, entity?.annotations);
      if (decl) {
        body.stages = decl.stages;
        body.soakSeconds = decl.soakSeconds;
      }
    } catch (e) {
      body.declarationError = (e as Error).message;
    }
    body.items = (await o.pipelines.list({ entityRef, limit: 10 })).map(
      publicPipeline,
    );
    res.json(body);
  });

  router.post('/v1/pipelines/:id/promote', async (req, res) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    const body = parse(promoteRequestSchema, req.body, 'body');
    const pipeline = await o.pipelines.get(req.params.id);
    if (!pipeline)
      throw new NotFoundError(`id: no pipeline with id ${req.params.id}`);
    const event = await auditor.createEvent({
      eventId: 'pipeline-promote',
      severityLevel: 'high',
      request: req,
      meta: {
        pipelineId: pipeline.id,
        entityRef: pipeline.entityRef,
        version: pipeline.version,
        stage: body.stage,
        reason: body.reason,
      },
    });
    try {
      const principal = (credentials.principal as { type: string }).type;
      if (principal !== 'user' && principal !== 'service')
        throw new NotAllowedError(
          'credentials: a user or a service must promote a stage',
        );
      await requirePermission(
        permissions,
        credentials,
        rolloutStagePromotePermission,
        pipeline.entityRef,
      );
      const result = await o.driver.promoteEarly({
        pipelineId: pipeline.id,
        stage: body.stage,
        actor: actorOf(credentials),
        reason: body.reason,
      });
      await event.success({ meta: { started: result.started } });
      res.json({
        pipeline: publicPipeline(result.pipeline),
        started: result.started,
      });
    } catch (error) {
      await event.fail({ error: error as Error });
      throw error;
    }
  });
}
