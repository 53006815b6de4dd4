/** The tokens of a signed-in session. */
export interface Tokens {
  /** JWT for `Authorization: Bearer`. */
  access_token: string;
  /** Opaque, single-use token for `POST /api/v1/auth/refresh`. */
  refresh_token: string;
  /** When the access token expires (milliseconds since the epoch), as announced by the server. */
  expires_at?: number;
}

/**
 * Where the SDK keeps the session's tokens. `get` is called before every
 * authenticated request, so a store shared by several clients (browser tabs
 * through `localStorage`) always hands out the newest pair.
 */
export interface TokenStore {
  get(): Tokens | null | Promise<Tokens | null>;
  set(tokens: Tokens | null): void | Promise<void>;
  /**
   * Optional: runs `task` while holding a lock shared with other clients of
   * the same store (other tabs), so that only one of them refreshes at a
   * time. The SDK re-reads the store inside the lock and skips its own
   * refresh when another client already rotated the tokens.
   */
  withLock?<T>(task: () => Promise<T>): Promise<T>;
}

/** Keeps the tokens in memory: the default; a page reload signs the user out. */
export class MemoryTokenStore implements TokenStore {
  #tokens: Tokens | null;

  constructor(initial: Tokens | null = null) {
    this.#tokens = initial;
  }

  get(): Tokens | null {
    return this.#tokens;
  }

  set(tokens: Tokens | null): void {
    this.#tokens = tokens;
  }
}

/** The subset of the Web Storage API the store uses (`localStorage`, `sessionStorage`). */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

interface LockManagerLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
}

/**
 * Keeps the tokens in Web Storage (e.g. `localStorage`) under `key`, so a
 * session survives reloads and is shared by the tabs of one origin. Refreshes
 * are serialized across tabs with the Web Locks API when the browser has it.
 * Anything stored in Web Storage is readable by scripts of the page: use it
 * only with a strict Content-Security-Policy.
 */
export class WebStorageTokenStore implements TokenStore {
  readonly #storage: StorageLike;
  readonly #key: string;

  constructor(storage: StorageLike, key = 'shop.tokens') {
    this.#storage = storage;
    this.#key = key;
  }

  get(): Tokens | null {
    const raw = this.#storage.getItem(this.#key);
    if (!raw) return null;
    try {
      const parsed: unknown = JSON.parse(raw);
      if (
        typeof parsed === 'object' &&
        parsed !== null &&
        typeof (parsed as Tokens).access_token === 'string' &&
        typeof (parsed as Tokens).refresh_token === 'string'
      ) {
        return parsed as Tokens;
      }
    } catch {
      // A corrupt entry is no session.
    }
    return null;
  }

  set(tokens: Tokens | null): void {
    if (tokens) this.#storage.setItem(this.#key, JSON.stringify(tokens));
    else this.#storage.removeItem(this.#key);
  }

  withLock<T>(task: () => Promise<T>): Promise<T> {
    const locks = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks;
    return locks ? locks.request(`${this.#key}.refresh`, task) : task();
  }
}
