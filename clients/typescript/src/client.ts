import createClient, { type Client } from 'openapi-fetch';

import { paginate } from './paginate.js';
import { ProblemError } from './problem.js';
import type { paths } from './schema.js';
import { MemoryTokenStore, type TokenStore, type Tokens } from './tokens.js';
import type {
  AccountPreferences,
  Cart,
  CartQuote,
  Category,
  CheckoutRequest,
  Inventory,
  NotificationItem,
  NotificationPage,
  NotificationPreferences,
  Order,
  OrderPage,
  OrderQuery,
  Product,
  ProductPage,
  ProductQuery,
  ProfilePatch,
  RegisterRequest,
  ShippingMethod,
  TokenPair,
  User,
} from './types.js';

/** Why the session changed (see {@link ShopClientOptions.onSessionChange}). */
export type SessionChange = 'signed-in' | 'refreshed' | 'signed-out' | 'expired';

/** Options of {@link ShopClient}. */
export interface ShopClientOptions {
  /**
   * The gateway's origin, e.g. `http://127.0.0.1:8080`; `''` (the default)
   * calls the page's own origin, as a storefront served by the gateway does.
   */
  baseUrl?: string;
  /** The `fetch` to use (default: the global one). */
  fetch?: typeof fetch;
  /** Where the tokens live (default: memory). */
  tokens?: TokenStore;
  /** Called after every change of the session: sign-in, refresh, sign-out, expiry. */
  onSessionChange?: (change: SessionChange, tokens: Tokens | null) => void;
  /** Products kept for `If-None-Match` revalidation (default 200). */
  productCacheSize?: number;
  /** Extra attempts of a checkout or cancel after a network failure, same key (default 2). */
  networkRetries?: number;
}

/** A result as openapi-fetch returns it. */
interface Result<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** Throws the problem of a non-2xx result, returns its data otherwise. */
async function unwrap<T>(call: Promise<Result<T>>): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) throw ProblemError.from(response, error);
  return data as T;
}

/** For calls answered by 204 or 202 with no body worth returning. */
async function unwrapEmpty(call: Promise<Result<unknown>>): Promise<void> {
  await unwrap(call);
}

/** A random UUID (v4), also where `crypto.randomUUID` is missing (non-secure origins). */
export function newIdempotencyKey(): string {
  const c = globalThis.crypto;
  if (typeof c.randomUUID === 'function') return c.randomUUID();
  const b = c.getRandomValues(new Uint8Array(16));
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x40;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * One attempt at a non-repeatable operation (a checkout, a cancellation):
 * its `Idempotency-Key` is generated once, when the attempt is created, and
 * sent again by every {@link Attempt.submit} of the same attempt, so a retry
 * after a lost answer or a 503 is never charged twice: the server replays
 * the first outcome. Start a new attempt when the request changes (another
 * address, another card): the same key with another body is a 422.
 */
export class Attempt<T> {
  /** The `Idempotency-Key` of every submission of this attempt. */
  readonly key: string = newIdempotencyKey();
  readonly #send: (key: string) => Promise<T>;
  readonly #networkRetries: number;

  constructor(send: (key: string) => Promise<T>, networkRetries: number) {
    this.#send = send;
    this.#networkRetries = networkRetries;
  }

  /**
   * Sends the request with this attempt's key. A network failure (no answer
   * at all) is retried a few times with the same key; an HTTP error is
   * thrown as a {@link ProblemError}; calling `submit()` again retries it.
   */
  async submit(): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#send(this.key);
      } catch (err) {
        if (!(err instanceof TypeError) || attempt >= this.#networkRetries) throw err;
        await new Promise((resolve) => setTimeout(resolve, 250 * 2 ** attempt));
      }
    }
  }
}

const ANONYMOUS_PATHS = [
  '/api/v1/auth/login',
  '/api/v1/auth/register',
  '/api/v1/auth/refresh',
  '/api/v1/auth/password-reset',
  '/api/v1/auth/password-reset/confirm',
];

/**
 * The shop's API for a frontend: every call of the public API typed from
 * the merged OpenAPI document (`api`), plus grouped helpers that sign in,
 * refresh tokens silently, attach idempotency keys, revalidate products and
 * turn errors into {@link ProblemError}s.
 *
 * ```ts
 * const shop = new ShopClient({ baseUrl: 'http://127.0.0.1:8080' });
 * await shop.auth.login('ada@example.com', 'correct horse battery staple');
 * const page = await shop.catalog.products({ q: 'lamp' });
 * ```
 */
