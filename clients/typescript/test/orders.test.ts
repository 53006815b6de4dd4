import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ProblemError } from '../src/index.js';
import { address, customer, products, recordingFetch, unique } from './helpers.js';

const card = (token: string) => ({ method: 'card' as const, token });

test('a checkout attempt sent twice is one order: the same Idempotency-Key, the first answer replayed', async () => {
  const [id] = await products(unique('Idem'), 1, 5);
  assert.ok(id);
  const log: Parameters<typeof recordingFetch>[0] = [];
  const { shop } = await customer({ fetch: recordingFetch(log) });
  await shop.cart.add(id, 2);

  const attempt = shop.orders.checkoutAttempt({ shipping_address: address, payment: card('tok_visa') });
  const first = await attempt.submit();
  const again = await attempt.submit();
  assert.equal(again.id, first.id);
  assert.equal(first.status, 'confirmed');
  const keys = log.filter((r) => r.path === '/api/v1/checkout').map((r) => r.headers.get('Idempotency-Key'));
  assert.deepEqual(keys, [attempt.key, attempt.key]);

  const orders = [];
  for await (const order of shop.orders.all()) orders.push(order);
  assert.deepEqual(
    orders.map((o) => o.id),
    [first.id],
  );
  // Another attempt has another key.
  assert.notEqual(shop.orders.checkoutAttempt({ shipping_address: address, payment: card('tok_visa') }).key, attempt.key);
});

test('a checkout whose answer is lost is retried with the same key and charged once', async () => {
  const [id] = await products(unique('Lost'), 1, 5);
  assert.ok(id);
  const keys: (string | null)[] = [];
  let dropped = false;
  const { shop } = await customer({
    // The first checkout reaches the server, then the connection "breaks".
    fetch: async (input, init) => {
      const request = new Request(input, init);
      const isCheckout = new URL(request.url).pathname === '/api/v1/checkout';
      if (isCheckout) keys.push(request.headers.get('Idempotency-Key'));
      const response = await fetch(request);
      if (isCheckout && !dropped) {
        dropped = true;
        await response.body?.cancel();
        throw new TypeError('fetch failed (connection reset)');
      }
      return response;
    },
  });
  await shop.cart.add(id, 1);
  const order = await shop.orders.checkout({ shipping_address: address, payment: card('tok_visa') });
  assert.equal(order.status, 'confirmed');
  assert.equal(keys.length, 2);
  assert.equal(keys[0], keys[1]);
  const page = await shop.orders.list();
  assert.equal(page.items.length, 1, 'one order, not two');
  const inventory = await shop.catalog.inventory(id);
  assert.equal(inventory.available, 4, 'stock taken once');
});

test('checkout failures are typed: 409 out of stock keeps the cart, 402 declined', async () => {
  const [scarce, plenty] = await products(unique('Short'), 2, 1);
  assert.ok(scarce && plenty);
  const { shop } = await customer();
  await shop.cart.add(scarce, 2);
  await assert.rejects(
    shop.orders.checkout({ shipping_address: address, payment: card('tok_visa') }),
    (err: unknown) => {
      assert.ok(err instanceof ProblemError);
      assert.equal(err.status, 409);
      assert.ok(JSON.stringify(err.body).includes(scarce), 'the short product is named');
      return true;
    },
  );
  const cart = await shop.cart.get();
  assert.deepEqual(
    cart.items.map((i) => [i.product_id, i.quantity]),
    [[scarce, 2]],
  );

  await shop.cart.setQuantity(scarce, 1);
  await assert.rejects(
    shop.orders.checkout({ shipping_address: address, payment: card('tok_declined') }),
    (err: unknown) => err instanceof ProblemError && err.status === 402,
  );
});

test('cancel a confirmed order once; a second cancellation is a 409', async () => {
  const [id] = await products(unique('Cancel'), 1, 3);
  assert.ok(id);
  const { shop } = await customer();
  await shop.cart.add(id, 1);
  const order = await shop.orders.checkout({ shipping_address: address, payment: card('tok_visa') });
  const attempt = shop.orders.cancelAttempt(order.id);
  const cancelled = await attempt.submit();
  assert.equal(cancelled.status, 'cancelled');
  assert.equal((await attempt.submit()).status, 'cancelled', 'the same attempt replays');
  await assert.rejects(shop.orders.cancel(order.id), (err: unknown) => err instanceof ProblemError && err.status === 409);
  assert.equal((await shop.orders.get(order.id)).status, 'cancelled');
});

test('profile, account preferences and notification preferences round-trip', async () => {
  const { shop } = await customer();
  const me = await shop.account.update({ full_name: 'Ada King' });
  assert.equal(me.full_name, 'Ada King');
  const preferences = await shop.account.preferences();
  const changed = await shop.account.setPreferences({ ...preferences, language: 'de-CH', timezone: 'Europe/Zurich' });
  assert.equal(changed.language, 'de-CH');
  const notifications = await shop.notifications.preferences();
  const updated = await shop.notifications.setPreferences({ ...notifications, marketing: !notifications.marketing });
  assert.equal(updated.marketing, !notifications.marketing);
  const history = await shop.notifications.history();
  assert.ok(Array.isArray(history.items));
});
