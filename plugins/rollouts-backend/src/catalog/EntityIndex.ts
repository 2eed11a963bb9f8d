import type { AuthService } from '@backstage/backend-plugin-api';
import {
  parseEntityRef,
  stringifyEntityRef,
  type Entity,
} from '@backstage/catalog-model';
import type { CatalogService } from '@backstage/plugin-catalog-node';
import { CATALOG_FILTER_EXISTS } from '@backstage/catalog-client';
import {
  parseRolloutsAnnotation,
  ROLLOUTS_ANNOTATION,
} from '@tollgate/plugin-rollouts-common';

/** `team-x` → `group:default/team-x`, so filters compare full refs only. */
function fullRef(
  value: unknown,
  defaultKind: string,
  defaultNamespace = 'default',
): string | undefined {
  if (typeof value !== 'string' || !value) return undefined;
  try {
    return stringifyEntityRef(
      parseEntityRef(value, { defaultKind, defaultNamespace }),
    );
  } catch {
    return undefined;
  }
}

export interface IndexedEntity {
  entityRef: string;
  annotations: Record<string, string>;
  /** Full entity ref of the owner, e.g. `group:default/team-checkout`. */
  owner?: string;
  /** Full entity ref of the system, e.g. `system:default/checkout`. */
  system?: string;
}

/** What the rollouts backend asks of the catalog (an {@link EntityIndex}, or a fake in tests). */
export interface EntityLookup {
  /** The entity whose `tollgate.dev/rollouts` annotation names this provider's target. */
  byTarget(
    provider: string,
    target: string,
  ): Promise<IndexedEntity | undefined>;
  byRef(entityRef: string): Promise<IndexedEntity | undefined>;
  /** Every entity with the annotation. */
  all(): Promise<IndexedEntity[]>;
  /**
   * The consumers of a service, from the catalog's relations: entities that
   * `dependsOn` it, and components that consume an API it provides. Optional
   * (fakes in tests may leave it out: no consumers known).
   */
  consumersOf?(entityRef: string): Promise<ConsumerRelation[]>;
}

/** One consumer of a service, as the catalog relates them. */
export interface ConsumerRelation {
  entityRef: string;
  relation: 'dependsOn' | 'consumesApi';
  /** the API it consumes (relation `consumesApi`, or a dependent that also consumes one) */
  via?: string;
  /** its index entry when it has Tollgate's annotation (a telemetry target); otherwise it cannot be measured */
  entity?: IndexedEntity;
}

type Relation = { type?: string; targetRef?: string };

function relationsOf(entity: Entity, type: string): string[] {
  return ((entity.relations ?? []) as Relation[])
    .filter(r => r.type === type && typeof r.targetRef === 'string')
    .map(r => r.targetRef as string);
}

/** `dependencyOf` targets, then the consumers of each API it `providesApi`, each consumer once. */
function consumersFrom(
  entity: Entity,
  apiConsumers: Map<string, string[]>,
): Omit<ConsumerRelation, 'entity'>[] {
  const self = stringifyEntityRef(entity);
  const out: Omit<ConsumerRelation, 'entity'>[] = [];
  const seen = new Set<string>([self]);
  for (const ref of relationsOf(entity, 'dependencyOf')) {
    if (seen.has(ref)) continue;
    seen.add(ref);
    out.push({ entityRef: ref, relation: 'dependsOn' });
  }
  for (const api of relationsOf(entity, 'providesApi')) {
    for (const ref of apiConsumers.get(api) ?? []) {
      // a dependent that also consumes the API: the API is named on its entry
      const dependent = out.find(c => c.entityRef === ref && !c.via);
      if (dependent) dependent.via = api;
      if (seen.has(ref)) continue;
      seen.add(ref);
      out.push({ entityRef: ref, relation: 'consumesApi', via: api });
    }
  }
  return out;
}

/**
 * Maps `provider:target` (from `tollgate.dev/rollouts`) to catalog entities,
 * refreshed from the catalog at most once per `ttlMs`.
 */
