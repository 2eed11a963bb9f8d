/**
 * A fake Kubernetes API server for tests: a plain node:http server that
 * implements only the calls the Argo Rollouts provider makes, and rejects
 * what a real API server rejects.
 *
 *   GET   /apis/argoproj.io/v1alpha1/rollouts                          list (all namespaces)
 *   GET   /apis/argoproj.io/v1alpha1/namespaces/{ns}/rollouts          list
 *   GET   /apis/argoproj.io/v1alpha1/namespaces/{ns}/rollouts/{name}   get   (also …/status)
 *   PATCH /apis/argoproj.io/v1alpha1/namespaces/{ns}/rollouts/{name}   patch (spec and metadata; status changes dropped)
 *   PATCH …/rollouts/{name}/status                                     patch (status only; other changes dropped)
 *   GET   /apis/apps/v1/replicasets, /apis/apps/v1/namespaces/{ns}/replicasets  list (labelSelector)
 *
 * Strictness, as the real API server: 401 without a known bearer token;
 * 403 unless the token's rules allow the verb on the resource/subresource in
 * the namespace; 415 for a PATCH content type a custom resource does not
 * accept (strategic merge patch); 400 for an unknown field with
 * `fieldValidation=Strict` (pruned with a `Warning` header otherwise); 422
 * when the patched Rollout fails the Rollout CRD schema (checked with
 * `@kubernetes-models/argo-rollouts`); 409 when a patch carries a stale
 * `metadata.resourceVersion`. Errors are `Status` objects; every write
 * increments the resourceVersion, lists carry it in `metadata`.
 *
 * The fake controller (`reconcile`) is the smallest part of Argo's own that
 * the tests need; see its comment.
 */
import { createHash } from 'node:crypto';
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { Rollout } from '@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/Rollout';

export interface FakeRbacRule {
  verbs: Array<'get' | 'list' | 'watch' | 'patch' | 'update' | '*'>;
  /** `rollouts`, `rollouts/status`, `replicasets`, or `*`. */
  resources: string[];
  /** RoleBindings in these namespaces; absent = a ClusterRoleBinding. */
  namespaces?: string[];
}

export interface FakeIdentity {
  /** As the API server names it, e.g. `system:serviceaccount:tollgate:tollgate-argo`. */
  user: string;
  rules: FakeRbacRule[];
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType?: string;
  body?: unknown;
  user?: string;
  /** HTTP status the fake answered. */
  status?: number;
}

type Json = any;

const PATCH_TYPES = [
  'application/json-patch+json',
  'application/merge-patch+json',
];
const HASH_LABEL = 'rollouts-pod-template-hash';

class HttpError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Json,
  ) {
    super(message);
  }
}

function status(code: number, reason: string, message: string, details?: Json) {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  };
}

const clone = <T>(v: T): T =>
  v === undefined ? v : JSON.parse(JSON.stringify(v));
const isObject = (v: unknown): v is Record<string, Json> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** RFC 7386 JSON merge patch. */
export function applyMergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const out: Record<string, Json> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = applyMergePatch(out[k], v);
  }
  return out;
}

