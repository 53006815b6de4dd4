// Shared set-up for the SDK's tests, which run against a running fleet
// through the gateway (`cargo xtask test` starts one; so does `cargo xtask up`).
//
//   SHOP_BASE_URL           the gateway (default http://127.0.0.1:8080)
//   SHOP_USER_METRICS_URL   user-service's /metrics (default http://127.0.0.1:8001/metrics)
//   SHOP_ADMIN_EMAIL        an administrator (default admin@shop.local)
//   SHOP_ADMIN_PASSWORD     its password (default: target/xtask/local-admin-password,
//                           the one `cargo xtask up` generated)

import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';

import { ShopClient, type ShopClientOptions } from '../src/index.js';

export const BASE_URL = process.env.SHOP_BASE_URL ?? 'http://127.0.0.1:8080';
export const USER_METRICS_URL = process.env.SHOP_USER_METRICS_URL ?? 'http://127.0.0.1:8001/metrics';
export const PASSWORD = 'correct horse battery staple';

export function client(options: ShopClientOptions = {}): ShopClient {
  return new ShopClient({ baseUrl: BASE_URL, ...options });
}

/** A short unique word for names and e-mail addresses of this run. */
export function unique(prefix: string): string {
  return `${prefix}${randomUUID().replaceAll('-', '').slice(0, 12)}`;
}

/** A new customer, signed in. */
export async function customer(options: ShopClientOptions = {}): Promise<{ shop: ShopClient; email: string }> {
  const shop = client(options);
  const email = `${unique('sdk-')}@example.com`;
  await shop.auth.register({ email, password: PASSWORD, full_name: 'Ada Lovelace' });
  await shop.auth.login(email, PASSWORD);
  return { shop, email };
}

function adminPassword(): string {
  if (process.env.SHOP_ADMIN_PASSWORD) return process.env.SHOP_ADMIN_PASSWORD;
  const file = fileURLToPath(new URL('../../../target/xtask/local-admin-password', import.meta.url));
  return readFileSync(file, 'utf8').trim();
}

let adminClient: Promise<ShopClient> | undefined;

/** The administrator, signed in (once per test file). */
export function admin(): Promise<ShopClient> {
  adminClient ??= (async () => {
    const shop = client();
    await shop.auth.login(process.env.SHOP_ADMIN_EMAIL ?? 'admin@shop.local', adminPassword());
    return shop;
  })();
  return adminClient;
}

/** Creates a category and `count` products named `<word> <n>` with `stock` units each. */
export async function products(word: string, count: number, stock: number, price = 1999): Promise<string[]> {
  const shop = await admin();
  const category = await shop.api.POST('/api/v1/categories', {
    body: { name: `Test ${word}`, slug: word.toLowerCase(), description: 'SDK test category' },
  });
  if (!category.data) throw new Error(`creating a category: ${category.response.status} ${JSON.stringify(category.error)}`);
  const ids: string[] = [];
  for (let n = 1; n <= count; n++) {
    const created = await shop.api.POST('/api/v1/products', {
      body: {
        sku: `${word}-${n}`.toUpperCase(),
        name: `${word} ${n}`,
        description: `Test product ${n} of ${word}`,
        price_cents: price,
        currency: 'EUR',
        category_id: category.data.id,
        initial_stock: stock,
      },
    });
    if (!created.data) throw new Error(`creating a product: ${created.response.status} ${JSON.stringify(created.error)}`);
    ids.push(created.data.id);
  }
  return ids;
}

/** Sum of user-service's `http_requests_total` samples for `POST /api/v1/auth/refresh` (any status). */
export async function refreshRequestsSeenByUserService(): Promise<number> {
  const text = await (await fetch(USER_METRICS_URL)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('http_requests_total{')) continue;
    if (!line.includes('route="/api/v1/auth/refresh"') || !line.includes('method="POST"')) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/** Waits until the server refuses `accessToken` (its lifetime plus the verifiers' clock leeway). */
export async function waitUntilRejected(accessToken: string, timeoutMs = 120_000): Promise<number> {
  const began = Date.now();
  while (Date.now() - began < timeoutMs) {
    const response = await fetch(`${BASE_URL}/api/v1/users/me`, {
      headers: { Authorization: `Bearer ${accessToken}` },
    });
    await response.body?.cancel();
    if (response.status === 401) return Date.now() - began;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  throw new Error(`the access token was still accepted after ${timeoutMs} ms`);
}

/**
 * An address in a country the demo pricing (`order-service/seed/pricing.json`,
 * which the browser fleet loads) ships nowhere: checkout needs no shipping
 * method there, and shipping is free.
 */
export const address = {
  name: 'Ada Lovelace',
  line1: '12 Bahnhofstrasse',
  city: 'Zurich',
  postal_code: '8001',
  country: 'CH',
};

/** A fetch that records each request's method, path and headers, and the answer's status. */
export function recordingFetch(log: { method: string; path: string; headers: Headers; status: number }[]): typeof fetch {
  return async (input, init) => {
    const request = new Request(input, init);
    const headers = new Headers(request.headers);
    const response = await fetch(request);
    log.push({ method: request.method, path: new URL(request.url).pathname, headers, status: response.status });
    return response;
  };
}
