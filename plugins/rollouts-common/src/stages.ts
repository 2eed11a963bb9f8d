/**
 * Multi-stage promotion: a release moves through ordered stages, each a
 * deploy provider target (`staging` → `prod-eu` → `prod-us`). Stage N+1
 * starts only after stage N completed its ladder and soaked.
 */

/** The ordered stages: `name=provider:target, …`. @public */
export const STAGES_ANNOTATION = 'tollgate.dev/stages';
/** How long a completed stage soaks before the next starts, e.g. `10m` (default 0). @public */
export const STAGE_SOAK_ANNOTATION = 'tollgate.dev/stage-soak';

/** One declared stage. @public */
export interface StageDeclaration {
  name: string;
  provider: string;
  target: string;
}

/** A parsed stages declaration. @public */
export interface StagesDeclaration {
  stages: StageDeclaration[];
  /** Seconds a completed stage soaks before the next one starts. */
  soakSeconds: number;
}

const STAGE_NAME = /^[a-z0-9][a-z0-9._-]*$/i;
const DURATION = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)?$/;
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/**
 * Parses a duration like `90s`, `10m`, `1h` (a bare number is seconds).
 * Throws an error naming `field` when it is not one.
 *
 * @public
 */
export function parseDurationSeconds(value: string, field: string): number {
  const m = DURATION.exec(value.trim());
  if (!m) {
    throw new Error(
      `${field}: "${value}" is not a duration (a number with s, m, h or d, e.g. 10m)`,
    );
  }
  return Number(m[1]) * UNIT_SECONDS[m[2] ?? 's'];
}

/**
 * Parses `tollgate.dev/stages` (and `tollgate.dev/stage-soak`): ordered,
 * comma-separated `name=provider:target` pairs, at least two, with unique
 * names and targets. Undefined when the entity declares no stages; throws
 * an error naming the annotation and the stage when the declaration is
 * malformed.
 *
 * @public
 */
export function parseStagesAnnotation(
  annotations: Record<string, string> | undefined,
): StagesDeclaration | undefined {
  const value = annotations?.[STAGES_ANNOTATION];
  if (value === undefined || value.trim() === '') return undefined;
  const stages = value.split(',').map((raw, i) => {
    const part = raw.trim();
    const eq = part.indexOf('=');
    const name = eq > 0 ? part.slice(0, eq).trim() : '';
    const ref = eq > 0 ? part.slice(eq + 1).trim() : '';
    const colon = ref.indexOf(':');
    if (!name || colon <= 0 || colon === ref.length - 1) {
      throw new Error(
        `annotation ${STAGES_ANNOTATION}: stage ${i + 1} "${part}" is not of the form <name>=<provider>:<target>`,
      );
    }
    return {
      name,
      provider: ref.slice(0, colon).trim(),
      target: ref.slice(colon + 1).trim(),
    };
  });
  checkStageList(stages, `annotation ${STAGES_ANNOTATION}`);
  const soak = annotations?.[STAGE_SOAK_ANNOTATION];
  const soakSeconds =
    soak === undefined || soak.trim() === ''
      ? 0
      : parseDurationSeconds(soak, `annotation ${STAGE_SOAK_ANNOTATION}`);
  return { stages, soakSeconds };
}

/**
 * The rules every stages declaration keeps, wherever it is written: at
 * least two stages, unique names, unique provider targets. Throws an error
 * starting with `where` and naming the stage.
 *
 * @public
 */
export function checkStageList(stages: StageDeclaration[], where: string) {
  if (stages.length < 2) {
    throw new Error(
      `${where}: a pipeline needs at least two stages (got ${stages.length})`,
    );
  }
  const names = new Set<string>();
  const targets = new Set<string>();
  stages.forEach((s, i) => {
    if (!STAGE_NAME.test(s.name))
      throw new Error(
        `${where}: stage ${i + 1} name "${s.name}" may hold only letters, digits, ".", "_" and "-"`,
      );
    if (names.has(s.name))
      throw new Error(`${where}: stage name "${s.name}" appears twice`);
    const key = `${s.provider}:${s.target}`;
    if (targets.has(key))
      throw new Error(
        `${where}: stage "${s.name}": target ${key} is already another stage's`,
      );
    names.add(s.name);
    targets.add(key);
  });
}