function pointer(path: string): string[] {
  if (!path.startsWith('/')) throw new Error(`invalid JSON pointer "${path}"`);
  return path
    .slice(1)
    .split('/')
    .map(p => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** RFC 6902 JSON patch (add, replace, remove, test). */
export function applyJsonPatch(doc: Json, ops: Json): Json {
  if (!Array.isArray(ops))
    throw new Error('a JSON patch must be an array of operations');
  const out = clone(doc);
  for (const op of ops) {
    const keys = pointer(String(op?.path ?? ''));
    const last = keys.pop()!;
    let parent: Json = out;
    for (const k of keys) {
      parent = parent?.[Array.isArray(parent) ? Number(k) : k];
      if (parent === undefined)
        throw new Error(`path ${op.path} does not exist`);
    }
    const exists = Array.isArray(parent)
      ? Number(last) < parent.length
      : isObject(parent) && last in parent;
    switch (op.op) {
      case 'add':
        if (Array.isArray(parent))
          parent.splice(
            last === '-' ? parent.length : Number(last),
            0,
            clone(op.value),
          );
        else parent[last] = clone(op.value);
        break;
      case 'replace':
        if (!exists)
          throw new Error(
            `replace operation does not apply: doc is missing key: ${op.path}`,
          );
        parent[Array.isArray(parent) ? Number(last) : last] = clone(op.value);
        break;
      case 'remove':
        if (!exists)
          throw new Error(
            `remove operation does not apply: doc is missing path: ${op.path}`,
          );
        if (Array.isArray(parent)) parent.splice(Number(last), 1);
        else delete parent[last];
        break;
      case 'test':
        if (JSON.stringify(parent?.[last]) !== JSON.stringify(op.value))
          throw new Error(`testing value ${op.path} failed`);
        break;
      default:
        throw new Error(`Unexpected kind: ${op?.op}`);
    }
  }
  return out;
}

/** Paths (key lists) a patch sets to a non-null value, down to its leaves. */
function touchedPaths(
  value: Json,
  prefix: Array<string | number> = [],
): Array<Array<string | number>> {
  if (Array.isArray(value))
    return value.flatMap((v, i) => touchedPaths(v, [...prefix, i]));
  if (isObject(value)) {
    const entries = Object.entries(value).filter(([, v]) => v !== null);
    if (entries.length === 0) return prefix.length ? [prefix] : [];
    return entries.flatMap(([k, v]) => [
      [...prefix, k],
      ...touchedPaths(v, [...prefix, k]),
    ]);
  }
  return prefix.length ? [prefix] : [];
}

type ValidationErrors = Array<{
  instancePath: string;
  message?: string;
  keyword: string;
  params: Json;
}>;

function rolloutErrors(obj: Json): ValidationErrors {
  try {
    new Rollout(obj).validate();
    return [];
  } catch (e) {
    return (
      (e as { errors?: ValidationErrors }).errors ?? [
        {
          instancePath: '',
          keyword: 'unknown',
          params: {},
          message: String(e),
        },
      ]
    );
  }
}

function setAt(obj: Json, path: Array<string | number>, value: Json) {
  let o = obj;
  for (const k of path.slice(0, -1)) o = o[k];
  o[path[path.length - 1]] = value;
}

function deleteAt(obj: Json, path: Array<string | number>) {
  let o = obj;
  for (const k of path.slice(0, -1)) {
    o = o?.[k];
    if (o === undefined) return;
  }
  if (Array.isArray(o)) o.splice(Number(path[path.length - 1]), 1);
  else if (o) delete o[path[path.length - 1]];
}

/**
 * Whether the Rollout schema knows the field at `path`. The generated
 * validator does not reject unknown properties, but it type-checks every
 * property it knows: a field is known when some value of a wrong type there
 * makes validation fail at that path.
 */
function isKnownField(
  obj: Json,
  path: Array<string | number>,
  lacking: string[],
): boolean {
  if (lacking.includes(path.join('.'))) return false;
  const at = `/${path.join('/')}`;
  for (const probe of [true, 0.5, 'probe']) {
    const copy = clone(obj);
    setAt(copy, path, probe);
    if (
      rolloutErrors(copy).some(
        e => e.instancePath === at || e.instancePath.startsWith(`${at}/`),
      )
    )
      return true;
  }
  return false;
}

/** The Kubernetes reason of the injected 5xx fault. */
function faultReason(code: number): string {
  if (code === 503) return 'ServiceUnavailable';
  if (code === 504) return 'Timeout';
  return 'InternalError';
}

/** The RBAC verb of a request on rollouts: GET of one (get), of all (list, or watch), PATCH of one; else none. */
function rolloutVerb(
  method: string,
  name: string | undefined,
  watch: boolean,
): 'get' | 'list' | 'watch' | 'patch' | undefined {
  if (method === 'PATCH') return 'patch';
  if (method !== 'GET') return undefined;
  if (name) return 'get';
  return watch ? 'watch' : 'list';
}

/** A JSON value's type as the API server names it in a validation message. */
function jsonKind(value: Json): string {
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'null';
  return typeof value;
}

function fieldName(instancePath: string): string {
  return instancePath
    .slice(1)
    .split('/')
    .map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : `${i ? '.' : ''}${p}`))
    .join('');
}

