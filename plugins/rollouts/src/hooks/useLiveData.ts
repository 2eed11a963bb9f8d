import { useCallback, useEffect, useRef, useState } from 'react';
import { useSignal } from '@backstage/plugin-signals-react';

/** Backstage signals channel the backend publishes every rollout change on. */
export const ROLLOUTS_SIGNAL_CHANNEL = 'rollouts:changes';
/** Poll interval when signals are not available. */
export const POLL_MS = 15_000;
/** Safety-net poll interval while signals are available. */
export const POLL_WITH_SIGNALS_MS = 60_000;

export interface LiveData<T> {
  value?: T;
  error?: Error;
  /** true only until the first answer; refreshes keep the previous value on screen */
  loading: boolean;
  refresh: () => Promise<void>;
}

/**
 * Loads data, keeps it on screen while refreshing, and refreshes on
 * `rollouts:changes` signals (a hint with nothing in it that needs a permission;
 * throttled) and by polling.
 */
export function useLiveData<T>(
  load: () => Promise<T>,
  deps: unknown[],
  options: {
    live?: boolean;
    signalFilter?: (msg: Record<string, unknown>) => boolean;
    /** Signals arrive on every gate tick of every rollout: refresh at most this often (ms). */
    signalThrottleMs?: number;
  } = {},
): LiveData<T> {
  const { live = true, signalFilter, signalThrottleMs = 2_000 } = options;
  const [state, setState] = useState<{
    value?: T;
    error?: Error;
    loading: boolean;
  }>({ loading: true });
  const call = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  const refresh = useCallback(async () => {
    const id = ++call.current;
    try {
      const value = await loadRef.current();
      if (id === call.current) setState({ value, loading: false });
    } catch (e) {
      if (id === call.current) {
        setState(prev => ({
          value: prev.value,
          error: e as Error,
          loading: false,
        }));
      }
    }
  }, []);

  useEffect(() => {
    setState({ loading: true });
    refresh();
    return () => {
      // eslint-disable-next-line react-hooks/exhaustive-deps -- a call counter, not a DOM node: bumping its latest value is what drops the replies of calls still in flight
      call.current++;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps -- the caller's deps, as useEffect's
  }, deps);

  const { lastSignal, isSignalsAvailable } = useSignal(ROLLOUTS_SIGNAL_CHANNEL);
  const filterRef = useRef(signalFilter);
  filterRef.current = signalFilter;
  const lastSignalRefresh = useRef(0);
  const pending = useRef<ReturnType<typeof setTimeout>>();
  useEffect(() => {
    if (!live || !lastSignal) return;
    if (
      filterRef.current &&
      !filterRef.current(lastSignal as Record<string, unknown>)
    )
      return;
    if (pending.current) return; // a refresh is already scheduled and will see this change
    const wait = lastSignalRefresh.current + signalThrottleMs - Date.now();
    const run = () => {
      pending.current = undefined;
      lastSignalRefresh.current = Date.now();
      refresh();
    };
    if (wait <= 0) run();
    else pending.current = setTimeout(run, wait);
  }, [lastSignal, live, refresh, signalThrottleMs]);
  useEffect(
    () => () => {
      if (pending.current) clearTimeout(pending.current);
    },
    [],
  );

  useEffect(() => {
    if (!live) return undefined;
    const t = setInterval(
      () => {
        if (
          typeof document === 'undefined' ||
          document.visibilityState !== 'hidden'
        )
          refresh();
      },
      isSignalsAvailable ? POLL_WITH_SIGNALS_MS : POLL_MS,
    );
    return () => clearInterval(t);
  }, [live, isSignalsAvailable, refresh]);

  return { ...state, refresh };
}
