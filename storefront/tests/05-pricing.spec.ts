import { expect, test } from '@playwright/test';

import { newCustomer, newProduct, shot, signIn } from './support';

// The demo pricing (order-service/seed/pricing.json, seeded by `cargo xtask
// browser`): to DE, Standard 4.90 EUR (free from 50.00) and Express 14.90 EUR,
// 19% tax, and the once-per-customer code WELCOME10 (10% off).
test('checkout to Germany with the cheapest shipping method and WELCOME10 charges the discounted total; an unknown code is refused', async ({
  page,
}) => {
  const product = await newProduct(5, 2000);
  const shopper = await newCustomer('Katherine Johnson');
  await signIn(page, shopper.email, shopper.password);

  await page.goto(`/p/${product.id}`);
  await page.getByRole('button', { name: 'Add to cart' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Added to your cart' })).toBeVisible();
  await page.getByRole('link', { name: 'Cart', exact: true }).click();
  await page.getByRole('button', { name: 'Checkout' }).click();
  await expect(page.getByRole('heading', { name: 'Checkout' })).toBeVisible();
  await page.getByLabel('Full name').fill('Katherine Johnson');
  await page.getByLabel('Address line 1').fill('7 Unter den Linden');
  await page.getByLabel('Postal code').fill('10117');
  await page.getByLabel('City').fill('Berlin');

  // The Netherlands first: only Standard ships there; then Germany, where both do.
  const standard = page.getByRole('radio', { name: /Standard/ });
  const express = page.getByRole('radio', { name: /Express/ });
  await page.getByLabel('Country').selectOption('NL');
  await expect(standard).toBeChecked();
  await expect(express).toHaveCount(0);
  await page.getByLabel('Country').selectOption('DE');
  await expect(express).toBeVisible();
  // The cheapest is preselected; the quote prices it: 20.00 + 4.90 + 19% of 24.90.
  await expect(standard).toBeChecked();
  const summary = page.getByRole('complementary', { name: 'Order summary' });
  await expect(summary).toContainText('Shipping (Standard)€4.90');
  await expect(summary).toContainText('Tax€4.73');
  await expect(summary).toContainText('Total€29.63');
  // Express is priced too, and back.
  await express.check();
  await expect(summary).toContainText('Shipping (Express)€14.90');
  await expect(summary).toContainText('Total€41.53');
  await standard.check();
  await expect(summary).toContainText('Total€29.63');

  // An unknown code: the problem's reason, and no discount.
  const code = page.getByRole('textbox', { name: 'Discount code' });
  await code.fill('NOSUCHCODE');
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect(summary.getByRole('alert')).toHaveText('This code is not a valid discount code.');
  await expect(summary).toContainText('Total€29.63');
  await shot(page, '19-checkout-unknown-code');

  // WELCOME10 (case-insensitive): 10% off the subtotal, tax on the rest.
  await code.fill('welcome10');
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect(summary).toContainText('Code WELCOME10 applied.');
  await expect(summary.getByRole('alert')).toHaveCount(0);
  await expect(summary).toContainText('Discount (WELCOME10)−€2.00');
  await expect(summary).toContainText('Tax€4.35');
  await expect(summary).toContainText('Total€27.25');
  await page.getByLabel(/test card: succeeds/).check();
  await shot(page, '20-checkout-discounted');

  await page.getByRole('button', { name: 'Place order' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'confirmed' })).toBeVisible();
  const totals = page.locator('.totals');
  await expect(totals).toContainText('Discount (WELCOME10)−€2.00');
  await expect(totals).toContainText('Shipping (Standard)€4.90');
  await expect(totals).toContainText('Total€27.25');
  await shot(page, '21-order-discounted');
});
