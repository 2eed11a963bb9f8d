// @vitest-environment jsdom
import type { ReactNode } from 'react';
import { act, renderHook, waitFor } from '@testing-library/react';
import { TestApiProvider } from '@backstage/test-utils';
import { signalApiRef } from '@backstage/plugin-signals-react';
import { POLL_MS, useLiveData } from './useLiveData';

function fakeSignals() {
  const subscribers = new Map<string, (msg: any) => void>();
  return {
    api: {
      subscribe: (channel: string, onMessage: (msg: any) => void) => {
        subscribers.set(channel, onMessage);
        return { unsubscribe: () => subscribers.delete(channel) };
      },
    },
    send: (channel: string, msg: any) => subscribers.get(channel)?.(msg),
  };
}

describe('useLiveData', () => {
  afterEach(() => vi.useRealTimers());

  it('loads, refreshes on matching rollouts:changes signals, throttled, and keeps the value while refreshing', async () => {
    const signals = fakeSignals();
    let n = 0;
    const load = vi.fn(async () => ++n);
    const wrapper = ({ children }: { children: ReactNode }) => (
      <TestApiProvider apis={[[signalApiRef, signals.api]]}>
        {children}
      </TestApiProvider>
    );
    const { result } = renderHook(
      () =>
        useLiveData(load, [], {
          signalFilter: m => m.entityRef === 'component:default/a',
          signalThrottleMs: 200,
        }),
      { wrapper },
    );
    expect(result.current.loading).toBe(true);
    await waitFor(() => expect(result.current.value).toBe(1));

    act(() =>
      signals.send('rollouts:changes', {
        entityRef: 'component:default/other',
      }),
    );
    act(() =>
      signals.send('rollouts:changes', {
        entityRef: 'component:default/a',
        status: 'paused',
      }),
    );
    await waitFor(() => expect(result.current.value).toBe(2));
    expect(result.current.loading).toBe(false);

    // a burst within the throttle window yields one trailing refresh
    act(() =>
      signals.send('rollouts:changes', {
        entityRef: 'component:default/a',
        n: 1,
      }),
    );
    act(() =>
      signals.send('rollouts:changes', {
        entityRef: 'component:default/a',
        n: 2,
      }),
    );
    act(() =>
      signals.send('rollouts:changes', {
        entityRef: 'component:default/a',
        n: 3,
      }),
    );
    await waitFor(() => expect(result.current.value).toBe(3));
    await new Promise(r => setTimeout(r, 400));
    expect(load).toHaveBeenCalledTimes(3);
  });

  it('polls when signals are not available, and keeps the last value on a failed refresh', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    const load = vi
      .fn()
      .mockResolvedValueOnce('first')
      .mockRejectedValueOnce(new Error('blip'));
    const { result } = renderHook(() => useLiveData(load, []), {
      wrapper: ({ children }: { children: ReactNode }) => (
        <TestApiProvider apis={[]}>{children}</TestApiProvider>
      ),
    });
    await waitFor(() => expect(result.current.value).toBe('first'));
    await act(async () => {
      await vi.advanceTimersByTimeAsync(POLL_MS + 10);
    });
    await waitFor(() => expect(result.current.error?.message).toBe('blip'));
    expect(result.current.value).toBe('first');
    expect(load).toHaveBeenCalledTimes(2);
  });
});
