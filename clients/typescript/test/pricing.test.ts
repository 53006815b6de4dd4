import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ProblemError } from '../src/index.js';
import { address, admin, customer, products, unique } from './helpers.js';

const card = (token: string) => ({ method: 'card' as const, token });

// Iceland: no other test (nor the demo pricing) ships there, so the method
// created here changes no other checkout.
const COUNTRY = 'IS';
const iceland = { ...address, city: 'Reykjavik', postal_code: '101', country: COUNTRY };

/** A shipping method to Iceland, a 20% tax rate there and a fixed 5.00 EUR code, created as the administrator. */
async function pricing(): Promise<{ methodId: string; code: string }> {
  const shop = await admin();
  const method = await shop.api.POST('/api/v1/admin/shipping-methods', {
    body: { name: unique('Boat '), price_cents: 700, currency: 'EUR', min_days: 4, max_days: 9, countries: [COUNTRY] },
  });
  if (!method.data) throw new Error(`creating a shipping method: ${method.response.status} ${JSON.stringify(method.error)}`);
  const rate = await shop.api.PUT('/api/v1/admin/tax-rates/{country}', {
    params: { path: { country: COUNTRY } },
    body: { rate_bps: 2000 },
  });
  if (!rate.data) throw new Error(`setting a tax rate: ${rate.response.status} ${JSON.stringify(rate.error)}`);
  const code = unique('SDK');
  const discount = await shop.api.POST('/api/v1/admin/discount-codes', {
    body: { code, kind: 'fixed', value: 500, currency: 'EUR', once_per_customer: true, active: true },
  });
  if (!discount.data) throw new Error(`creating a code: ${discount.response.status} ${JSON.stringify(discount.error)}`);
  return { methodId: method.data.id, code };
}

test('shipping methods by country, a quoted cart, a discount code and a checkout that charges the quote', async () => {
  const { methodId, code } = await pricing();
  const [id] = await products(unique('Priced'), 1, 5);
  assert.ok(id);
  const { shop } = await customer();
  await shop.cart.add(id, 2);

  const methods = await shop.shipping.methods(COUNTRY);
  const method = methods.find((m) => m.id === methodId);
  assert.ok(method, 'the method ships to Iceland');
  assert.ok(methods.every((m) => m.countries.includes(COUNTRY)));
  assert.ok(!(await shop.shipping.methods('CH')).some((m) => m.id === methodId), 'and not to Switzerland');

  const unquoted = await shop.cart.get({ country: COUNTRY });
  assert.equal(unquoted.shipping_method_required, true);

  // An unknown code is a 422 naming the field; the cart keeps no code.
  await assert.rejects(shop.cart.applyDiscount(unique('NOPE')), (err: unknown) => {
    assert.ok(err instanceof ProblemError);
    assert.equal(err.status, 422);
    assert.deepEqual(
      err.errors.map((e) => e.field),
      ['code'],
    );
    return true;
  });
  assert.equal((await shop.cart.get()).discount ?? null, null);

  // Case-insensitive; taken off and put on again.
  const discounted = await shop.cart.applyDiscount(code.toLowerCase());
  assert.equal(discounted.discount?.code, code.toUpperCase());
  assert.equal(discounted.discount_cents, 500);
  const removed = await shop.cart.removeDiscount();
  assert.equal(removed.discount ?? null, null);
  assert.equal(removed.discount_cents, 0);
  await shop.cart.applyDiscount(code);

  const quote = await shop.cart.get({ country: COUNTRY, shipping_method_id: methodId });
  assert.equal(quote.subtotal_cents, 2 * 1999);
  assert.equal(quote.discount_cents, 500);
  assert.equal(quote.shipping_cents, 700);
  assert.equal(quote.tax_cents, Math.round((2 * 1999 - 500 + 700) * 0.2));
  assert.equal(quote.total_cents, 2 * 1999 - 500 + 700 + quote.tax_cents);

  // Where a method ships, checkout needs one.
  await assert.rejects(
    shop.orders.checkout({ shipping_address: iceland, payment: card('tok_visa') }),
    (err: unknown) => err instanceof ProblemError && err.status === 422,
  );
  const order = await shop.orders.checkout({
    shipping_address: iceland,
    shipping_method_id: methodId,
    payment: card('tok_visa'),
  });
  assert.equal(order.status, 'confirmed');
  assert.equal(order.total_cents, quote.total_cents, 'the charge is the quote');
  assert.equal(order.discount?.code, code.toUpperCase());
  assert.equal(order.shipping_method?.id, methodId);
});
