import { expect, test } from '@playwright/test';

import { PASSWORD, shot, signIn, unique } from './support';

test("a shopper's whole journey: sign up, search with a typo, buy, see the order, cancel it, sign out", async ({
  page,
}) => {
  const email = `${unique('journey-')}@example.com`;
  page.on('dialog', (dialog) => void dialog.accept());

  // The shop's front page: categories and the first page of products.
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'All products' })).toBeVisible();
  await expect(page.getByRole('complementary', { name: 'Categories' }).getByRole('link', { name: 'Audio' })).toBeVisible();
  await expect(page.getByRole('list', { name: 'Products' }).getByRole('listitem')).toHaveCount(12);
  await shot(page, '01-home');

  // A category, paginated: "More products" follows the cursor.
  await page.getByRole('link', { name: 'Electronics' }).click();
  await expect(page.getByRole('heading', { name: 'Electronics' })).toBeVisible();
  await expect(page.getByRole('list', { name: 'Products' }).getByRole('listitem')).toHaveCount(12);
  await page.getByRole('button', { name: 'More products' }).click();
  await expect
    .poll(() => page.getByRole('list', { name: 'Products' }).getByRole('listitem').count())
    .toBeGreaterThan(12);
  await shot(page, '02-category');

  // Sign up (and be signed in straight away).
  await page.getByRole('link', { name: 'Sign up', exact: true }).click();
  await page.getByLabel('Full name').fill('Ada Lovelace');
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await shot(page, '03-sign-up');
  await page.getByRole('button', { name: 'Sign up', exact: true }).click();
  await expect(page.getByRole('link', { name: 'Orders', exact: true })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Sign out' })).toBeVisible();

  // Search with a typo: "hedphones" finds the headphones.
  const search = page.getByRole('searchbox', { name: 'Search', exact: true });
  await search.fill('hedphones');
  await search.press('Enter');
  await expect(page.getByRole('heading', { name: /Results for .hedphones./ })).toBeVisible();
  const result = page.getByRole('link', { name: 'Wireless Noise-Cancelling Headphones' });
  await expect(result).toBeVisible();
  await shot(page, '04-search-typo');

  // The product page, with its availability.
  await result.click();
  await expect(page.getByRole('heading', { name: 'Wireless Noise-Cancelling Headphones' })).toBeVisible();
  await expect(page.getByText(/\d+ available/)).toBeVisible();
  await expect(page.getByText(/In stock|Only \d+ left/)).toBeVisible();
  await page.getByLabel('Quantity').selectOption('2');
  await page.getByRole('button', { name: 'Add to cart' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Added to your cart (2 in cart)' })).toBeVisible();
  await expect(page.getByLabel('2 items in cart')).toBeVisible();
  await shot(page, '05-product');

  // The cart: change the quantity, the totals follow.
  await page.getByRole('link', { name: 'Cart', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'Your cart' })).toBeVisible();
  const quantity = page.getByLabel('Quantity of Wireless Noise-Cancelling Headphones');
  await expect(quantity).toHaveValue('2');
  const subtotalForTwo = await page.getByTestId('subtotal').textContent();
  await quantity.fill('3');
  await quantity.press('Tab');
  await expect(page.getByTestId('subtotal')).not.toHaveText(subtotalForTwo ?? '');
  await expect(page.getByLabel('3 items in cart')).toBeVisible();
  await shot(page, '06-cart');

  // Checkout: shipping address and the test card that succeeds.
  await page.getByRole('button', { name: 'Checkout' }).click();
  await expect(page.getByRole('heading', { name: 'Checkout' })).toBeVisible();
  await page.getByLabel('Full name').fill('Ada Lovelace');
  await page.getByLabel('Address line 1').fill('12 Analytical Street');
  await page.getByLabel('Postal code').fill('10115');
  await page.getByLabel('City').fill('Berlin');
  await page.getByLabel('Country').selectOption('DE');
  await page.getByLabel(/test card: succeeds/).check();
  await shot(page, '07-checkout');
  await page.getByRole('button', { name: 'Place order' }).click();

  // The confirmation shows the order id and says "confirmed".
  const orderId = await page.getByTestId('order-id').textContent();
  expect(orderId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  await expect(page.getByRole('status').filter({ hasText: 'confirmed' })).toContainText(orderId ?? '');
  await expect(page.getByLabel(/items in cart/)).toHaveCount(0);
  await shot(page, '08-order-confirmed');

  // Order history lists it.
  await page.getByRole('link', { name: 'Orders', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'Your orders' })).toBeVisible();
  const row = page.getByRole('link', { name: `Order ${orderId}` });
  await expect(row).toBeVisible();
  await expect(page.getByRole('row').filter({ has: row })).toContainText('confirmed');
  await shot(page, '09-orders');

  // Cancel it from its page.
  await row.click();
  await expect(page.getByRole('heading', { name: `Order ${orderId}` })).toBeVisible();
  await page.getByRole('button', { name: 'Cancel order' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'cancelled and refunded' })).toBeVisible();
  await expect(page.getByText('cancelled', { exact: true })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Cancel order' })).toHaveCount(0);
  await shot(page, '10-order-cancelled');

  // Sign out; signing in again shows the same history.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByRole('link', { name: 'Sign in', exact: true })).toBeVisible();
  await expect(page.getByRole('link', { name: 'Orders', exact: true })).toHaveCount(0);
  await page.getByRole('link', { name: 'Sign in', exact: true }).click();
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await shot(page, '11-sign-in');
  await signIn(page, email, PASSWORD);
  await page.getByRole('link', { name: 'Orders', exact: true }).click();
  await expect(page.getByRole('link', { name: `Order ${orderId}` })).toBeVisible();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByRole('link', { name: 'Sign in', exact: true })).toBeVisible();
});

test('an unknown page and an unknown API path', async ({ page, request }) => {
  await page.goto('/no/such/page');
  await expect(page.getByRole('heading', { name: 'Page not found' })).toBeVisible();
  await shot(page, '12-not-found');
  const api = await request.get('/api/v1/no-such-thing');
  expect(api.status()).toBe(404);
  expect(api.headers()['content-type']).toContain('application/problem+json');
});