function matchesSelector(
  labels: Record<string, string> = {},
  selector: string | undefined,
): boolean {
  if (!selector) return true;
  return selector.split(',').every(term => {
    const t = term.trim();
    const neq = /^([^!=]+)!=(.*)$/.exec(t);
    if (neq) return labels[neq[1]] !== neq[2];
    const eq = /^([^!=]+)==?(.*)$/.exec(t);
    if (eq) return labels[eq[1]] === eq[2];
    if (t.startsWith('!')) return !(t.slice(1) in labels);
    if (/^[\w./-]+$/.test(t)) return t in labels;
    throw new HttpError(400, 'BadRequest', `unable to parse requirement: ${t}`);
  });
}

function withoutHashLabel(template: Json): Json {
  const t = clone(template ?? {});
  if (t.metadata?.labels) delete t.metadata.labels[HASH_LABEL];
  return t;
}

function podTemplateHash(template: Json): string {
  return createHash('sha1')
    .update(JSON.stringify(withoutHashLabel(template)))
    .digest('hex')
    .slice(0, 10);
}

/** Every field set in `a` equals `b`'s (a ReplicaSet's template has defaults its Rollout's lacks). */
function derivative(a: Json, b: Json): boolean {
  if (a === null || a === undefined) return true;
  if (Array.isArray(a))
    return (
      Array.isArray(b) &&
      a.length === b.length &&
      a.every((x, i) => derivative(x, b[i]))
    );
  if (isObject(a))
    return (
      isObject(b) && Object.entries(a).every(([k, v]) => derivative(v, b[k]))
    );
  return a === b;
}

/** A fake Kubernetes API server holding Rollouts and ReplicaSets. */
export class FakeKubeApi {
  readonly requests: RecordedRequest[] = [];
  /** Delay before each answer, ms (a slow API). */
  latencyMs = 0;
  /** Answer the next `times` requests with this code (a failing API). */
  fault?: { code: number; times: number };
  /** Runs before each request is handled (after authentication): tests use it to race a controller write. */
  beforeHandle?: (request: RecordedRequest) => void;

  readonly #identities: Record<string, FakeIdentity>;
  readonly #rollouts = new Map<string, Json>();
  readonly #replicaSets = new Map<string, Json>();
  readonly #now: () => Date;
  readonly #crdLacks: string[];
  #resourceVersion = 1000;
  #server?: Server;
  #url = '';

  private constructor(options: {
    identities: Record<string, FakeIdentity>;
    now?: () => Date;
    crdLacks?: string[];
  }) {
    this.#identities = options.identities;
    this.#crdLacks = options.crdLacks ?? [];
    this.#now = options.now ?? (() => new Date());
  }