export class ShopClient {
  /**
   * The typed openapi-fetch client for every public operation, with the
   * session's token attached and silently refreshed (errors are returned,
   * not thrown, as openapi-fetch does).
   */
  readonly api: Client<paths>;
  readonly #fetch: typeof fetch;
  readonly #tokens: TokenStore;
  readonly #onSessionChange: ShopClientOptions['onSessionChange'];
  readonly #networkRetries: number;
  readonly #productCacheSize: number;
  readonly #products = new Map<string, { etag: string; product: Product }>();
  #refreshing: Promise<Tokens | null> | null = null;
  readonly #baseUrl: string;

  constructor(options: ShopClientOptions = {}) {
    this.#baseUrl = (options.baseUrl ?? '').replace(/\/+$/, '');
    const baseFetch = options.fetch ?? globalThis.fetch;
    this.#fetch = (input, init) => baseFetch(input, init);
    this.#tokens = options.tokens ?? new MemoryTokenStore();
    this.#onSessionChange = options.onSessionChange;
    this.#networkRetries = options.networkRetries ?? 2;
    this.#productCacheSize = options.productCacheSize ?? 200;
    this.api = createClient<paths>({
      baseUrl: this.#baseUrl,
      fetch: (request: Request) => this.#authorizedFetch(request),
    });
  }

  // ----------------------------------------------------------------- session