/** The placeholders a policy's stage target may use: the entity's name and namespace. */
const TARGET_PLACEHOLDER = /\{\{\s*([A-Za-z]+)\s*\}\}/g;
const TARGET_PLACEHOLDERS = new Set(['name', 'namespace']);

/**
 * Placeholders in a policy stage's target template that are not
 * `{{name}}` or `{{namespace}}`.
 *
 * @public
 */
export function unknownTargetPlaceholders(template: string): string[] {
  return [...template.matchAll(TARGET_PLACEHOLDER)]
    .map(m => m[1])
    .filter(p => !TARGET_PLACEHOLDERS.has(p));
}

/**
 * A policy's stages for one entity: each target template with `{{name}}`
 * and `{{namespace}}` replaced by the entity's (a policy is shared by many
 * services, each released to its own targets), checked like an annotation.
 *
 * @public
 */
export function stagesForEntity(
  policy: {
    name: string;
    stages?: StageDeclaration[];
    stageSoak?: string;
  },
  entityRef: string,
): StagesDeclaration | undefined {
  if (!policy.stages?.length) return undefined;
  const [, namespace = 'default', name = ''] =
    /^[^:]+:(?:([^/]+)\/)?(.+)$/.exec(entityRef) ?? [];
  const values: Record<string, string> = { name, namespace };
  const stages = policy.stages.map(s => ({
    ...s,
    target: s.target.replace(TARGET_PLACEHOLDER, (_, p: string) => values[p]),
  }));
  const where = `policy ${policy.name}: stages`;
  checkStageList(stages, where);
  return {
    stages,
    soakSeconds: policy.stageSoak
      ? parseDurationSeconds(
          policy.stageSoak,
          `policy ${policy.name}: stageSoak`,
        )
      : 0,
  };
}

/** Where a stage of a pipeline is. @public */
export type PipelineStageState =
  /** not started yet (its turn has not come) */
  | 'waiting'
  /** its deploy system started the release before its turn: held until it comes */
  | 'held'
  /** Tollgate asked its deploy system to start the release; not reported yet */
  | 'starting'
  | 'running'
  /** its ladder is done; soaking before the next stage starts */
  | 'completed'
  | 'rolled-back'
  /** an earlier stage rolled back: this stage never starts (or was rolled back) */
  | 'stopped';

/** One stage of a pipeline as the API returns it. @public */
export interface PipelineStage extends StageDeclaration {
  state: PipelineStageState;
  /** The stage's rollout, once it has one. */
  rolloutId?: string;
  /** How the stage started: in its turn, promoted early by a person, or by its deploy system (then held). */
  startedBy?: 'pipeline' | 'early-promotion' | 'deploy-system';
  startedAt?: string;
  completedAt?: string;
  /** Why it is where it is, in a sentence (stopped, held, waiting…). */
  note?: string;
}

/** One release's way through the stages. @public */
export interface RolloutPipeline {
  id: string;
  entityRef: string;
  version: string;
  previousVersion?: string;
  status: 'running' | 'completed' | 'stopped';
  stages: PipelineStage[];
  /** Index of the next stage to start (= stages.length once all started). */
  nextStage: number;
  /** When the completed stage's soak ends and the next stage may start. */
  soakUntil?: string;
  soakSeconds: number;
  /** Why the pipeline stopped, e.g. `rolled back in prod-eu (error rate…)`. */
  stoppedReason?: string;
  createdAt: string;
  updatedAt: string;
}

/** Answer of `GET /v1/pipelines?entityRef=`. @public */
export interface PipelineList {
  /** The entity's declaration, or why it is broken. */
  stages?: StageDeclaration[];
  soakSeconds?: number;
  declarationError?: string;
  /** Newest first. */
  items: RolloutPipeline[];
}