  static async start(options: {
    identities: Record<string, FakeIdentity>;
    rollouts?: Json[];
    replicaSets?: Json[];
    now?: () => Date;
    /** Fields (dot paths, e.g. `status.promoteFull`) the installed CRD lacks: an older Argo Rollouts. */
    crdLacks?: string[];
  }): Promise<FakeKubeApi> {
    const api = new FakeKubeApi(options);
    for (const rs of options.replicaSets ?? []) api.putReplicaSet(rs);
    for (const ro of options.rollouts ?? []) api.putRollout(ro);
    const server = createServer((req, res) => void api.#handle(req, res));
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
    api.#server = server;
    api.#url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return api;
  }

  get url(): string {
    return this.#url;
  }

  /** The current resourceVersion (incremented on every write). */
  get resourceVersion(): string {
    return String(this.#resourceVersion);
  }

  async close(): Promise<void> {
    await new Promise<void>(resolve =>
      this.#server ? this.#server.close(() => resolve()) : resolve(),
    );
  }

  /** Patches and requests other than reads, as recorded. */
  get writes(): RecordedRequest[] {
    return this.requests.filter(r => r.method !== 'GET');
  }

  rollout(namespace: string, name: string): Json {
    return clone(this.#rollouts.get(`${namespace}/${name}`));
  }

  /** Creates or replaces a Rollout (validated against the CRD schema, like a create). */
  putRollout(obj: Json): Json {
    const errors = rolloutErrors(obj);
    if (errors.length)
      throw new Error(
        `fixture ${obj?.metadata?.name} is not a valid Rollout: ${JSON.stringify(errors)}`,
      );
    const stored = clone(obj);
    stored.metadata.uid ??= createHash('sha1')
      .update(`${stored.metadata.namespace}/${stored.metadata.name}`)
      .digest('hex');
    stored.metadata.generation ??= 1;
    stored.metadata.resourceVersion = String(++this.#resourceVersion);
    this.#rollouts.set(
      `${stored.metadata.namespace}/${stored.metadata.name}`,
      stored,
    );
    return clone(stored);
  }

  putReplicaSet(obj: Json): void {
    const stored = clone(obj);
    stored.metadata.resourceVersion = String(++this.#resourceVersion);
    this.#replicaSets.set(
      `${stored.metadata.namespace}/${stored.metadata.name}`,
      stored,
    );
  }

  /** A write by someone else (Argo's controller, another client): changes the Rollout and its resourceVersion. */
  touchRollout(
    namespace: string,
    name: string,
    mutate: (ro: Json) => void = () => {},
  ): void {
    const ro = this.rollout(namespace, name);
    mutate(ro);
    ro.metadata.resourceVersion = String(++this.#resourceVersion);
    this.#rollouts.set(`${namespace}/${name}`, ro);
  }

  // ------------------------------------------------------------------ HTTP

  async #handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://fake');
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const recorded: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      contentType: req.headers['content-type'],
      body: raw
        ? (() => {
            try {
              return JSON.parse(raw);
            } catch {
              return raw;
            }
          })()
        : undefined,
    };
    this.requests.push(recorded);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
    };
    let code = 200;
    let body: Json;
    try {
      if (this.latencyMs) await new Promise(r => setTimeout(r, this.latencyMs));
      if (this.fault && this.fault.times > 0) {
        this.fault.times--;
        const reason = faultReason(this.fault.code);
        throw new HttpError(
          this.fault.code,
          reason,
          'the server is currently unable to handle the request',
        );
      }
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      const identity = token ? this.#identities[token] : undefined;
      if (!identity) throw new HttpError(401, 'Unauthorized', 'Unauthorized');
      recorded.user = identity.user;
      this.beforeHandle?.(recorded);
      body = this.#route(recorded, identity, raw, headers);
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
      code = e.code;
      body = status(e.code, e.reason, e.message, e.details);
    }
    recorded.status = code;
    res.writeHead(code, headers);
    res.end(JSON.stringify(body));
  }

  #route(
    r: RecordedRequest,
    identity: FakeIdentity,
    raw: string,
    headers: Record<string, string>,
  ): Json {
    const ro =
      /^\/apis\/argoproj\.io\/v1alpha1(?:\/namespaces\/([^/]+))?\/rollouts(?:\/([^/]+)(?:\/(status))?)?$/.exec(
        r.path,
      );
    const rs = /^\/apis\/apps\/v1(?:\/namespaces\/([^/]+))?\/replicasets$/.exec(
      r.path,
    );
    if (ro) {
      const [, namespace, name, subresource] = ro;
      if (name && !namespace)
        throw new HttpError(
          404,
          'NotFound',
          'the server could not find the requested resource',
        );
      const verb = rolloutVerb(r.method, name, r.query.watch === 'true');
      if (!verb || (verb === 'patch' && !name)) {
        throw new HttpError(
          405,
          'MethodNotAllowed',
          `the server does not allow this method on the requested resource`,
        );
      }
      this.#authorize(
        identity,
        verb,
        'argoproj.io',
        subresource ? `rollouts/${subresource}` : 'rollouts',
        namespace,
        name,
      );
      if (verb === 'watch')
        throw new HttpError(
          501,
          'NotImplemented',
          'watch is not implemented by the fake API server',
        );
      if (verb === 'list') {
        const items = [...this.#rollouts.values()].filter(
          x => !namespace || x.metadata.namespace === namespace,
        );
        return {
          apiVersion: 'argoproj.io/v1alpha1',
          kind: 'RolloutList',
          metadata: { continue: '', resourceVersion: this.resourceVersion },
          items: clone(
            items.sort((a, b) =>
              `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(
                `${b.metadata.namespace}/${b.metadata.name}`,
              ),
            ),
          ),
        };
      }
      const current = this.#rollouts.get(`${namespace}/${name}`);
      if (!current) {
        throw new HttpError(
          404,
          'NotFound',
          `rollouts.argoproj.io "${name}" not found`,
          { name, group: 'argoproj.io', kind: 'rollouts' },
        );
      }
      if (verb === 'get') return clone(current);
      return this.#patch(r, current, subresource === 'status', raw, headers);
    }
    if (rs) {
      const [, namespace] = rs;
      if (r.method !== 'GET')
        throw new HttpError(
          405,
          'MethodNotAllowed',
          'the server does not allow this method on the requested resource',
        );
      this.#authorize(identity, 'list', 'apps', 'replicasets', namespace);
      const items = [...this.#replicaSets.values()].filter(
        x =>
          (!namespace || x.metadata.namespace === namespace) &&
          matchesSelector(x.metadata.labels, r.query.labelSelector),
      );
      return {
        kind: 'ReplicaSetList',
        apiVersion: 'apps/v1',
        metadata: { resourceVersion: this.resourceVersion },
        items: clone(items),
      };
    }
    throw new HttpError(
      404,
      'NotFound',
      'the server could not find the requested resource',
    );
  }

  #authorize(
    identity: FakeIdentity,
    verb: string,
    group: string,
    resource: string,
    namespace?: string,
    name?: string,
  ) {
    const allowed = identity.rules.some(
      rule =>
        (rule.verbs.includes('*') || rule.verbs.includes(verb as never)) &&
        (rule.resources.includes('*') || rule.resources.includes(resource)) &&
        (!rule.namespaces ||
          (namespace !== undefined && rule.namespaces.includes(namespace))),
    );
    if (allowed) return;
    const plural = resource.split('/')[0];
    const scope = namespace
      ? `in the namespace "${namespace}"`
      : 'at the cluster scope';
    throw new HttpError(
      403,
      'Forbidden',
      `${plural}.${group}${name ? ` "${name}"` : ''} is forbidden: User "${identity.user}" cannot ${verb} resource "${resource}" in API group "${group}" ${scope}`,
      { ...(name ? { name } : {}), group, kind: plural },
    );
  }

  #patch(
    r: RecordedRequest,
    current: Json,
    statusOnly: boolean,
    raw: string,
    headers: Record<string, string>,
  ): Json {
    const name = current.metadata.name;
    const type = (r.contentType ?? '').split(';')[0].trim().toLowerCase();
    if (!PATCH_TYPES.includes(type)) {
      // Custom resources take no strategic merge patch; apply patches are not implemented here.
      throw new HttpError(
        415,
        'UnsupportedMediaType',
        `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`,
      );
    }
    let patch: Json;
    try {
      patch = JSON.parse(raw);
    } catch (e) {
      throw new HttpError(
        400,
        'BadRequest',
        `error decoding patch: ${(e as Error).message}`,
      );
    }
    let patched: Json;
    try {
      patched =
        type === 'application/merge-patch+json'
          ? applyMergePatch(current, patch)
          : applyJsonPatch(current, patch);
    } catch (e) {
      throw new HttpError(422, 'Invalid', (e as Error).message);
    }

    // Unknown fields: refused with fieldValidation=Strict, else pruned (Warn, the default, says so in a header).
    const touched =
      type === 'application/merge-patch+json'
        ? touchedPaths(patch)
        : (patch as Json[])
            .filter(op => op.op === 'add' || op.op === 'replace')
            .flatMap(op => {
              const base = pointer(op.path);
              return [base, ...touchedPaths(op.value, base)];
            });
    const unknown: Array<Array<string | number>> = [];
    const distinct = [
      ...new Map(touched.map(p => [JSON.stringify(p), p])).values(),
    ];
    for (const p of distinct.sort((a, b) => a.length - b.length)) {
      const underUnknown = unknown.some(
        q => q.length < p.length && q.every((k, i) => k === p[i]),
      );
      if (!underUnknown && !isKnownField(patched, p, this.#crdLacks))
        unknown.push(p);
    }
    if (unknown.length) {
      const names = unknown.map(p => `unknown field "${p.join('.')}"`);
      const mode = r.query.fieldValidation ?? 'Warn';
      if (mode === 'Strict')
        throw new HttpError(
          400,
          'BadRequest',
          `strict decoding error: ${names.join(', ')}`,
        );
      for (const p of unknown) deleteAt(patched, p);
      if (mode === 'Warn')
        headers.warning = names
          .map(n => `299 - "${n.replace(/"/g, '\\"')}"`)
          .join(', ');
    }

    // The main resource ignores status; the status subresource ignores everything else.
    const result = statusOnly
      ? { ...clone(current), status: patched.status }
      : { ...patched, status: clone(current.status) };
    result.metadata = {
      ...result.metadata,
      name,
      namespace: current.metadata.namespace,
      uid: current.metadata.uid,
    };
    if (statusOnly)
      result.metadata.resourceVersion = patched.metadata?.resourceVersion;

    const errors = rolloutErrors(result);
    if (errors.length) {
      const causes = errors.map(e => {
        const field = fieldName(e.instancePath);
        const value = e.instancePath
          .slice(1)
          .split('/')
          .reduce((o: Json, k) => o?.[k], result);
        const kind = jsonKind(value);
        const message =
          e.keyword === 'type'
            ? `Invalid value: "${kind}": ${field} in body must be of type ${e.params.type}: "${kind}"`
            : `Invalid value: ${JSON.stringify(value)}: ${field} in body ${e.message}`;
        return {
          reason:
            e.keyword === 'type'
              ? 'FieldValueTypeInvalid'
              : 'FieldValueInvalid',
          message,
          field,
        };
      });
      throw new HttpError(
        422,
        'Invalid',
        `Rollout.argoproj.io "${name}" is invalid: ${causes.map(c => `${c.field}: ${c.message}`).join(', ')}`,
        { name, group: 'argoproj.io', kind: 'Rollout', causes },
      );
    }
    if (result.metadata.resourceVersion !== current.metadata.resourceVersion) {
      throw new HttpError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on rollouts.argoproj.io "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        { name, group: 'argoproj.io', kind: 'rollouts' },
      );
    }
    const changed = JSON.stringify(result) !== JSON.stringify(current);
    if (!changed) return clone(current);
    if (JSON.stringify(result.spec) !== JSON.stringify(current.spec))
      result.metadata.generation = (current.metadata.generation ?? 1) + 1;
    result.metadata.resourceVersion = String(++this.#resourceVersion);
    this.#rollouts.set(`${current.metadata.namespace}/${name}`, result);
    return clone(result);
  }

  // ------------------------------------------------------------ controller

  /**
   * The fake's stand-in for Argo's controller, one reconcile of one Rollout,
   * only as far as the tests need: a new pod template starts a new revision
   * (back to the stable template: straight to Healthy, as Argo's fast
   * rollback); abort routes everything to stable (Degraded); promoteFull
   * completes; `status.observedGeneration` becomes the generation it
   * reconciled; otherwise steps advance — setWeight is reached at once, a
   * pause adds a CanaryPauseStep condition and waits until someone clears it
   * (time stands still: durations never expire here), analysis and
   * experiment steps wait forever (no AnalysisRuns here).
   */
  reconcile(namespace: string, name: string): Json {
    const ro = this.rollout(namespace, name);
    const before = JSON.stringify(ro);
    const s = (ro.status ??= {});
    const steps: Json[] = ro.spec.strategy?.canary?.steps ?? [];
    const now = this.#now().toISOString();
    const known = [...this.#replicaSets.values()].find(
      x =>
        x.metadata.ownerReferences?.some(
          (o: Json) => o.uid === ro.metadata.uid,
        ) &&
        derivative(
          withoutHashLabel(ro.spec.template),
          withoutHashLabel(x.spec?.template),
        ),
    );
    const hash =
      known?.metadata.labels?.[HASH_LABEL] ?? podTemplateHash(ro.spec.template);
    if (hash !== s.currentPodHash) {
      Object.assign(s, {
        currentPodHash: hash,
        abort: false,
        promoteFull: false,
        controllerPause: false,
        pauseConditions: null,
      });
      delete s.abortedAt;
      s.currentStepIndex = hash === s.stableRS ? steps.length : 0;
    }
    const condition = (
      type: string,
      value: string,
      reason: string,
      message: string,
    ) => {
      const others = (s.conditions ?? []).filter((c: Json) => c.type !== type);
      const previous = (s.conditions ?? []).find((c: Json) => c.type === type);
      const lastTransitionTime =
        previous?.status === value ? previous.lastTransitionTime : now;
      s.conditions = [
        ...others,
        {
          type,
          status: value,
          reason,
          message,
          lastTransitionTime,
          lastUpdateTime: now,
        },
      ];
    };
    let weight = 0;
    if (s.abort) {
      condition(
        'Progressing',
        'False',
        'RolloutAborted',
        'Rollout aborted update to revision',
      );
      Object.assign(s, {
        phase: 'Degraded',
        message: 'RolloutAborted: Rollout aborted update',
        pauseConditions: null,
        controllerPause: false,
      });
      s.abortedAt ??= now;
    } else if (ro.spec.paused) {
      Object.assign(s, { phase: 'Paused', message: 'manually paused' });
    } else {
      if (s.promoteFull) s.currentStepIndex = steps.length;
      let i: number = s.currentStepIndex ?? 0;
      while (i < steps.length) {
        const step = steps[i];
        if (step.pause) {
          if (s.pauseConditions?.length) break;
          if (!s.controllerPause) {
            Object.assign(s, {
              controllerPause: true,
              pauseConditions: [{ reason: 'CanaryPauseStep', startTime: now }],
            });
            break;
          }
          s.controllerPause = false; // released: the pause is done
        } else if (step.analysis || step.experiment) {
          break;
        }
        i++;
      }
      for (let j = Math.min(i, steps.length - 1); j >= 0; j--) {
        if (typeof steps[j].setWeight === 'number') {
          weight = steps[j].setWeight;
          break;
        }
      }
      s.currentStepIndex = i;
      if (i >= steps.length) {
        Object.assign(s, {
          stableRS: s.currentPodHash,
          phase: 'Healthy',
          message: undefined,
          promoteFull: false,
          pauseConditions: null,
        });
        condition(
          'Completed',
          'True',
          'RolloutCompleted',
          'Rollout completed update',
        );
        weight = 100;
      } else {
        Object.assign(
          s,
          s.pauseConditions?.length
            ? { phase: 'Paused', message: 'CanaryPauseStep' }
            : {
                phase: 'Progressing',
                message: 'more replicas need to be updated',
              },
        );
      }
    }
    // Argo's controller records the generation it reconciled (a string).
    s.observedGeneration = String(ro.metadata.generation ?? 1);
    if (ro.spec.strategy?.canary?.trafficRouting) {
      const done = s.stableRS === s.currentPodHash;
      s.canary = {
        ...s.canary,
        weights: {
          canary: {
            weight: done || s.abort ? 0 : weight,
            podTemplateHash: s.currentPodHash,
          },
          stable: {
            weight: done || s.abort ? 100 : 100 - weight,
            podTemplateHash: s.stableRS,
          },
        },
      };
    }
    const after = JSON.parse(JSON.stringify(ro)); // drops the undefined message
    if (JSON.stringify(after) !== before) {
      after.metadata.resourceVersion = String(++this.#resourceVersion);
      this.#rollouts.set(`${namespace}/${name}`, after);
    }
    return clone(after);
  }
}
