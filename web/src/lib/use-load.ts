import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { toApiError, type ApiError } from '../api';

export interface Load<T> {
  data: T | null;
  error: ApiError | null;
  loading: boolean;
  /** Loads again, keeping what is shown until the answer arrives. */
  reload: () => Promise<void>;
  set: (data: T) => void;
}

/** Loads once per `key`; an answer that arrives after a newer request started is dropped. */
export function useLoad<T>(load: () => Promise<T>, key: string): Load<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(true);
  const generation = useRef(0);
  const loader = useRef(load);
  loader.current = load;

  const reload = useCallback(async () => {
    const mine = ++generation.current;
    setLoading(true);
    try {
      const result = await loader.current();
      if (mine !== generation.current) return;
      setData(result);
      setError(null);
    } catch (failure) {
      if (mine !== generation.current) return;
      setError(toApiError(failure));
    } finally {
      if (mine === generation.current) setLoading(false);
    }
  }, []);

  useEffect(() => {
    setData(null);
    setError(null);
    void reload();
    return () => {
      generation.current++;
    };
  }, [key, reload]);

  return { data, error, loading, reload, set: setData };
}