  /**
   * Sends `request` with the session's access token. On a 401 it refreshes
   * the tokens (one refresh however many requests meet the expired token at
   * once) and sends the request once more with the new token. Requests that
   * set `Authorization` themselves, and the anonymous auth endpoints, are
   * sent untouched.
   */
  async #authorizedFetch(request: Request): Promise<Response> {
    const path = new URL(request.url, 'http://x').pathname;
    if (request.headers.has('Authorization') || ANONYMOUS_PATHS.includes(path)) {
      return this.#fetch(request);
    }
    const tokens = await this.#tokens.get();
    if (!tokens) return this.#fetch(request);
    const again = request.clone();
    const first = await this.#fetch(withBearer(request, tokens.access_token));
    if (first.status !== 401) return first;
    const fresh = await this.#refreshAfter(tokens.access_token);
    if (!fresh) return first;
    await first.body?.cancel();
    return this.#fetch(withBearer(again, fresh.access_token));
  }

  /**
   * New tokens after `stale` was refused: the ones another caller already
   * obtained, the result of the refresh in flight, or a new refresh (a
   * single flight). `null` when the session is over.
   */
  async #refreshAfter(stale: string): Promise<Tokens | null> {
    if (this.#refreshing) return this.#refreshing;
    const current = await this.#tokens.get();
    if (!current) return null;
    if (current.access_token !== stale) return current;
    if (this.#refreshing) return this.#refreshing;
    const refreshing = this.#refreshLocked(stale).finally(() => {
      this.#refreshing = null;
    });
    this.#refreshing = refreshing;
    return refreshing;
  }

  async #refreshLocked(stale: string): Promise<Tokens | null> {
    const run = async () => {
      // Another tab sharing the store may have refreshed while we waited.
      const current = await this.#tokens.get();
      if (!current) return null;
      if (current.access_token !== stale) return current;
      return this.#refresh(current.refresh_token);
    };
    return this.#tokens.withLock ? this.#tokens.withLock(run) : run();
  }

  async #refresh(refreshToken: string): Promise<Tokens | null> {
    const { data, error, response } = await this.api.POST('/api/v1/auth/refresh', {
      body: { refresh_token: refreshToken },
    });
    if (response.status === 401) {
      await this.#tokens.set(null);
      this.#products.clear();
      this.#onSessionChange?.('expired', null);
      return null;
    }
    if (!response.ok || !data) throw ProblemError.from(response, error);
    const tokens = toTokens(data);
    await this.#tokens.set(tokens);
    this.#onSessionChange?.('refreshed', tokens);
    return tokens;
  }

  /**
   * Forces a refresh now (e.g. before a long form), sharing a refresh
   * already in flight. `null` when there is no session or it has ended.
   */
  async refreshNow(): Promise<Tokens | null> {
    const tokens = await this.#tokens.get();
    return tokens ? this.#refreshAfter(tokens.access_token) : null;
  }

  /** Whether tokens are stored (they may still turn out to be revoked). */
  async isSignedIn(): Promise<boolean> {
    return (await this.#tokens.get()) !== null;
  }

  // -------------------------------------------------------------------- auth

  /** Accounts and sessions (user-service). */
  readonly auth = {
    /** Creates an account (it is not signed in: call `login`). */
    register: (body: RegisterRequest): Promise<User> =>
      unwrap(this.api.POST('/api/v1/auth/register', { body })),

    /** Signs in and stores the tokens. Wrong e-mail and wrong password are the same 401. */
    login: async (email: string, password: string): Promise<Tokens> => {
      const pair = await unwrap(this.api.POST('/api/v1/auth/login', { body: { email, password } }));
      const tokens = toTokens(pair);
      await this.#tokens.set(tokens);
      this.#onSessionChange?.('signed-in', tokens);
      return tokens;
    },

    /**
     * Signs out: revokes the refresh token's family at the server, then
     * forgets the tokens whatever the server answered.
     */
    logout: async (): Promise<void> => {
      const tokens = await this.#tokens.get();
      if (!tokens) return;
      try {
        const send = (t: Tokens) =>
          this.api.POST('/api/v1/auth/logout', {
            body: { refresh_token: t.refresh_token },
            headers: { Authorization: `Bearer ${t.access_token}` },
          });
        let { response } = await send(tokens);
        if (response.status === 401) {
          // The access token expired: the logout needs a fresh pair (and
          // revokes the new refresh token's family, which is the same).
          const fresh = await this.#refreshAfter(tokens.access_token);
          if (fresh) ({ response } = await send(fresh));
        }
      } catch {
        // Offline: the tokens are forgotten all the same.
      } finally {
        await this.#tokens.set(null);
        this.#onSessionChange?.('signed-out', null);
      }
    },

    /** Mails a reset code; answers the same whether or not the address has an account. */
    requestPasswordReset: (email: string): Promise<void> =>
      unwrapEmpty(this.api.POST('/api/v1/auth/password-reset', { body: { email } })),

    /** Sets a new password with the mailed code (a used or expired code is a 400). */
    confirmPasswordReset: (token: string, newPassword: string): Promise<void> =>
      unwrapEmpty(
        this.api.POST('/api/v1/auth/password-reset/confirm', {
          body: { token, new_password: newPassword },
        }),
      ),

    /** Changes the signed-in user's password. */
    changePassword: (currentPassword: string, newPassword: string): Promise<void> =>
      unwrapEmpty(
        this.api.POST('/api/v1/auth/password', {
          body: { current_password: currentPassword, new_password: newPassword },
        }),
      ),
  };

  // ----------------------------------------------------------------- account

  /** The signed-in user's profile and preferences (user-service). */
  readonly account = {
    me: (): Promise<User> => unwrap(this.api.GET('/api/v1/users/me')),
    update: (patch: ProfilePatch): Promise<User> =>
      unwrap(this.api.PATCH('/api/v1/users/me', { body: patch })),
    preferences: (): Promise<AccountPreferences> =>
      unwrap(this.api.GET('/api/v1/users/me/preferences')),
    setPreferences: (preferences: AccountPreferences): Promise<AccountPreferences> =>
      unwrap(this.api.PUT('/api/v1/users/me/preferences', { body: preferences })),
  };

  // ----------------------------------------------------------------- catalog

  /** Categories, products and stock (catalog-service). */
  readonly catalog = {
    categories: async (): Promise<Category[]> =>
      (await unwrap(this.api.GET('/api/v1/categories'))).items,

    /** One page of products (`q` searches, typo-tolerant). */
    products: (query: ProductQuery = {}): Promise<ProductPage> =>
      unwrap(this.api.GET('/api/v1/products', { params: { query } })),

    /** Every product matching `query`, page after page, as the loop asks for them. */
    allProducts: (query: Omit<ProductQuery, 'cursor'> = {}): AsyncGenerator<Product, void, undefined> =>
      paginate((cursor) => this.catalog.products(cursor ? { ...query, cursor } : query)),

    /**
     * One product, revalidated: a product read before is asked for with
     * `If-None-Match`, and a 304 returns the copy kept here.
     */
    product: async (id: string): Promise<Product> => {
      const cached = this.#products.get(id);
      const { data, error, response } = await this.api.GET('/api/v1/products/{id}', {
        params: { path: { id } },
        headers: cached ? { 'If-None-Match': cached.etag } : {},
      });
      if (response.status === 304 && cached) {
        this.#products.delete(id);
        this.#products.set(id, cached);
        return cached.product;
      }
      if (!response.ok || !data) {
        if (response.status === 404) this.#products.delete(id);
        throw ProblemError.from(response, error);
      }
      const etag = response.headers.get('ETag');
      if (etag) this.#remember(id, etag, data);
      return data;
    },

    inventory: (id: string): Promise<Inventory> =>
      unwrap(this.api.GET('/api/v1/products/{id}/inventory', { params: { path: { id } } })),
  };

  #remember(id: string, etag: string, product: Product): void {
    this.#products.delete(id);
    this.#products.set(id, { etag, product });
    while (this.#products.size > this.#productCacheSize) {
      const oldest = this.#products.keys().next().value;
      if (oldest === undefined) break;
      this.#products.delete(oldest);
    }
  }

  // -------------------------------------------------------------------- cart

  /** The signed-in user's cart (order-service). */
  readonly cart = {
    /**
     * The cart. With `quote.country` (and `quote.shipping_method_id`) it is
     * priced as checkout would charge it: shipping, tax and total for that
     * destination and method (422 when the method does not ship there).
     */
    get: (quote: CartQuote = {}): Promise<Cart> =>
      unwrap(this.api.GET('/api/v1/cart', { params: { query: quote } })),
    add: (productId: string, quantity = 1): Promise<Cart> =>
      unwrap(this.api.POST('/api/v1/cart/items', { body: { product_id: productId, quantity } })),
    setQuantity: (productId: string, quantity: number): Promise<Cart> =>
      unwrap(
        this.api.PATCH('/api/v1/cart/items/{product_id}', {
          params: { path: { product_id: productId } },
          body: { quantity },
        }),
      ),
    remove: (productId: string): Promise<Cart> =>
      unwrap(
        this.api.DELETE('/api/v1/cart/items/{product_id}', {
          params: { path: { product_id: productId } },
        }),
      ),
    clear: (): Promise<void> => unwrapEmpty(this.api.DELETE('/api/v1/cart')),
    /** Applies a discount code (case-insensitive); a code that cannot apply is a 422 naming why (field `code`). */
    applyDiscount: (code: string): Promise<Cart> =>
      unwrap(this.api.PUT('/api/v1/cart/discount', { body: { code } })),
    /** Takes the discount code off the cart (idempotent). */
    removeDiscount: (): Promise<Cart> => unwrap(this.api.DELETE('/api/v1/cart/discount')),
  };

  // ---------------------------------------------------------------- shipping

  /** Shipping methods (order-service). */
  readonly shipping = {
    /** The active shipping methods, cheapest first; with `country`, those that ship there. */
    methods: async (country?: string): Promise<ShippingMethod[]> =>
      (await unwrap(this.api.GET('/api/v1/shipping-methods', { params: { query: country ? { country } : {} } })))
        .items,
  };

  // ------------------------------------------------------------------ orders

  /** Checkout, order history and cancellation (order-service). */
  readonly orders = {
    /** A checkout attempt: `submit()` it, and `submit()` it again to retry with the same key. */
    checkoutAttempt: (body: CheckoutRequest): Attempt<Order> =>
      new Attempt(
        (key) =>
          unwrap(
            this.api.POST('/api/v1/checkout', {
              params: { header: { 'Idempotency-Key': key } },
              body,
            }),
          ),
        this.#networkRetries,
      ),

    /** Checks the cart out in one new attempt (409 out of stock, 402 declined, 503 try again). */
    checkout: (body: CheckoutRequest): Promise<Order> => this.orders.checkoutAttempt(body).submit(),

    /** A cancellation attempt of order `id`. */
    cancelAttempt: (id: string): Attempt<Order> =>
      new Attempt(
        (key) =>
          unwrap(
            this.api.POST('/api/v1/orders/{id}/cancel', {
              params: { path: { id }, header: { 'Idempotency-Key': key } },
            }),
          ),
        this.#networkRetries,
      ),

    /** Cancels a confirmed order (refund and restock); other states are a 409. */
    cancel: (id: string): Promise<Order> => this.orders.cancelAttempt(id).submit(),

    get: (id: string): Promise<Order> =>
      unwrap(this.api.GET('/api/v1/orders/{id}', { params: { path: { id } } })),

    /** One page of the user's orders, newest first. */
    list: (query: OrderQuery = {}): Promise<OrderPage> =>
      unwrap(this.api.GET('/api/v1/orders', { params: { query } })),

    /** Every order of the user, newest first, page after page. */
    all: (query: Omit<OrderQuery, 'cursor'> = {}): AsyncGenerator<Order, void, undefined> =>
      paginate((cursor) => this.orders.list(cursor ? { ...query, cursor } : query)),
  };

  // ----------------------------------------------------------- notifications

  /** The user's notification preferences and history (notification-service). */
  readonly notifications = {
    preferences: (): Promise<NotificationPreferences> =>
      unwrap(this.api.GET('/api/v1/notification-preferences')),
    setPreferences: (preferences: NotificationPreferences): Promise<NotificationPreferences> =>
      unwrap(this.api.PUT('/api/v1/notification-preferences', { body: preferences })),
    history: (query: { limit?: number; cursor?: string } = {}): Promise<NotificationPage> =>
      unwrap(this.api.GET('/api/v1/notifications', { params: { query } })),
    all: (): AsyncGenerator<NotificationItem, void, undefined> =>
      paginate((cursor) => this.notifications.history(cursor ? { cursor } : {})),
  };
}

function withBearer(request: Request, accessToken: string): Request {
  const authorized = new Request(request);
  authorized.headers.set('Authorization', `Bearer ${accessToken}`);
  return authorized;
}

function toTokens(pair: TokenPair): Tokens {
  return {
    access_token: pair.access_token,
    refresh_token: pair.refresh_token,
    expires_at: Date.now() + pair.expires_in * 1000,
  };
}
