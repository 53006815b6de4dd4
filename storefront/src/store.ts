// Tiny observable values shared by the pages (the session and the cart badge).
import { useEffect, useState } from 'preact/hooks';

export interface Store<T> {
  get(): T;
  set(value: T): void;
  subscribe(listener: (value: T) => void): () => void;
}

export function createStore<T>(initial: T): Store<T> {
  let value = initial;
  const listeners = new Set<(value: T) => void>();
  return {
    get: () => value,
    set(next) {
      value = next;
      for (const listener of listeners) listener(value);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/** Re-renders the component when `store` changes. */
export function useStore<T>(store: Store<T>): T {
  const [value, setValue] = useState(store.get());
  useEffect(() => {
    setValue(store.get());
    return store.subscribe(setValue);
  }, [store]);
  return value;
}

export interface Session {
  signedIn: boolean;
  /** The session ended by itself (refresh refused): the sign-in page says so. */
  expired: boolean;
}

export const session = createStore<Session>({
  signedIn: window.localStorage.getItem('shop.session') !== null,
  expired: false,
});

/** Units in the cart, for the header's badge (`null`: unknown or signed out). */
export const cartCount = createStore<number | null>(null);
