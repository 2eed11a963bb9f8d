import { readBurnRows, readSignals } from './evidenceReader';
import type { SignalEvidence } from './evidence';
import {
  formatDifference,
  formatDuration,
  formatInterval,
  formatMargin,
  formatNumber,
} from './format';
import type { DecisionEntry, Rollout } from './types';

/**
 * The post-rollout report (`GET /v1/rollouts/:id/report`): Markdown for
 * reviews and postmortems, generated from the decision log alone with the
 * same evidence reader and number formats as the pages, so the report and
 * the Rollouts tab show the same figures.
 */

/** One step of the ladder as the log tells it. @public */
export interface LadderStepReport {
  index: number;
  weight: number;
  enteredAt?: string;
  leftAt?: string;
  /** What ended the step: the decision that moved on, or the rollout's end. */
  leftBy?: string;
  /** The last evidence logged while the rollout was on this step. */
  lastEvidence?: DecisionEntry;
}

const PERSON_KINDS = new Set(['manual', 'override']);

/** Walks the log (oldest first) along the ladder: when each step was entered and left, and why. */
export function ladderOf(
  rollout: Rollout,
  decisions: DecisionEntry[],
): LadderStepReport[] {
  const steps: LadderStepReport[] = rollout.steps.map((s, index) => ({
    index,
    weight: s.weight,
  }));
  if (steps.length) steps[0].enteredAt = rollout.startedAt;
  for (const d of decisions) {
    const step = steps[d.stepIndex];
    if (!step) continue;
    step.enteredAt ??= d.createdAt;
    if (d.evidence) step.lastEvidence = d;
    if (d.outcome !== 'applied') continue;
    if (
      d.verdict === 'promote' ||
      d.verdict === 'approve' ||
      d.verdict === 'rollback'
    ) {
      step.leftAt ??= d.createdAt;
      step.leftBy ??= `${d.verdict} by ${actorText(d)}`;
      const next = steps[d.stepIndex + 1];
      if (d.verdict !== 'rollback' && next) next.enteredAt ??= d.createdAt;
    }
  }
  return steps;
}

