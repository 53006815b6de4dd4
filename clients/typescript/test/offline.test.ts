// Tests of the SDK's own logic against an in-process fake of the API (no
// fleet needed): the same behaviour the fleet tests check end to end.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MemoryTokenStore, ProblemError, type SessionChange, ShopClient } from '../src/index.js';

/** A fake API: tokens `access-N` / `refresh-N`; only the newest pair is valid. */
function fakeApi(options: { refreshDelayMs?: number; refreshStatus?: number } = {}) {
  let generation = 1;
  const calls = { refresh: 0, me: 0, unauthorized: 0 };
  const json = (status: number, body: unknown) =>
    new Response(JSON.stringify(body), {
      status,
      headers: { 'Content-Type': status >= 400 ? 'application/problem+json' : 'application/json' },
    });
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const request = new Request(input, init);
    const path = new URL(request.url).pathname;
    if (path === '/api/v1/auth/refresh') {
      calls.refresh++;
      const { refresh_token } = (await request.json()) as { refresh_token: string };
      await new Promise((resolve) => setTimeout(resolve, options.refreshDelayMs ?? 20));
      if (options.refreshStatus === 401 || refresh_token !== `refresh-${generation}`) {
        return json(401, { type: 'about:blank', title: 'Unauthorized', status: 401, detail: 'revoked', request_id: 'r-1' });
      }
      generation++;
      return json(200, {
        access_token: `access-${generation}`,
        refresh_token: `refresh-${generation}`,
        token_type: 'Bearer',
        expires_in: 900,
      });
    }
    if (request.headers.get('Authorization') !== `Bearer access-${generation}`) {
      calls.unauthorized++;
      return json(401, { type: 'about:blank', title: 'Unauthorized', status: 401, detail: 'expired', request_id: 'r-2' });
    }
    calls.me++;
    return json(200, { id: 'u', email: 'a@example.com', full_name: 'A', roles: [], created_at: '', updated_at: '' });
  };
  return { fetch, calls, expire: () => generation++ };
}

test('offline: ten parallel calls that meet an expired token share one refresh', async () => {
  const api = fakeApi();
  const store = new MemoryTokenStore({ access_token: 'access-1', refresh_token: 'refresh-1' });
  const shop = new ShopClient({ baseUrl: 'http://shop.test', fetch: api.fetch, tokens: store });
  // Expire the access token without rotating the refresh token.
  store.set({ access_token: 'access-0', refresh_token: 'refresh-1' });
  const results = await Promise.all(Array.from({ length: 10 }, () => shop.account.me()));
  assert.equal(results.length, 10);
  assert.equal(api.calls.unauthorized, 10, 'every call met the expired token');
  assert.equal(api.calls.refresh, 1, 'one refresh for ten calls');
  assert.equal(api.calls.me, 10, 'every call succeeded after it');
  assert.equal(store.get()?.access_token, 'access-2');
});

test('offline: a call that meets an old token after the refresh reuses the new tokens', async () => {
  const api = fakeApi();
  const store = new MemoryTokenStore({ access_token: 'access-0', refresh_token: 'refresh-1' });
  const shop = new ShopClient({ baseUrl: 'http://shop.test', fetch: api.fetch, tokens: store });
  await shop.account.me();
  assert.equal(api.calls.refresh, 1);
  // A late 401 for the token that was already replaced: no second refresh.
  await shop.account.me();
  assert.equal(api.calls.refresh, 1);
});

test('offline: a refused refresh ends the session once, with one "expired"', async () => {
  const api = fakeApi({ refreshStatus: 401 });
  const changes: SessionChange[] = [];
  const store = new MemoryTokenStore({ access_token: 'access-0', refresh_token: 'refresh-1' });
  const shop = new ShopClient({
    baseUrl: 'http://shop.test',
    fetch: api.fetch,
    tokens: store,
    onSessionChange: (change) => changes.push(change),
  });
  const results = await Promise.allSettled(Array.from({ length: 5 }, () => shop.account.me()));
  for (const result of results) {
    assert.equal(result.status, 'rejected');
    assert.ok(result.reason instanceof ProblemError && result.reason.status === 401);
  }
  assert.equal(api.calls.refresh, 1);
  assert.equal(store.get(), null);
  assert.deepEqual(changes, ['expired']);
});
