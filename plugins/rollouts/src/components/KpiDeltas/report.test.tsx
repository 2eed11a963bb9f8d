// @vitest-environment jsdom
import { renderInTestApp } from '@backstage/test-utils';
import { screen } from '@testing-library/react';
import { rolloutReport } from '@tollgate/plugin-rollouts-common';
import {
  evidence,
  makeDecision,
  makeRollout,
} from '../../__testUtils__/fixtures';
import { KpiDeltas } from './KpiDeltas';

/** The rows of the first Markdown table under `heading` (cells trimmed, escapes undone). */
function markdownTable(markdown: string, heading: string): string[][] {
  const lines = markdown.split('\n');
  const start = lines.findIndex(l => l.startsWith(heading));
  const rows: string[][] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.startsWith('|')) {
      rows.push(
        line
          .slice(1, -1)
          .split(/(?<!\\)\|/)
          .map(c => c.trim().replace(/\\\|/g, '|')),
      );
    } else if (rows.length) break;
  }
  return rows.slice(2); // header and its rule
}

describe('the post-rollout report and the Rollouts tab', () => {
  it('show the same KPI figures for a step, cell for cell', async () => {
    const rollout = makeRollout({ status: 'rolled-back' });
    const decision = makeDecision(7, {
      stepIndex: 1,
      verdict: 'rollback',
      outcome: 'applied',
      evidence,
    });
    const markdown = rolloutReport(rollout, [decision], {
      generatedAt: '2026-12-06T00:00:00.000Z',
    });
    const reported = markdownTable(markdown, '### Step 2 (5 %)');
    expect(reported.length).toBe(evidence.signals.length);

    await renderInTestApp(<KpiDeltas evidence={evidence} />);
    for (const row of reported) {
      const [name, baseline, canary, difference, interval, margin, rule] = row;
      const shown = screen.getByTestId(
        `kpi-row-${name.replace(' (guardrail)', '')}`,
      );
      const cells = Array.from(shown.querySelectorAll('td')).map(
        td => td.textContent,
      );
      // The tab's columns: signal, better, baseline, canary, difference, interval, margin, rule.
      expect([cells[0], ...cells.slice(2)]).toEqual([
        name,
        baseline,
        canary,
        difference,
        interval,
        margin,
        rule,
      ]);
    }
  });
});
