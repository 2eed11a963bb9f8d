/**
 * The right-hand side of `tollgate.dev/rollouts: unleash:<target>`:
 * `[<project>/]<flag>[@<environment>]`.
 */

/** A target with its defaults filled in. */
export interface FlagTarget {
  project: string;
  flag: string;
  environment: string;
}

// Unleash names flags, projects and environments with URL-friendly characters.
const NAME = /^[A-Za-z0-9_.~-]+$/;

/**
 * Parses `<project>/<flag>@<environment>`, `<project>/<flag>`,
 * `<flag>@<environment>` or `<flag>`; what is left out comes from the
 * defaults.
 */
export function parseTarget(
  target: string,
  defaults: { project: string; environment: string },
): FlagTarget {
  const raw = target.trim();
  const at = raw.lastIndexOf('@');
  const left = at >= 0 ? raw.slice(0, at) : raw;
  const environment = at >= 0 ? raw.slice(at + 1) : defaults.environment;
  const slash = left.indexOf('/');
  const project = slash >= 0 ? left.slice(0, slash) : defaults.project;
  const flag = slash >= 0 ? left.slice(slash + 1) : left;
  for (const [what, value] of [
    ['project', project],
    ['flag', flag],
    ['environment', environment],
  ] as const) {
    if (!NAME.test(value)) {
      throw new Error(
        `unleash target "${target}": the ${what} ${value ? `"${value}" is not a valid Unleash name` : 'is missing'}; ` +
          'expected [<project>/]<flag>[@<environment>], e.g. default/new-checkout@production',
      );
    }
  }
  return { project, flag, environment };
}

/** The full form, `<project>/<flag>@<environment>`: one key per ramp target. */
export function targetKey(t: FlagTarget): string {
  return `${t.project}/${t.flag}@${t.environment}`;
}

/**
 * The shortest form that parses back to `t` with these defaults: the form
 * the provider reports for flags it discovers by tag.
 */
export function shortTarget(
  t: FlagTarget,
  defaults: { project: string; environment: string },
): string {
  const project = t.project === defaults.project ? '' : `${t.project}/`;
  const environment =
    t.environment === defaults.environment ? '' : `@${t.environment}`;
  return `${project}${t.flag}${environment}`;
}
