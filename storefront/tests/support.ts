// Shared helpers of the browser tests. The fleet is reached through the
// gateway (SHOP_BASE_URL); test data is made with the SDK, as an admin, in
// node; the shopper's side is driven in Chromium.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { type Page, expect } from '@playwright/test';
import { ShopClient } from '@shop/sdk';

export const BASE_URL = process.env.SHOP_BASE_URL ?? 'http://127.0.0.1:8080';
export const PASSWORD = 'correct horse battery staple';
const SCREENSHOTS =
  process.env.SCREENSHOT_DIR ?? fileURLToPath(new URL('../../target/storefront/screenshots/', import.meta.url));

/** A full-page screenshot, `target/storefront/screenshots/<name>.png`. */
export async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  // Let fonts, layout and pending requests settle.
  await page.waitForLoadState('networkidle');
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

export function unique(prefix: string): string {
  return `${prefix}${randomUUID().replaceAll('-', '').slice(0, 10)}`;
}

function adminPassword(): string {
  if (process.env.SHOP_ADMIN_PASSWORD) return process.env.SHOP_ADMIN_PASSWORD;
  return readFileSync(fileURLToPath(new URL('../../target/xtask/local-admin-password', import.meta.url)), 'utf8').trim();
}

let adminClient: Promise<ShopClient> | undefined;

/** The administrator, signed in through the SDK. */
export function admin(): Promise<ShopClient> {
  adminClient ??= (async () => {
    const shop = new ShopClient({ baseUrl: BASE_URL });
    await shop.auth.login(process.env.SHOP_ADMIN_EMAIL ?? 'admin@shop.local', adminPassword());
    return shop;
  })();
  return adminClient;
}

/** A new account (made through the API; the UI signs in with it). */
export async function newCustomer(name = 'Grace Hopper'): Promise<{ email: string; password: string; name: string }> {
  const email = `${unique('shopper-')}@example.com`;
  await new ShopClient({ baseUrl: BASE_URL }).auth.register({ email, password: PASSWORD, full_name: name });
  return { email, password: PASSWORD, name };
}

/** A product with `stock` units in a new category; its id and name. */
export async function newProduct(stock: number, price = 4990): Promise<{ id: string; name: string }> {
  const shop = await admin();
  const word = unique('Lamp');
  const category = await shop.api.POST('/api/v1/categories', {
    body: { name: `Limited ${word}`, slug: word.toLowerCase(), description: 'Browser test category' },
  });
  if (!category.data) throw new Error(`category: ${category.response.status}`);
  const name = `Limited Edition Lamp ${word.slice(-4).toUpperCase()}`;
  const product = await shop.api.POST('/api/v1/products', {
    body: {
      sku: word.toUpperCase(),
      name,
      description: 'A lamp made in a very small batch.',
      price_cents: price,
      currency: 'EUR',
      category_id: category.data.id,
      initial_stock: stock,
    },
  });
  if (!product.data) throw new Error(`product: ${product.response.status}`);
  return { id: product.data.id, name };
}

/** Changes a product's stock by `delta` (as the warehouse would). */
export async function adjustStock(id: string, delta: number): Promise<void> {
  const shop = await admin();
  const { response } = await shop.api.POST('/api/v1/products/{id}/inventory/adjustments', {
    params: { path: { id } },
    body: { delta, reason: 'browser test' },
  });
  if (!response.ok) throw new Error(`adjusting stock: ${response.status}`);
}

/** Signs in through the sign-in page. */
export async function signIn(page: Page, email: string, password: string): Promise<void> {
  await page.goto('/signin');
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page.getByRole('link', { name: 'Orders', exact: true })).toBeVisible();
}

/** The page's stored access token (the storefront keeps its session in localStorage). */
export async function accessToken(page: Page): Promise<string> {
  const stored = await page.evaluate(() => window.localStorage.getItem('shop.session'));
  if (!stored) throw new Error('no session stored');
  return (JSON.parse(stored) as { access_token: string }).access_token;
}

/** Waits until the fleet refuses `token` (its lifetime plus the verifiers' leeway). */
export async function waitUntilRejected(token: string, timeoutMs = 100_000): Promise<number> {
  const began = Date.now();
  while (Date.now() - began < timeoutMs) {
    const response = await fetch(`${BASE_URL}/api/v1/users/me`, { headers: { Authorization: `Bearer ${token}` } });
    await response.body?.cancel();
    if (response.status === 401) return Date.now() - began;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  throw new Error('the access token is still accepted: run the fleet with APP__JWT__ACCESS_TTL_SECS=1');
}

// ------------------------------------------------------------------- mail

function unfoldHeaders(head: string): Map<string, string> {
  const headers = new Map<string, string>();
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return headers;
}

function decodeQuotedPrintable(text: string): string {
  const bytes = text
    .replace(/=\r?\n/g, '')
    .replace(/=([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

/** The text parts of a raw MIME message, decoded. */
function textParts(raw: string): string[] {
  const split = raw.search(/\r?\n\r?\n/);
  const head = split < 0 ? raw : raw.slice(0, split);
  const body = split < 0 ? '' : raw.slice(split).replace(/^\r?\n\r?\n/, '');
  const headers = unfoldHeaders(head);
  const type = headers.get('content-type') ?? 'text/plain';
  const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
  if (type.toLowerCase().startsWith('multipart/') && boundary) {
    return body
      .split(`--${boundary}`)
      .slice(1)
      .filter((part) => !part.startsWith('--'))
      .flatMap((part) => textParts(part.replace(/^\r?\n/, '')));
  }
  const encoding = (headers.get('content-transfer-encoding') ?? '7bit').toLowerCase();
  if (encoding === 'base64') return [Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8')];
  if (encoding === 'quoted-printable') return [decodeQuotedPrintable(body)];
  return [body];
}

/** Waits for the password-reset mail to `email` (aiosmtpd's Maildir, SHOP_MAILDIR) and returns its link. */
export async function resetLinkMailedTo(email: string, timeoutMs = 30_000): Promise<string> {
  const maildir = process.env.SHOP_MAILDIR;
  if (!maildir) throw new Error('SHOP_MAILDIR is not set (cargo xtask browser sets it)');
  const began = Date.now();
  while (Date.now() - began < timeoutMs) {
    const dir = join(maildir, 'new');
    for (const file of existsSync(dir) ? readdirSync(dir) : []) {
      const raw = readFileSync(join(dir, file), 'utf8');
      if (!raw.includes(email)) continue;
      for (const text of textParts(raw)) {
        const link = /https?:\/\/[^\s"<>]+\/reset-password\?token=[^\s"<>]+/.exec(text)?.[0];
        if (link) return link;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`no password-reset mail with a link reached ${email}`);
}