function actorText(d: DecisionEntry): string {
  return d.actor === 'scheduler' ? 'the gate' : d.actor;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

function table(header: string[], rows: string[][]): string {
  return [
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map(r => `| ${r.map(cell).join(' | ')} |`),
  ].join('\n');
}

function span(from?: string, to?: string): string {
  if (!from || !to) return '—';
  return formatDuration(Date.parse(to) - Date.parse(from));
}

/** A signal as the KPI table on the Rollouts tab writes it, cell for cell. */
export function signalCells(s: SignalEvidence): string[] {
  return [
    `${s.name}${s.guardrail ? ' (guardrail)' : ''}`,
    formatNumber(s.baseline),
    formatNumber(s.canary),
    formatDifference(s.difference, s.scale),
    formatInterval(s),
    formatMargin(s),
    s.rule ?? '—',
  ];
}

function signalRows(evidence: unknown): string[][] {
  return readSignals(evidence).map(signalCells);
}

const SIGNAL_HEADER = [
  'signal',
  'baseline',
  'canary',
  'canary − baseline',
  'always-valid interval',
  'margin',
  'rule',
];

/** @public The report as Markdown. `decisions` are the rollout's log entries, oldest first, with evidence. */
export function rolloutReport(
  rollout: Rollout,
  decisions: DecisionEntry[],
  options: { generatedAt: string },
): string {
  const out: string[] = [];
  const from = rollout.previousVersion ? `${rollout.previousVersion} → ` : '';
  out.push(`# Rollout report: ${rollout.entityRef} ${from}${rollout.version}`);
  out.push('');
  out.push(
    table(
      ['', ''],
      [
        ['Service', rollout.entityRef],
        ['Provider · target', `${rollout.provider} · ${rollout.target}`],
        ['Versions', `${from}${rollout.version}`],
        ['Status', rollout.status],
        ['Started', rollout.startedAt],
        ['Finished', rollout.finishedAt ?? '—'],
        [
          'Policy',
          rollout.policyName
            ? `${rollout.policyName} (${rollout.policyHash ?? 'no hash'})`
            : '—',
        ],
        [
          'Decision log',
          decisions.length
            ? `${decisions.length} entries, seq ${decisions[0].seq}–${decisions[decisions.length - 1].seq}, last hash ${decisions[decisions.length - 1].hash}`
            : 'no entries',
        ],
        ['Generated', options.generatedAt],
      ],
    ),
  );

  const ladder = ladderOf(rollout, decisions);
  out.push('', '## Ladder', '');
  out.push(
    table(
      ['step', 'weight', 'entered', 'left', 'time on step', 'left by'],
      ladder.map(s => [
        String(s.index + 1),
        `${s.weight} %`,
        s.enteredAt ?? '—',
        s.leftAt ?? '—',
        span(s.enteredAt, s.leftAt ?? rollout.finishedAt),
        s.leftBy ??
          (s.enteredAt && !s.leftAt && s.index === rollout.currentStepIndex
            ? rollout.status
            : '—'),
      ]),
    ),
  );

  out.push('', '## KPI deltas and guardrails at the end of each step', '');
  const reached = ladder.filter(s => s.lastEvidence);
  if (!reached.length) out.push('No evidence was logged.');
  for (const s of reached) {
    const d = s.lastEvidence!;
    out.push(
      `### Step ${s.index + 1} (${s.weight} %), evidence of #${d.seq} at ${d.createdAt}`,
      '',
    );
    const rows = signalRows(d.evidence);
    out.push(rows.length ? table(SIGNAL_HEADER, rows) : 'No signals.');
    out.push('');
  }

  out.push('## Error budget', '');
  const burnRows = reached.flatMap(s =>
    readBurnRows(s.lastEvidence!.evidence).map(b => [
      `${s.index + 1} (${s.weight} %)`,
      b.name,
      formatNumber(b.canaryLong),
      formatNumber(b.serviceLong),
      b.alerting ? 'alerting' : 'within budget',
    ]),
  );
  out.push(
    burnRows.length
      ? table(
          ['step', 'window', 'canary burn rate', 'service burn rate', 'state'],
          burnRows,
        )
      : 'No burn-rate windows were logged.',
  );
  out.push(
    '',
    'A burn rate of 1 spends the error budget exactly over the SLO window; the window alerts above its factor.',
  );

  out.push('', "## People's actions", '');
  const people = decisions.filter(d => PERSON_KINDS.has(d.kind));
  out.push(
    people.length
      ? table(
          ['when', 'who', 'action', 'step', 'outcome', 'why'],
          people.map(d => [
            d.createdAt,
            d.actor,
            d.kind === 'override' ? `${d.verdict} (override)` : d.verdict,
            String(d.stepIndex + 1),
            d.outcome,
            d.reasons.join('; '),
          ]),
        )
      : 'Nobody acted by hand: every step was decided by the gate.',
  );

  out.push('', '## Every decision', '');
  for (const d of decisions) {
    const weight = rollout.steps[d.stepIndex]?.weight;
    out.push(
      `### #${d.seq} ${d.createdAt}: ${d.verdict} (${d.kind}, ${d.outcome}) at step ${d.stepIndex + 1}${weight === undefined ? '' : ` (${weight} %)`} by ${actorText(d)}`,
      '',
    );
    for (const r of d.reasons) out.push(`- ${r.replace(/\r?\n/g, ' ')}`);
    const rows = signalRows(d.evidence);
    if (rows.length) out.push('', table(SIGNAL_HEADER, rows));
    out.push('', `hash \`${d.hash}\``, '');
  }
  return `${out.join('\n').trimEnd()}\n`;
}
