/**
 * What each figure of the executive dashboard is, in the words its tooltip
 * shows; the backend computes them so (`rollouts-backend/src/summary` and
 * `database/deliveryFigures.ts`) and the README says the same.
 */

export const definitions = {
  active: () =>
    'Releases rolling out right now: part of the traffic is on a new version that is being watched.',
  success: (days: number) =>
    `Of the rollouts that finished in the last ${days} days, the share that promoted (reached all users).`,
  failedPer100: (days: number) =>
    `Of the rollouts that finished in the last ${days} days, how many per 100 ended rolled back, aborted or failed.`,
  changeFailure: (days: number) =>
    `Of the releases that reached full traffic in the last ${days} days (its first applied promotion into a 100% step, or out of the ladder's last step), the share that needed a rollback afterwards (a rollback decision, applied or failed: the bake watch's or a person's) or a fix (the bake window ended because a newer release of the same target started). Rollouts stopped before full traffic count in failed rollouts per 100, not here.`,
  mttr: (days: number) =>
    `For rollbacks applied in the last ${days} days: the mean time from the rollout's first harmful verdict to the applied rollback. A harmful verdict is a rollback (applied or not) or a hold because the canary's burn windows alert or a signal deteriorated, as the decision log records it.`,
  detection: (days: number) =>
    `For rollouts whose first harmful verdict came in the last ${days} days: the mean time from the deploy of the new version (the rollout's start) to that first harmful verdict.`,
  automation: (days: number) =>
    `Steps completed by the automation / all steps, over the rollouts active now or finished in the last ${days} days. Every promote or rollback action on the deploy system (applied or failed) is a step; the automation completed it when the gate's own promotion was applied. People's promotions, rollbacks and failed actions are steps it did not complete.`,
  budget: (sloDays: number) =>
    `Share of each service's error budget for a ${sloDays}-day SLO window spent while its rollouts ran: Σ burn rate × time / ${sloDays} days, over its rollouts active or finished in the last ${sloDays} days. Each logged decision's worst long-window burn rate of the service-wide view holds until the rollout's next logged decision (an active rollout's latest until now); a rollout's exposure ends at its applied rollback or its promotion to full. "By new versions" is the same with the canary's burn rate times its step's traffic share. Time without a rollout is not observed by Tollgate and not counted. Burn now: the worst burn rate in the service's active rollouts' latest evidence.`,
  kpis: () =>
    'For each active rollout, the business KPIs of its latest gate evaluation: the canary − baseline difference (relative for proportions, absolute for means) and its always-valid confidence interval, which stays valid however often it is looked at. Harm: the interval lies entirely on the bad side; gain: entirely on the good side; otherwise not conclusive yet (no data yet: the engine has too few samples for a difference).',
  incidents: (days: number) =>
    `From the rollouts active or finished in the last ${days} days: failed rollbacks, applied rollbacks, holds on burn (a burn window alerting or the promotion guard firing) and holds on stale telemetry (the freshness check stale, or a hold without evidence whose reason names the telemetry), newest first (the more severe first at the same time), the first 10, each with the decision's first reason past its rule note. Each links to the decision on the service's Rollouts tab.`,
};
