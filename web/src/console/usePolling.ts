import { useCallback, useEffect, useRef, useState } from "react";

import { describe } from "./api";

export interface Loaded<T> {
  data: T | undefined;
  error: string | null;
  loading: boolean;
  reload: () => void;
}

/**
 * `load()` now, and again every `intervalMs` while the page is open (0: once). A failed poll
 * keeps the last data and shows the error; the next success clears it.
 */
export function usePolling<T>(load: () => Promise<T>, intervalMs: number, deps: unknown[]): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [generation, setGeneration] = useState(0);
  const loader = useRef(load);
  loader.current = load;

  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    setLoading(true);
    const run = async () => {
      try {
        const next = await loader.current();
        if (!live) return;
        setData(next);
        setError(null);
      } catch (failure) {
        if (live) setError(describe(failure));
      } finally {
        if (live) {
          setLoading(false);
          if (intervalMs > 0) timer = setTimeout(run, intervalMs);
        }
      }
    };
    void run();
    return () => {
      live = false;
      if (timer) clearTimeout(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [intervalMs, generation, ...deps]);

  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  return { data, error, loading, reload };
}
