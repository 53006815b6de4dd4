import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ProblemError, paginate } from '../src/index.js';
import { admin, client, products, recordingFetch, unique } from './helpers.js';

test('product reads are revalidated with If-None-Match: 304 returns the kept copy, a change is seen', async () => {
  const [id] = await products(unique('Etag'), 1, 3);
  assert.ok(id);
  const log: Parameters<typeof recordingFetch>[0] = [];
  const shop = client({ fetch: recordingFetch(log) });

  const first = await shop.catalog.product(id);
  const second = await shop.catalog.product(id);
  assert.deepEqual(second, first);
  assert.equal(log[0]?.headers.get('If-None-Match'), null);
  assert.equal(log[0]?.status, 200);
  assert.ok(log[1]?.headers.get('If-None-Match'), 'the second read revalidates');
  assert.equal(log[1]?.status, 304);

  const owner = await admin();
  const patched = await owner.api.PATCH('/api/v1/products/{id}', {
    params: { path: { id } },
    body: { name: `${first.name} (new)` },
  });
  assert.equal(patched.response.status, 200);
  const third = await shop.catalog.product(id);
  assert.equal(log[2]?.status, 200);
  assert.equal(third.name, `${first.name} (new)`);
});

test('cursor pagination as an async iterator walks every page once', async () => {
  const word = unique('Page');
  const ids = await products(word, 5, 1);
  const log: Parameters<typeof recordingFetch>[0] = [];
  const shop = client({ fetch: recordingFetch(log) });

  const seen: string[] = [];
  for await (const product of shop.catalog.allProducts({ q: word, limit: 2 })) seen.push(product.id);
  assert.deepEqual([...seen].sort(), [...ids].sort());
  assert.equal(log.filter((r) => r.path === '/api/v1/products').length, 3, 'pages of 2, 2 and 1');

  // Breaking out of the loop stops fetching pages.
  log.length = 0;
  for await (const product of shop.catalog.allProducts({ q: word, limit: 2 })) {
    assert.ok(product.id);
    break;
  }
  assert.equal(log.length, 1);
});

test('paginate refuses a cursor that comes back (no endless loop)', async () => {
  const pages = paginate(async () => ({ items: [1], next_cursor: 'same' }));
  await assert.rejects(async () => {
    for await (const item of pages) assert.equal(item, 1);
  }, /cursor repeated/);
});

test('typo-tolerant search, categories and availability', async () => {
  const word = unique('Lantern');
  const [id] = await products(word, 1, 4);
  assert.ok(id);
  const shop = client();
  const categories = await shop.catalog.categories();
  assert.ok(categories.some((c) => c.slug === word.toLowerCase()));
  const inventory = await shop.catalog.inventory(id);
  assert.equal(inventory.available, 4);
  const found = await shop.catalog.products({ q: `${word} 1` });
  assert.ok(found.items.some((p) => p.id === id));
});

test('errors of catalog calls are ProblemErrors: 404 and 422', async () => {
  const shop = client();
  await assert.rejects(shop.catalog.product('00000000-0000-4000-8000-000000000000'), (err: unknown) => {
    assert.ok(err instanceof ProblemError);
    assert.equal(err.status, 404);
    return true;
  });
  await assert.rejects(shop.catalog.products({ limit: 1000 }), (err: unknown) => {
    assert.ok(err instanceof ProblemError);
    assert.equal(err.status, 422);
    assert.ok(err.errors.some((e) => e.field === 'limit'), JSON.stringify(err.errors));
    return true;
  });
});
