import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MemoryTokenStore, ProblemError, type SessionChange, WebStorageTokenStore } from '../src/index.js';
import {
  BASE_URL,
  PASSWORD,
  client,
  customer,
  recordingFetch,
  refreshRequestsSeenByUserService,
  unique,
  waitUntilRejected,
} from './helpers.js';

/** Seconds until the server stops accepting `accessToken` (its `exp` plus 30 s of leeway). */
function secondsLeft(accessToken: string): number {
  const payload = JSON.parse(Buffer.from(accessToken.split('.')[1] ?? '', 'base64url').toString()) as { exp: number };
  return payload.exp + 30 - Date.now() / 1000;
}

/** Skips (or, under CI's browser step, fails) a test that needs short-lived access tokens. */
function needsShortTokens(t: { skip: (message: string) => void }, accessToken: string): boolean {
  const left = secondsLeft(accessToken);
  if (left <= 100) return true;
  const message = `access tokens live ${Math.round(left)} s here: start the fleet with APP__JWT__ACCESS_TTL_SECS=1`;
  if (process.env.SHOP_REQUIRE_TOKEN_EXPIRY === '1') assert.fail(message);
  t.skip(message);
  return false;
}

test('register, login and read the profile; a wrong password is a 401 ProblemError', async () => {
  const { shop, email } = await customer();
  const me = await shop.account.me();
  assert.equal(me.email, email);
  assert.equal(me.full_name, 'Ada Lovelace');

  const other = client();
  await assert.rejects(other.auth.login(email, 'not the password at all'), (err: unknown) => {
    assert.ok(err instanceof ProblemError);
    assert.equal(err.status, 401);
    assert.ok(err.title.length > 0);
    assert.match(err.request_id ?? '', /^[A-Za-z0-9._-]{1,128}$/);
    return true;
  });
  assert.equal(await other.isSignedIn(), false);
});

test('a validation failure is a 422 ProblemError listing each bad field', async () => {
  const shop = client();
  await assert.rejects(
    shop.auth.register({ email: 'not-an-address', password: 'short', full_name: 'X' }),
    (err: unknown) => {
      assert.ok(err instanceof ProblemError);
      assert.equal(err.status, 422);
      const fields = err.errors.map((e) => e.field).sort();
      assert.ok(fields.includes('email'), `errors: ${JSON.stringify(err.errors)}`);
      assert.ok(fields.includes('password'), `errors: ${JSON.stringify(err.errors)}`);
      assert.ok(err.fieldError('password'));
      return true;
    },
  );
});

test('ten parallel calls that meet an expired token cause exactly one refresh at user-service', async (t) => {
  const log: Parameters<typeof recordingFetch>[0] = [];
  const changes: SessionChange[] = [];
  const store = new MemoryTokenStore();
  const { shop } = await customer({
    fetch: recordingFetch(log),
    tokens: store,
    onSessionChange: (change) => changes.push(change),
  });
  const stale = store.get();
  assert.ok(stale);
  if (!needsShortTokens(t, stale.access_token)) return;
  const waited = await waitUntilRejected(stale.access_token);
  log.length = 0;

  const before = await refreshRequestsSeenByUserService();
  const results = await Promise.all(
    Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? shop.account.me() : shop.cart.get())),
  );
  const after = await refreshRequestsSeenByUserService();

  assert.equal(results.length, 10);
  const rejected = log.filter((r) => r.status === 401 && r.path !== '/api/v1/auth/refresh').length;
  const refreshes = log.filter((r) => r.path === '/api/v1/auth/refresh');
  const retried = log.filter((r) => r.status === 200 && r.path !== '/api/v1/auth/refresh').length;
  t.diagnostic(`token refused by the server after waiting ${(waited / 1000).toFixed(1)} s`);
  t.diagnostic(`calls answered 401 with the expired token: ${rejected}`);
  t.diagnostic(`refresh requests sent by the SDK: ${refreshes.length}`);
  t.diagnostic(`refresh requests counted by user-service (/metrics): ${after - before}`);
  t.diagnostic(`calls retried with the new token and answered 200: ${retried}`);
  assert.equal(rejected, 10, 'every call met the expired token');
  assert.equal(refreshes.length, 1, 'the SDK sent one refresh');
  assert.equal(refreshes[0]?.status, 200);
  assert.equal(after - before, 1, 'user-service saw exactly one refresh request');
  assert.equal(retried, 10, 'every call succeeded after the refresh');
  assert.deepEqual(changes, ['signed-in', 'refreshed']);
  assert.notEqual(store.get()?.access_token, stale.access_token);
});

test('a session whose refresh token was revoked ends: 401, tokens forgotten, "expired" reported', async () => {
  const changes: SessionChange[] = [];
  const store = new MemoryTokenStore();
  const { shop } = await customer({ tokens: store, onSessionChange: (change) => changes.push(change) });
  const tokens = store.get();
  assert.ok(tokens);
  // Another device signs the same family out (logout revokes it) ...
  const response = await fetch(`${BASE_URL}/api/v1/auth/logout`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${tokens.access_token}` },
    body: JSON.stringify({ refresh_token: tokens.refresh_token }),
  });
  assert.equal(response.status, 204);
  // ... and this client's access token is refused (as once it has expired).
  store.set({ ...tokens, access_token: `${tokens.access_token}x` });
  await assert.rejects(shop.account.me(), (err: unknown) => err instanceof ProblemError && err.status === 401);
  assert.equal(store.get(), null);
  assert.deepEqual(changes, ['signed-in', 'expired']);
});

test('logout revokes the refresh token at the server and forgets the tokens', async () => {
  const store = new MemoryTokenStore();
  const { shop } = await customer({ tokens: store });
  const tokens = store.get();
  assert.ok(tokens);
  await shop.auth.logout();
  assert.equal(store.get(), null);
  const refresh = await fetch(`${BASE_URL}/api/v1/auth/refresh`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ refresh_token: tokens.refresh_token }),
  });
  assert.equal(refresh.status, 401);
  await assert.rejects(shop.account.me(), (err: unknown) => err instanceof ProblemError && err.status === 401);
});

test('clients sharing a Web Storage store share one session', async () => {
  const memory = new Map<string, string>();
  const storage = {
    getItem: (k: string) => memory.get(k) ?? null,
    setItem: (k: string, v: string) => void memory.set(k, v),
    removeItem: (k: string) => void memory.delete(k),
  };
  const tab1 = client({ tokens: new WebStorageTokenStore(storage) });
  const tab2 = client({ tokens: new WebStorageTokenStore(storage) });
  const email = `${unique('sdk-')}@example.com`;
  await tab1.auth.register({ email, password: PASSWORD, full_name: 'Grace Hopper' });
  await tab1.auth.login(email, PASSWORD);
  assert.equal((await tab2.account.me()).email, email);
  await tab2.auth.logout();
  assert.equal(await tab1.isSignedIn(), false);
  memory.set('shop.tokens', '{not json');
  assert.equal(await tab1.isSignedIn(), false);
});
