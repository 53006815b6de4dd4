import { expect, test } from '@playwright/test';

import { adjustStock, newCustomer, newProduct, shot, signIn } from './support';

async function fillAddress(page: import('@playwright/test').Page): Promise<void> {
  await page.getByLabel('Full name').fill('Dorothy Vaughan');
  await page.getByLabel('Address line 1').fill('3 Langley Road');
  await page.getByLabel('Postal code').fill('75001');
  await page.getByLabel('City').fill('Paris');
  await page.getByLabel('Country').selectOption('FR');
}

test('out of stock at checkout shows the message and leaves the cart intact; declined and outage are explained', async ({
  page,
}) => {
  const product = await newProduct(1);
  const shopper = await newCustomer('Dorothy Vaughan');
  await signIn(page, shopper.email, shopper.password);

  await page.goto(`/p/${product.id}`);
  await expect(page.getByText('Only 1 left')).toBeVisible();
  await page.getByRole('button', { name: 'Add to cart' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Added to your cart' })).toBeVisible();

  // Someone else buys the last one while the shopper fills in the form.
  await page.getByRole('link', { name: 'Cart', exact: true }).click();
  await page.getByRole('button', { name: 'Checkout' }).click();
  await fillAddress(page);
  await adjustStock(product.id, -1);
  await page.getByRole('button', { name: 'Place order' }).click();
  const alert = page.getByRole('alert');
  await expect(alert).toContainText('out of stock');
  await expect(alert).toContainText(product.name);
  await expect(alert).toContainText('Nothing was charged and your cart is unchanged');
  await shot(page, '14-checkout-out-of-stock');

  await page.getByRole('link', { name: 'Cart', exact: true }).click();
  await expect(page.getByLabel(`Quantity of ${product.name}`)).toHaveValue('1');

  // Back in stock: a declined card, then a payment-provider outage, each explained.
  await adjustStock(product.id, 5);
  await page.getByRole('button', { name: 'Checkout' }).click();
  await fillAddress(page);
  await page.getByLabel(/test card: declined/).check();
  await page.getByRole('button', { name: 'Place order' }).click();
  await expect(page.getByRole('alert')).toContainText('Your card was declined');
  await shot(page, '15-checkout-declined');

  await page.getByLabel(/payment provider outage/).check();
  await page.getByRole('button', { name: 'Place order' }).click();
  await expect(page.getByRole('alert')).toContainText('try again');
  await shot(page, '16-checkout-try-again');

  // The good card goes through: the cart was kept through every failure.
  await page.getByLabel(/test card: succeeds/).check();
  await page.getByRole('button', { name: 'Place order' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'confirmed' })).toBeVisible();
  await expect(page.getByRole('cell', { name: product.name })).toBeVisible();
});