export class EntityIndex implements EntityLookup {
  #byTarget = new Map<string, IndexedEntity>();
  #byRef = new Map<string, IndexedEntity>();
  #consumers = new Map<string, Omit<ConsumerRelation, 'entity'>[]>();
  #loadedAt = 0;
  #loading?: Promise<void>;

  constructor(
    private readonly catalog: CatalogService,
    private readonly auth: AuthService,
    private readonly ttlMs = 30_000,
    /** The deploy provider's one spelling of a target (`ProviderRegistry.normalizeTarget`). */
    private readonly normalizeTarget: (
      provider: string,
      target: string,
    ) => string = (_p, t) => t,
  ) {}

  async #load() {
    const credentials = await this.auth.getOwnServiceCredentials();
    // APIs and who consumes them: a service's consumers include its APIs' consumers
    const apis = this.catalog.getEntities(
      {
        filter: { kind: 'API' },
        fields: ['kind', 'metadata.name', 'metadata.namespace', 'relations'],
      },
      { credentials },
    );
    const { items } = await this.catalog.getEntities(
      {
        filter: {
          [`metadata.annotations.${ROLLOUTS_ANNOTATION}`]:
            CATALOG_FILTER_EXISTS,
        },
        fields: [
          'kind',
          'metadata.name',
          'metadata.namespace',
          'metadata.annotations',
          'spec.owner',
          'spec.system',
          'relations',
        ],
      },
      { credentials },
    );
    const apiConsumers = new Map<string, string[]>();
    for (const api of (await apis).items as Entity[])
      apiConsumers.set(
        stringifyEntityRef(api),
        relationsOf(api, 'apiConsumedBy'),
      );
    const byTarget = new Map<string, IndexedEntity>();
    const byRef = new Map<string, IndexedEntity>();
    const consumers = new Map<string, Omit<ConsumerRelation, 'entity'>[]>();
    for (const entity of items as Entity[]) {
      const annotations = entity.metadata.annotations ?? {};
      let targets;
      try {
        targets = parseRolloutsAnnotation(annotations[ROLLOUTS_ANNOTATION]);
      } catch {
        continue; // a malformed annotation maps nothing; the entity page says why
      }
      const indexed: IndexedEntity = {
        entityRef: stringifyEntityRef(entity),
        annotations,
        owner: fullRef(entity.spec?.owner, 'group', entity.metadata.namespace),
        system: fullRef(
          entity.spec?.system,
          'system',
          entity.metadata.namespace,
        ),
      };
      byRef.set(indexed.entityRef, indexed);
      consumers.set(indexed.entityRef, consumersFrom(entity, apiConsumers));
      for (const t of targets)
        byTarget.set(
          `${t.provider}:${this.normalizeTarget(t.provider, t.target)}`,
          indexed,
        );
    }
    this.#byTarget = byTarget;
    this.#byRef = byRef;
    this.#consumers = consumers;
    this.#loadedAt = Date.now();
  }

  async refresh(force = false): Promise<void> {
    if (!force && Date.now() - this.#loadedAt < this.ttlMs) return;
    this.#loading ??= this.#load().finally(() => {
      this.#loading = undefined;
    });
    await this.#loading;
  }

  async byTarget(
    provider: string,
    target: string,
  ): Promise<IndexedEntity | undefined> {
    await this.refresh();
    return this.#byTarget.get(
      `${provider}:${this.normalizeTarget(provider, target)}`,
    );
  }

  async byRef(entityRef: string): Promise<IndexedEntity | undefined> {
    await this.refresh();
    return this.#byRef.get(entityRef);
  }

  async all(): Promise<IndexedEntity[]> {
    await this.refresh();
    return [...this.#byRef.values()];
  }

  async consumersOf(entityRef: string): Promise<ConsumerRelation[]> {
    await this.refresh();
    return (this.#consumers.get(entityRef) ?? []).map(c => {
      const entity = this.#byRef.get(c.entityRef);
      return entity ? { ...c, entity } : { ...c };
    });
  }
}
