/**
 * Starting a release on a Rollout: what `kubectl argo rollouts set image
 * <rollout> <container>=<image>:<version>` changes, as a JSON patch of the
 * pod template. Pure functions: no HTTP here.
 */
import type { ArgoRollout, PodTemplate } from './argoTypes';
import { imageVersion } from './mapping';

/**
 * How `startRelease` sets a version's image on one target
 * (`rollouts.providers.argoRollouts.releases[]`).
 *
 * @public
 */
export interface ArgoReleaseConfig {
  /** The target, in any spelling the provider accepts. */
  target: string;
  /** The container whose image carries the version (default: the container named like the rollout, else the first). */
  container?: string;
  /** The image repository, without tag or digest (default: the container's current repository). */
  image?: string;
}

// distribution/reference: a tag is at most 128 word characters, dots and dashes, not starting with either.
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const HOST =
  '[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*';
// `[host[:port]/]component(/component)*`: a host is told apart as the first part with a dot, a port or `localhost`.
const REPOSITORY = new RegExp(
  `^(?:(?:${HOST}:[0-9]+|${HOST}\\.[A-Za-z0-9.-]+|localhost)/)?${COMPONENT}(?:/${COMPONENT})*$`,
);

/** True when `version` can be an image tag. */
export function isImageTag(version: string): boolean {
  return TAG.test(version);
}

/** True when `image` is an image repository without tag or digest (`ghcr.io/acme/checkout`, `localhost:5000/app`). */
export function isImageRepository(image: string): boolean {
  return REPOSITORY.test(image) && image.length <= 255;
}

/** `ghcr.io/acme/checkout:2.1.0` (or `…@sha256:…`) → `ghcr.io/acme/checkout`. */
export function imageRepository(image: string): string {
  const at = image.indexOf('@');
  const name = at >= 0 ? image.slice(0, at) : image;
  const colon = name.lastIndexOf(':');
  return colon > name.lastIndexOf('/') ? name.slice(0, colon) : name;
}

/** The index of the container that carries the version, as mapping.ts reads it: `container` when given, else the one named like the rollout, else the first. */
export function releaseContainerIndex(
  template: PodTemplate | undefined,
  rolloutName: string,
  container?: string,
): number {
  const containers = template?.spec?.containers ?? [];
  if (container !== undefined)
    return containers.findIndex(c => c.name === container);
  const named = containers.findIndex(c => c.name === rolloutName);
  if (named >= 0) return named;
  return containers.length ? 0 : -1;
}

/** What starting `version` changes, or why it cannot. */
export type ReleasePlan =
  | {
      kind: 'patch';
      container: string;
      image: string;
      ops: Array<Record<string, unknown>>;
    }
  | { kind: 'already'; container: string; image: string }
  | { kind: 'refused'; message: string };

/**
 * The JSON patch that sets `version` on the release container of `ro`: a
 * `test` of the container's name at its index (so a reordered container
 * list fails instead of changing another container), then a `replace` of
 * its image (`add` sets it whether or not it was there) — the image
 * `kubectl argo rollouts set image` would write. `already` when the
 * container's image already carries `version`.
 */
export function planRelease(
  ro: ArgoRollout,
  version: string,
  release: Omit<ArgoReleaseConfig, 'target'> | undefined,
): ReleasePlan {
  const name = ro.metadata.name;
  if (!isImageTag(version)) {
    return {
      kind: 'refused',
      message: `version "${version}" cannot be an image tag (letters, digits, "_", "." and "-", at most 128, not starting with "." or "-")`,
    };
  }
  const template = ro.spec.template;
  const index = releaseContainerIndex(template, name, release?.container);
  if (index < 0) {
    const names = (template?.spec?.containers ?? []).map(c => c.name);
    return {
      kind: 'refused',
      message: release?.container
        ? `releases: container "${release.container}" not found in the pod template (containers: ${names.join(', ') || 'none'})`
        : 'the pod template has no containers',
    };
  }
  const container = template!.spec!.containers![index];
  const current = container.image ?? '';
  const repository = release?.image ?? imageRepository(current);
  if (!isImageRepository(repository)) {
    return {
      kind: 'refused',
      message: `the image repository "${repository}" of container "${container.name}" is not a valid image reference; set releases[].image`,
    };
  }
  // Idempotent on the version as mapping.ts reads it (a digest after the tag is kept).
  if (current && imageVersion(current) === version)
    return { kind: 'already', container: container.name, image: current };
  const image = `${repository}:${version}`;
  const base = `/spec/template/spec/containers/${index}`;
  return {
    kind: 'patch',
    container: container.name,
    image,
    ops: [
      { op: 'test', path: `${base}/name`, value: container.name },
      { op: 'add', path: `${base}/image`, value: image },
    ],
  };
}

const CONTAINER_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Checks one `releases[]` entry; throws naming the field (`key` is its config path). */
export function checkRelease(
  r: ArgoReleaseConfig,
  key: string,
): ArgoReleaseConfig {
  if (
    r.container !== undefined &&
    (!CONTAINER_NAME.test(r.container) || r.container.length > 63)
  ) {
    throw new Error(
      `${key}.container: "${r.container}" is not a container name (lowercase letters, digits and "-", at most 63)`,
    );
  }
  if (r.image !== undefined && !isImageRepository(r.image)) {
    const tagged = imageRepository(r.image) !== r.image;
    throw new Error(
      tagged
        ? `${key}.image: "${r.image}" carries a tag or digest; give the repository only (e.g. "${imageRepository(r.image)}"), the version becomes the tag`
        : `${key}.image: "${r.image}" is not an image repository (e.g. ghcr.io/acme/checkout)`,
    );
  }
  return { ...r, target: r.target.trim() };
}
