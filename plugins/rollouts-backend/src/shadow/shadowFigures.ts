import type {
  GateVerdict,
  ShadowDisagreement,
  ShadowDisagreementKind,
  ShadowPolicyFigures,
  ShadowSummary,
} from '@tollgate/plugin-rollouts-common';
import { WOULD_HAVE } from './ShadowRunner';
import type { ShadowStore } from './ShadowStore';

const KINDS: ShadowDisagreementKind[] = [
  'would-rollback',
  'promote-earlier',
  'promote-later',
  'would-not-rollback',
  'hold-vs-continue',
];

/** How a would-have verdict differs from the enforced one (undefined: they agree). */
export function disagreementOf(
  shadow: GateVerdict,
  enforced: GateVerdict,
): ShadowDisagreementKind | undefined {
  if (shadow === enforced) return undefined;
  if (shadow === 'rollback') return 'would-rollback';
  if (enforced === 'rollback') return 'would-not-rollback';
  if (shadow === 'promote') return 'promote-earlier';
  if (enforced === 'promote') return 'promote-later';
  return 'hold-vs-continue';
}

/**
 * `GET /v1/shadow`: per shadow policy, over the rollouts active now or
 * finished in the last `days` that the caller may read, how many it
 * shadowed, how many it disagreed on (per kind, a rollout once per kind)
 * and the latest disagreements with their log entries. Read from the
 * would-have entries the shadows logged.
 */
export async function shadowSummary(
  shadows: ShadowStore,
  o: {
    days: number;
    readable: (refs: string[]) => Promise<Set<string>>;
    now?: Date;
  },
): Promise<ShadowSummary> {
  const now = o.now ?? new Date();
  const since = new Date(now.getTime() - o.days * 86_400_000).toISOString();
  const shadowed = await shadows.shadowedSince(since);
  const readable = await o.readable(shadowed.map(s => s.entityRef));
  const mine = shadowed.filter(s => readable.has(s.entityRef));
  const entries = await shadows.entriesOf(
    [...new Set(mine.map(s => s.rolloutId))],
    since,
  );
  const byPolicy = new Map<string, ShadowPolicyFigures>();
  const figuresOf = (policy: string) => {
    let f = byPolicy.get(policy);
    if (!f) {
      f = {
        policy,
        rolloutsShadowed: 0,
        rolloutsDisagreeing: 0,
        byKind: Object.fromEntries(
          KINDS.map(k => [k, 0]),
        ) as ShadowPolicyFigures['byKind'],
        latest: [],
      };
      byPolicy.set(policy, f);
    }
    return f;
  };
  for (const s of mine) figuresOf(s.policyName).rolloutsShadowed++;
  const seen = new Set<string>();
  for (const e of entries) {
    if (!readable.has(e.entityRef)) continue;
    const m = WOULD_HAVE.exec(e.reasons[0] ?? '');
    if (!m) continue;
    const [, shadow, policy, enforced] = m as unknown as [
      string,
      GateVerdict,
      string,
      GateVerdict,
    ];
    const kind = disagreementOf(shadow, enforced);
    if (!kind) continue;
    const f = figuresOf(policy);
    if (!seen.has(`${policy}|${e.rolloutId}`)) {
      seen.add(`${policy}|${e.rolloutId}`);
      f.rolloutsDisagreeing++;
    }
    if (!seen.has(`${policy}|${e.rolloutId}|${kind}`)) {
      seen.add(`${policy}|${e.rolloutId}|${kind}`);
      f.byKind[kind]++;
    }
    if (f.latest.length < 20) {
      const d: ShadowDisagreement = {
        seq: e.seq,
        rolloutId: e.rolloutId,
        entityRef: e.entityRef,
        version: e.version,
        stepIndex: e.stepIndex,
        at: e.createdAt,
        kind,
        shadowVerdict: shadow,
        enforcedVerdict: enforced,
        reason: e.reasons.find((r, i) => i > 0 && !r.startsWith('rule: ')),
        rolloutStatus: e.status,
      };
      f.latest.push(d);
    }
  }
  return {
    days: o.days,
    policies: [...byPolicy.values()].sort((a, b) =>
      a.policy.localeCompare(b.policy),
    ),
    generatedAt: now.toISOString(),
  };
}
