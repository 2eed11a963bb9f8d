// @vitest-environment jsdom
import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { createMockApi } from '../../__testUtils__/fixtures';
import { renderWithApis } from '../../__testUtils__/render';
import { ReportDownload, reportFileName } from './ReportDownload';

describe('ReportDownload', () => {
  const rollout = {
    id: 'ro-1',
    target: 'payments/checkout-api',
    version: '2.31.4',
  };

  it("downloads the rollout's report as a Markdown file", async () => {
    const api = createMockApi();
    const created: Blob[] = [];
    const clicked: string[] = [];
    URL.createObjectURL = vi.fn((b: Blob) => {
      created.push(b);
      return 'blob:report';
    });
    URL.revokeObjectURL = vi.fn();
    const click = vi
      .spyOn(HTMLAnchorElement.prototype, 'click')
      .mockImplementation(function (this: HTMLAnchorElement) {
        clicked.push(this.download);
      });
    await renderWithApis(<ReportDownload rollout={rollout} />, { api });
    await userEvent.click(screen.getByRole('button', { name: /report/i }));
    await waitFor(() => expect(clicked).toEqual([reportFileName(rollout)]));
    expect(api.getReport).toHaveBeenCalledWith('ro-1');
    expect(reportFileName(rollout)).toBe(
      'rollout-payments-checkout-api-2.31.4.md',
    );
    expect(await created[0].text()).toContain('# Rollout report');
    click.mockRestore();
  });

  it('says why when the report cannot be had', async () => {
    const api = createMockApi();
    api.getReport.mockRejectedValue(new Error('403 not allowed'));
    await renderWithApis(<ReportDownload rollout={rollout} />, { api });
    await userEvent.click(screen.getByRole('button', { name: /report/i }));
    await userEvent.hover(screen.getByRole('button', { name: /report/i }));
    expect(
      await screen.findByText(/Could not download the report: 403 not allowed/),
    ).toBeInTheDocument();
  });
});
